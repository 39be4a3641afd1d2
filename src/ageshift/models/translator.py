"""The inference object every model family exports: ``Translator``, saved as ``config.json`` + ``model.safetensors``.

``ageshift.load(path)`` returns one; ``translate(images, direction="older"|"younger")`` runs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from ..errors import AgeshiftError, DataError, ImageLoadError, ModelLoadError
from ..image import check_batch, pil_to_tensor, resize, tensor_to_pil
from ..io import IMAGE_SUFFIXES, atomic_write, list_images, load_image, save_image

FORMAT_NAME = "ageshift-translator"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DIRECTIONS = ("older", "younger")

ImagesLike = torch.Tensor | Image.Image | Sequence[Image.Image]


def _generator_builders() -> dict[str, Callable[[dict[str, Any]], dict[str, nn.Module]]]:
    from .cyclegan.model import build_generators as cyclegan_generators

    return {"cyclegan": cyclegan_generators}


class Translator:
    """A trained translator: one generator per direction plus the metadata it was trained with.

    Args:
        generators: ``{"older": module, "younger": module}`` (at least one direction).
        family: model family name (``"cyclegan"``).
        model_config: the family's config as a plain dict (enough to rebuild the networks).
        image_size: the side the model was trained at; inputs of another size are resized to it and back.
        metadata: free-form JSON-able facts: domains, crop/alignment settings, training summary.
        fast_inference: on the CPU, switch to a frozen TorchScript trace of a generator once it has run
            ``FAST_INFERENCE_AFTER_IMAGES`` images (same outputs, ~10% faster per image; building it
            costs ~0.5 s, so short jobs skip it; see benchmarks/bench_inference.py). Rebuilt whenever the
            weights change.
    """

    def __init__(
        self,
        generators: dict[str, nn.Module],
        family: str,
        model_config: dict[str, Any],
        image_size: int,
        metadata: dict[str, Any] | None = None,
        fast_inference: bool = True,
    ) -> None:
        unknown = set(generators) - set(DIRECTIONS)
        if unknown or not generators:
            raise AgeshiftError(f"generators must be keyed by {DIRECTIONS}, got {sorted(generators)}")
        self.generators = {name: module.eval() for name, module in generators.items()}
        self.family = family
        self.model_config = model_config
        self.image_size = image_size
        self.metadata = dict(metadata or {})
        self.device = next(iter(self.generators.values())).parameters().__next__().device
        self.fast_inference = fast_inference
        self._frozen: dict[str, tuple[tuple, Callable[[torch.Tensor], torch.Tensor]]] = {}
        self._images_run: dict[str, int] = {}

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(d for d in DIRECTIONS if d in self.generators)

    def to(self, device: str | torch.device) -> Translator:
        """Move the generators to ``device`` (``"cpu"``, ``"cuda"``, ``"mps"``); returns ``self``."""
        self.device = torch.device(device)
        for module in self.generators.values():
            module.to(self.device)
        return self

    def _generator(self, direction: str) -> nn.Module:
        if direction not in self.generators:
            raise AgeshiftError(
                f"unknown direction {direction!r}; this model offers {', '.join(self.directions)}"
            )
        return self.generators[direction]

    #: images a generator runs eagerly before ``fast_inference`` builds its trace (it pays off after ~50).
    FAST_INFERENCE_AFTER_IMAGES = 64

    def _runner(self, direction: str, count: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
        """The generator, or its frozen trace when ``fast_inference`` applies (cached per weights state).

        Args:
            direction: ``"older"`` or ``"younger"``.
            count: images about to be run, added to this direction's tally.
        """
        generator = self._generator(direction)
        images_run = self._images_run.get(direction, 0)
        self._images_run[direction] = images_run + count
        if (
            not self.fast_inference
            or self.device.type != "cpu"
            or images_run + count <= self.FAST_INFERENCE_AFTER_IMAGES
        ):
            return generator
        state = _weights_state(generator)
        cached = self._frozen.get(direction)
        if cached is None or cached[0] != state:
            # The traced graph holds for any size, so a small example keeps tracing cheap.
            side = min(self.image_size, 32)
            self._frozen[direction] = (state, _frozen_trace(generator, torch.zeros(1, 3, side, side)))
        return self._frozen[direction][1]

    @torch.inference_mode()
    def translate_batch(
        self, images: torch.Tensor, direction: str = "older", batch_size: int = 16
    ) -> torch.Tensor:
        """Translate a tensor batch.

        Args:
            images: ``(B, 3, H, W)`` RGB float in ``[-1, 1]``, any size (resized to the model's and back).
            direction: ``"older"`` (A→B) or ``"younger"`` (B→A).
            batch_size: images per forward pass.

        Returns:
            ``(B, 3, H, W)`` float32 in ``[-1, 1]`` on the CPU.
        """
        check_batch(images)
        generator = self._runner(direction, images.shape[0])
        outputs = []
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start : start + batch_size].to(self.device, torch.float32)
            size = chunk.shape[-2:]
            translated = generator(resize(chunk, self.image_size))
            outputs.append(resize(translated, tuple(size)).clamp(-1, 1).float().cpu())
        return torch.cat(outputs) if outputs else images.new_zeros((0, 3, *images.shape[-2:]))

    def translate(self, images: ImagesLike, direction: str = "older", batch_size: int = 16) -> Any:
        """Translate images, returning the same kind that came in.

        Args:
            images: a ``(B, 3, H, W)`` or ``(3, H, W)`` tensor in ``[-1, 1]``, a PIL image, or a list of them.
            direction: ``"older"`` or ``"younger"``.
            batch_size: images per forward pass.

        Returns:
            A tensor of the input's shape, a PIL image, or a list of PIL images.
        """
        if isinstance(images, torch.Tensor):
            single = images.ndim == 3
            batch = images.unsqueeze(0) if single else images
            result = self.translate_batch(batch, direction, batch_size)
            return result[0] if single else result
        if isinstance(images, Image.Image):
            return self.translate([images], direction, batch_size)[0]
        pictures = list(images)
        # Group by size so each group is one batched tensor.
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, picture in enumerate(pictures):
            if not isinstance(picture, Image.Image):
                raise AgeshiftError(f"images[{index}] is a {type(picture).__name__}, expected a PIL image")
            by_size.setdefault(picture.size, []).append(index)
        results: list[Image.Image] = [None] * len(pictures)  # type: ignore[list-item]
        for indices in by_size.values():
            batch = torch.stack([pil_to_tensor(pictures[i]) for i in indices])
            for i, translated in zip(
                indices, self.translate_batch(batch, direction, batch_size), strict=False
            ):
                results[i] = tensor_to_pil(translated)
        return results

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created), atomically per file."""
        from safetensors.torch import save

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            f"{direction}.{key}": value.detach().cpu().contiguous()
            for direction, module in self.generators.items()
            for key, value in module.state_dict().items()
        }
        with atomic_write(directory / WEIGHTS_FILE) as stream:
            stream.write(save(tensors, metadata={"format": FORMAT_NAME}))
        config = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "family": self.family,
            "directions": {"older": "A->B", "younger": "B->A"},
            "available_directions": list(self.directions),
            "image_size": self.image_size,
            "model": self.model_config,
            "metadata": self.metadata,
        }
        with atomic_write(directory / CONFIG_FILE, "w") as stream:
            json.dump(config, stream, indent=2, sort_keys=True)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Translator:
        """Load a model saved by :meth:`save_pretrained` (or ``ageshift export``)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        if not directory.exists():
            raise ModelLoadError(f"{directory}: model folder does not exist")
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        if not directory.is_dir() or not config_path.is_file() or not weights_path.is_file():
            raise ModelLoadError(
                f"{directory}: not an ageshift model (expected {CONFIG_FILE} and {WEIGHTS_FILE}; "
                "make one with `ageshift export RUN --out MODEL`)"
            )
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ModelLoadError(f"{config_path}: not valid JSON ({error})") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
            raise ModelLoadError(f"{config_path}: not an ageshift translator config")
        if config.get("format_version", 0) > FORMAT_VERSION:
            raise ModelLoadError(
                f"{config_path}: format version {config['format_version']} is newer than this ageshift "
                f"understands ({FORMAT_VERSION}); upgrade ageshift"
            )
        builders = _generator_builders()
        family = config.get("family")
        if family not in builders:
            raise ModelLoadError(
                f"{config_path}: unknown model family {family!r} (known: {', '.join(builders)})"
            )
        try:
            generators = builders[family](config.get("model", {}))
            tensors = load_file(weights_path, device="cpu")
        except SafetensorError as error:
            raise ModelLoadError(f"{weights_path}: corrupt weights file ({error})") from None
        except AgeshiftError as error:
            raise ModelLoadError(f"{config_path}: {error}") from None
        available = [d for d in config.get("available_directions", DIRECTIONS) if d in generators]
        loaded = {}
        for direction in available:
            prefix = f"{direction}."
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                generators[direction].load_state_dict(state, strict=True)
            except RuntimeError as error:
                raise ModelLoadError(
                    f"{weights_path}: weights do not match {CONFIG_FILE} ({error})"
                ) from None
            loaded[direction] = generators[direction]
        translator = cls(
            loaded, family, config.get("model", {}), int(config["image_size"]), config.get("metadata")
        )
        return translator.to(device)


def _weights_state(generator: nn.Module) -> tuple:
    """A cheap fingerprint that changes whenever training or ``load_state_dict`` edits the weights."""
    tensors = tuple(generator.state_dict().values())
    try:
        versions = tuple(t._version for t in tensors)
    except RuntimeError:  # inference tensors keep no version counter; they cannot be edited in place either
        versions = ()
    return (generator.training, tuple(t.data_ptr() for t in tensors), versions)


def _frozen_trace(generator: nn.Module, example: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A frozen TorchScript trace of ``generator`` (eval mode), or the module itself if tracing fails.

    Freezing inlines the weights as constants and drops Python dispatch per layer; convolutional
    generators trace to a graph that holds for any batch size and image size.
    """
    import warnings

    if generator.training:
        return generator
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # shape-check TracerWarnings; torch.jit's deprecation notice
            return torch.jit.freeze(torch.jit.trace(generator, example))
    except Exception:  # TorchScript is optional speed: any failure falls back to the exact same module
        return generator


