"""Import generator checkpoints of the reference CycleGAN code (junyanz/pytorch-CycleGAN-and-pix2pix).

The reference ``ResnetGenerator`` is one ``nn.Sequential`` called ``model``::

    0 ReflectionPad2d(3)  1 Conv2d 7×7  2 Norm  3 ReLU                  stem
    4 Conv2d 3×3 /2       5 Norm        6 ReLU   (× num_downsamples)    downsampling
    B ResnetBlock.conv_block = [pad, conv, norm, ReLU, (dropout), pad, conv, norm]  (× num_res_blocks)
    U ConvTranspose2d ×2  U+1 Norm      U+2 ReLU (× num_downsamples)    upsampling
    H-1 ReflectionPad2d(3)  H Conv2d 7×7  H+1 Tanh                      head

so its state dict has keys such as ``model.1.weight``, ``model.10.conv_block.5.weight`` and
``model.26.bias``. The architecture (width, block count, norm, dropout) is read back from which keys exist
and from the tensors' shapes, then the tensors are renamed onto :class:`ResnetGenerator`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from ...config import to_dict
from ...errors import AgeshiftError, ModelLoadError
from .config import GeneratorConfig, cyclegan_config
from .networks import ResnetGenerator

#: prefixes that wrappers add in front of every key (DataParallel, torch.compile).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
REFERENCE_DROPOUT = 0.5
REFERENCE_PROJECT = "junyanz/pytorch-CycleGAN-and-pix2pix"
_TOP_LEVEL_KEY = re.compile(r"^model\.(\d+)\.(\w+)$")
_BLOCK_KEY = re.compile(r"^model\.(\d+)\.(\w+)\.(\d+)\.(\w+)$")
_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class ReferenceLayout:
    """Where each layer of a reference generator sits in ``model.*`` and what it is made of."""

    config: GeneratorConfig
    stem_index: int
    down_indices: tuple[int, ...]
    block_indices: tuple[int, ...]
    block_attribute: str
    up_indices: tuple[int, ...]
    head_index: int


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a reference generator checkpoint into a plain state dict with wrapper prefixes removed.

    Args:
        path: a ``.pth`` file holding the generator's state dict, or a dict that wraps exactly one.

    Returns:
        ``{"model.1.weight": tensor, ...}`` on the CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(
            f"{path}: checkpoint file does not exist" if not path.exists() else f"{path}: is not a file"
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors of many kinds here
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if reason.startswith("Weights only load failed"):
            # torch's first line is advice about weights_only=False, which we never take for foreign files.
            reason = "corrupt, not a PyTorch file, or it holds objects other than tensors"
        raise ModelLoadError(f"{path}: cannot read as a PyTorch checkpoint ({reason})") from None
    return _strip_wrappers(_find_state_dict(loaded, path))


def _is_tensor_dict(value: Any) -> bool:
    return (
        isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())
    )


def _looks_like_generator(state: dict[str, torch.Tensor]) -> bool:
    return any(key.endswith("model.1.weight") for key in state)


def _find_state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    """The generator state dict itself, or the one nested dict value that looks like it."""
    if _is_tensor_dict(loaded):
        return loaded
    if not isinstance(loaded, dict):
        raise ModelLoadError(f"{path}: holds a {type(loaded).__name__}, expected a generator state dict")
    candidates = {
        str(key): value
        for key, value in loaded.items()
        if _is_tensor_dict(value) and _looks_like_generator(value)
    }
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if len(candidates) > 1:
        raise ModelLoadError(
            f"{path}: holds several generators ({', '.join(sorted(candidates))}); "
            "save each one to its own file and pass them as G_A and G_B"
        )
    raise ModelLoadError(
        f"{path}: no generator state dict found (top-level keys: {', '.join(map(str, list(loaded)[:8]))})"
    )


def _strip_wrappers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    stripped = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        stripped[key] = value
    return stripped


def _group_keys(
    state: dict[str, torch.Tensor], source: str
) -> tuple[dict[int, dict[str, torch.Tensor]], dict[int, tuple[str, dict[int, dict[str, torch.Tensor]]]]]:
    """Split keys into top-level layers ``{index: {param: tensor}}`` and residual blocks."""
    layers: dict[int, dict[str, torch.Tensor]] = {}
    blocks: dict[int, tuple[str, dict[int, dict[str, torch.Tensor]]]] = {}
    unknown = []
    for key, tensor in state.items():
        if match := _TOP_LEVEL_KEY.match(key):
            layers.setdefault(int(match[1]), {})[match[2]] = tensor
        elif match := _BLOCK_KEY.match(key):
            attribute, inner = blocks.setdefault(int(match[1]), (match[2], {}))
            if attribute != match[2]:
                unknown.append(key)
                continue
            inner.setdefault(int(match[3]), {})[match[4]] = tensor
        else:
            unknown.append(key)
    if unknown or 1 not in layers:
        found = ", ".join(unknown[:4]) if unknown else "no 'model.1.weight' (the 7×7 stem convolution)"
        raise ModelLoadError(
            f"{source}: not a {REFERENCE_PROJECT} ResnetGenerator state dict (unexpected keys: {found})"
        )
    return layers, blocks


def _is_conv(layer: dict[str, torch.Tensor]) -> bool:
    return "weight" in layer and layer["weight"].ndim == 4


NormKind = Literal["instance", "batch", "none"]


def _norm_kind(
    stem_conv: dict[str, torch.Tensor], stem_norm: dict[str, torch.Tensor]
) -> tuple[NormKind, bool]:
    """Reference rules: instance norm keeps the conv bias; batch norm and no norm drop it."""
    if "weight" in stem_norm and "running_mean" in stem_norm:
        return "batch", False
    if "weight" in stem_norm:
        return "instance", True
    return ("instance" if "bias" in stem_conv else "none"), False


def infer_layout(state: dict[str, torch.Tensor], source: str = "checkpoint") -> ReferenceLayout:
    """Work out a reference generator's architecture from its keys and tensor shapes.

    Args:
        state: the state dict (wrapper prefixes already removed).
        source: how to name it in error messages (usually the file path).

    Returns:
        The :class:`ReferenceLayout`, whose ``config`` rebuilds the same network as :class:`ResnetGenerator`.
    """
    layers, blocks = _group_keys(state, source)
    if not blocks:
        raise ModelLoadError(f"{source}: no residual blocks found (keys like model.10.conv_block.1.weight)")
    block_indices = tuple(sorted(blocks))
    if block_indices != tuple(range(block_indices[0], block_indices[0] + len(block_indices))):
        raise ModelLoadError(f"{source}: residual blocks are not consecutive layers ({block_indices})")
    convs = sorted(index for index, layer in layers.items() if _is_conv(layer))
    before = [i for i in convs if i < block_indices[0]]
    after = [i for i in convs if i > block_indices[-1]]
    num_downsamples = len(before) - 1
    if num_downsamples < 0 or len(after) != num_downsamples + 1:
        raise ModelLoadError(
            f"{source}: expected as many upsampling as downsampling layers plus a head convolution, found "
            f"{len(before)} convolutions before the residual blocks and {len(after)} after"
        )
    stem, downs, ups, head = before[0], tuple(before[1:]), tuple(after[:-1]), after[-1]
    expected_downs = tuple(4 + 3 * i for i in range(num_downsamples))
    blocks_start = 4 + 3 * num_downsamples
    expected_ups = tuple(blocks_start + len(block_indices) + 3 * i for i in range(num_downsamples))
    if (stem, downs, block_indices[0], ups, head) != (
        1, expected_downs, blocks_start, expected_ups, blocks_start + len(block_indices) + 3 * num_downsamples + 1
    ):  # fmt: skip
        raise ModelLoadError(
            f"{source}: layer positions do not follow the reference layout (convolutions at {convs}, "
            f"residual blocks at {block_indices[0]}..{block_indices[-1]})"
        )
    stem_weight, head_weight = layers[stem]["weight"], layers[head]["weight"]
    if stem_weight.shape[1] != 3 or head_weight.shape[0] != 3:
        raise ModelLoadError(
            f"{source}: ageshift translates RGB images, but this generator maps {stem_weight.shape[1]} "
            f"to {head_weight.shape[0]} channels"
        )
    attribute, first_block = blocks[block_indices[0]]
    inner_convs = sorted(i for i, layer in first_block.items() if _is_conv(layer))
    if inner_convs not in ([1, 5], [1, 6]):
        raise ModelLoadError(
            f"{source}: residual block convolutions at {attribute}.{inner_convs}; only reflection-padded "
            "blocks ([1, 5], or [1, 6] with dropout) are supported"
        )
    norm, affine = _norm_kind(layers[stem], layers.get(stem + 1, {}))
    config = GeneratorConfig(
        channels=int(stem_weight.shape[0]),
        num_res_blocks=len(block_indices),
        num_downsamples=num_downsamples,
        norm=norm,
        padding="reflect",
        dropout=REFERENCE_DROPOUT if inner_convs == [1, 6] else 0.0,
        norm_affine=affine,
        upsample="transpose",
    )
    return ReferenceLayout(config, stem, downs, block_indices, attribute, ups, head)


def _renames(layout: ReferenceLayout) -> dict[str, str]:
    """Reference layer prefix → our module prefix, for every layer that may hold tensors."""
    names = {f"model.{layout.stem_index}.": "stem.1.", f"model.{layout.stem_index + 1}.": "stem.2."}
    for group, indices in (("down", layout.down_indices), ("up", layout.up_indices)):
        for position, index in enumerate(indices):
            names[f"model.{index}."] = f"{group}.{position}.0."
            names[f"model.{index + 1}."] = f"{group}.{position}.1."
    for position, index in enumerate(layout.block_indices):
        names[f"model.{index}.{layout.block_attribute}."] = f"blocks.{position}.body."
    names[f"model.{layout.head_index}."] = "head.1."
    return names


def convert_state_dict(
    state: dict[str, torch.Tensor], layout: ReferenceLayout, source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Rename a reference state dict onto :class:`ResnetGenerator` keys, dropping stale instance-norm stats.

    Args:
        state: the reference state dict.
        layout: its layout from :func:`infer_layout`.
        source: how to name it in error messages.

    Returns:
        A state dict that ``ResnetGenerator(layout.config).load_state_dict(..., strict=True)`` accepts.
    """
    renames = _renames(layout)
    converted = {}
    for key, tensor in state.items():
        if layout.config.norm == "instance" and key.rpartition(".")[2] in _RUNNING_STATS:
            continue  # PyTorch < 0.4 saved running stats on InstanceNorm; the reference drops them too
        prefix = max((p for p in renames if key.startswith(p)), key=len, default="")
        converted[renames[prefix] + key[len(prefix) :] if prefix else key] = tensor
    with torch.device("meta"):  # only names and shapes are needed: allocate nothing
        expected = ResnetGenerator(layout.config).state_dict()
    for key, value in expected.items():
        if key in converted:
            continue
        if key.endswith("num_batches_tracked") or (layout.config.norm == "none" and key.endswith(".bias")):
            # Old batch-norm files lack the counter; bias-free reference convs equal a zero bias.
            converted[key] = torch.zeros(value.shape, dtype=value.dtype)
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    if missing or unexpected:
        raise ModelLoadError(
            f"{source}: does not match a reference ResnetGenerator "
            f"(missing: {', '.join(missing[:4]) or 'none'}; unexpected: {', '.join(unexpected[:4]) or 'none'})"
        )
    return converted