class IdentityTranslator(Translator):
    """Returns its input unchanged in both directions: for checking detection, alignment and blending."""

    def __init__(self, image_size: int = 256, metadata: dict[str, Any] | None = None) -> None:
        identity = {d: nn.Sequential(nn.Identity()) for d in DIRECTIONS}
        for module in identity.values():
            module.register_buffer("_anchor", torch.zeros(0))
        self.generators = identity
        self.family = "identity"
        self.model_config = {}
        self.image_size = image_size
        self.metadata = dict(metadata or {})
        self.device = torch.device("cpu")
        self.fast_inference = False
        self._frozen = {}
        self._images_run = {}

    @torch.inference_mode()
    def translate_batch(
        self, images: torch.Tensor, direction: str = "older", batch_size: int = 16
    ) -> torch.Tensor:
        check_batch(images)
        self._generator(direction)
        return images.float().cpu().clone()

    def save_pretrained(self, directory: str | Path) -> Path:
        raise AgeshiftError("the identity translator is built in and has nothing to save")


def load(model: str | Path, device: str | torch.device = "cpu") -> Translator:
    """Load a translator: a folder written by ``ageshift export``, or ``"identity"`` for the built-in one.

    Args:
        model: model folder path, or ``"identity"``.
        device: where to run it.

    Returns:
        A :class:`Translator`.
    """
    if str(model) == "identity":
        return IdentityTranslator()
    return Translator.from_pretrained(model, device=device)


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``"auto"`` (CUDA, then Apple MPS, then CPU) or an explicit device name into a device.

    Args:
        name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Returns:
        The ``torch.device``; an unavailable explicit device raises ``AgeshiftError``.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AgeshiftError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if (device.type == "cuda" and not torch.cuda.is_available()) or (
        device.type == "mps" and not torch.backends.mps.is_available()
    ):
        raise AgeshiftError(f"device {name!r} is not available on this machine; use --device auto or cpu")
    return device


@dataclass
class TranslationSummary:
    """What :func:`translate_files` did: files written and files skipped with the reason."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def plan_translation(
    source: str | Path, destination: str | Path, image_format: str = "png"
) -> list[tuple[Path, Path]]:
    """Pair every input image with the file its translation goes to.

    Args:
        source: an image file, or a folder searched recursively.
        destination: for a file, the output file (its suffix picks the format) or an existing folder;
            for a folder, the output folder, mirroring the input's sub-folders.
        image_format: suffix for outputs written into a folder (``png`` or ``jpg``).

    Returns:
        ``[(input_path, output_path), ...]``; refuses to write over any input.
    """
    source, destination = Path(source), Path(destination)
    if not source.exists():
        raise DataError(f"{source}: input does not exist")
    suffix = "." + image_format.lower().lstrip(".")
    if suffix not in IMAGE_SUFFIXES:
        raise DataError(f"output format {image_format!r} is not supported; use png or jpg")
    if destination.resolve() == source.resolve():
        raise DataError(f"{destination}: output is the input; choose another output so the input is kept")
    if source.is_file():
        if destination.is_dir():
            return [(source, destination / (source.stem + suffix))]
        if destination.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(
                f"{destination}: output file needs an image suffix ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        return [(source, destination)]
    if destination.exists() and not destination.is_dir():
        raise DataError(f"{destination}: input {source} is a folder, so the output must be a folder too")
    inside_output = destination.resolve()
    pairs = []
    for path in list_images(source):
        if path.resolve().is_relative_to(inside_output):
            continue  # earlier results written inside the input folder are not inputs
        pairs.append((path, (destination / path.relative_to(source)).with_suffix(suffix)))
    if not pairs:
        raise DataError(f"{source}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return pairs


def translate_files(
    translator: Translator,
    pairs: Sequence[tuple[Path, Path]],
    direction: str,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> TranslationSummary:
    """Translate image files in batches; unreadable files are skipped and reported, not fatal.

    Args:
        translator: the model.
        pairs: ``(input, output)`` paths, e.g. from :func:`plan_translation`.
        direction: ``"older"`` or ``"younger"`` (must be one the model offers).
        batch_size: images per forward pass; images of one size share a batch.
        progress: called with the number of files finished after each batch.

    Returns:
        A :class:`TranslationSummary`.
    """
    translator._generator(direction)
    if batch_size < 1:
        raise AgeshiftError(f"batch_size must be >= 1, got {batch_size}")
    summary = TranslationSummary()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        loaded = []
        for source, target in chunk:
            try:
                loaded.append((load_image(source), target))
            except ImageLoadError as error:
                summary.failed.append((source, str(error)))
        translated = translator.translate([image for image, _ in loaded], direction, batch_size)
        for (_, target), image in zip(loaded, translated, strict=True):
            try:
                summary.written.append(save_image(image, target))
            except (OSError, ImageLoadError) as error:
                summary.failed.append((target, f"cannot write ({error})"))
        if progress is not None:
            progress(len(chunk))
    return summary