def load_reference_generator(path: str | Path) -> ResnetGenerator:
    """Build a :class:`ResnetGenerator` holding the weights of a reference ``latest_net_G_*.pth`` file.

    Args:
        path: the checkpoint.

    Returns:
        The generator in eval mode; ``generator.config`` is the inferred architecture.
    """
    state = read_checkpoint(path)
    layout = infer_layout(state, str(path))
    generator = ResnetGenerator(layout.config)
    try:
        generator.load_state_dict(convert_state_dict(state, layout, str(path)), strict=True)
    except RuntimeError as error:
        detail = str(error).strip().splitlines()[-1].strip()
        raise ModelLoadError(
            f"{path}: tensor shapes do not fit a reference ResnetGenerator ({detail})"
        ) from None
    return generator.eval()


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_cyclegan(
    older: str | Path,
    younger: str | Path | None,
    out: str | Path,
    image_size: int = 256,
    name: str | None = None,
) -> Path:
    """Turn reference CycleGAN generator checkpoints into an ageshift model folder.

    Args:
        older: ``G_A`` (A→B, young→old) checkpoint; it becomes the ``older`` direction.
        younger: ``G_B`` (B→A) checkpoint for the ``younger`` direction, or ``None`` for a one-way model.
        out: model folder to write (``config.json`` + ``model.safetensors``).
        image_size: the side the generators were trained at (inputs are resized to it).
        name: a name recorded in the metadata (default: the folder's name).

    Returns:
        The model folder.
    """
    from ..translator import TwoDomainTranslator

    files = {"older": Path(older)} | ({"younger": Path(younger)} if younger is not None else {})
    generators = {direction: load_reference_generator(path) for direction, path in files.items()}
    configs = {direction: to_dict(generator.config) for direction, generator in generators.items()}
    if len({repr(sorted(config.items())) for config in configs.values()}) > 1:
        raise ModelLoadError(
            f"{files['older']} and {files['younger']} have different architectures "
            f"({configs['older']} vs {configs['younger']}); import them as two models"
        )
    model_config = cyclegan_config("paper", {"generator": configs["older"], "image_size": image_size})
    out = Path(out)
    metadata = {
        "name": name or out.name,
        "imported_from": {
            "project": REFERENCE_PROJECT,
            "files": {
                direction: {"path": str(path.resolve()), "sha256": file_sha256(path)}
                for direction, path in files.items()
            },
        },
    }
    translator = TwoDomainTranslator(generators, "cyclegan", to_dict(model_config), image_size, metadata)
    try:
        return translator.save_pretrained(out)
    except AgeshiftError:
        raise
    except OSError as error:
        raise ModelLoadError(f"{out}: cannot write the model folder ({error})") from None
