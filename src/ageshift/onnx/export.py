"""ONNX graphs of every model family, with the preprocessing contract written into the model card.

One graph file per inference entry point, next to ``config.json``:

- two-domain models (CycleGAN, imported reference CycleGANs): ``older.onnx`` and ``younger.onnx``,
  ``images (B, 3, H, W) → output (B, 3, H, W)``;
- conditional models (StarGAN family): ``conditional.onnx``, ``images``, ``condition (B, D)``, ``requested (B, D)``,
  ``strength (B, 1)`` → ``output`` and ``own_condition (B, D)``. The graph reads the face's own condition with the
  exported classifier and keeps it wherever ``requested`` is 0, exactly as ``ConditionalTranslator.run``;
- super-resolution models: ``superres.onnx``, ``images (B, 3, h, w) → output (B, 3, s·h, s·w)``;
- makeup models (BeautyGAN family): ``makeup.onnx``, ``images``, ``reference (B, 3, H, W)`` → ``made_up`` (the
  images wearing the reference's makeup) and ``removed`` (the reference without it), as the generator;
- generators: ``generator.onnx``, ``noise (B, latent_dim)`` [+ ``labels (B,)`` int64] ``→ output (B, 3, S, S)``.

Batch and spatial sizes are dynamic. The exporter is ``torch.onnx.export(..., dynamo=False)`` (the TorchScript
exporter): the dynamo exporter needs ``onnxscript``, which ageshift does not depend on. ``aten::atanh`` (the
residual outputs' ``tanh(atanh(x) + Δ)``) has no built-in symbolic there and maps to ONNX ``Atanh``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import AgeshiftError
from ..models.translator import Translator, TwoDomainTranslator
from ..pretrained import update_card

#: ONNX operator set of the exported graphs (onnxruntime ≥ 1.17 runs it).
OPSET = 17
#: Version of the ``card.onnx`` contract that :mod:`ageshift.onnx.runtime` reads.
CONTRACT_VERSION = 1
#: Parity measured at export (random input): graphs further than this from PyTorch are refused.
PARITY_TOLERANCE = 1e-4


class OnnxExportError(AgeshiftError):
    """A model cannot be exported to ONNX (unsupported kind) or its graph disagrees with PyTorch."""


class _ConditionalGraph(nn.Module):
    """``ConditionalTranslator.run`` as one graph: classifier → own condition → requested mix → generator."""

    def __init__(self, generator: nn.Module, classifier: nn.Module, has_age: bool, blocks: list[int]) -> None:
        super().__init__()
        self.generator, self.classifier = generator, classifier
        self.has_age, self.blocks = has_age, blocks

    def forward(
        self, images: torch.Tensor, condition: torch.Tensor, requested: torch.Tensor, strength: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        auxiliary = self.classifier(images)[1].float()
        parts, offset = [], 0
        if self.has_age:
            # encode(estimate(·)) of the age: years(clamp(a)) normalised back is clamp(a).
            parts.append(auxiliary[:, :1].clamp(-1.0, 1.0))
            offset = 1
        for size in self.blocks:
            logits = auxiliary[:, offset : offset + size]
            parts.append(torch.zeros_like(logits).scatter(1, logits.argmax(dim=1, keepdim=True), 1.0))
            offset += size
        own = torch.cat(parts, dim=1)
        target = torch.where(requested > 0.5, condition, own)
        vector = own + strength * (target - own)
        return self.generator(images, vector, own), own


class _GeneratorGraph(nn.Module):
    """An :class:`~ageshift.models.generator.ImageGenerator`'s network, grey outputs widened to RGB, clamped."""

    def __init__(self, generator: nn.Module, conditional: bool) -> None:
        super().__init__()
        self.generator, self.conditional = generator, conditional

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        drawn = self.generator(noise, labels if self.conditional else None).float().clamp(-1, 1)
        return drawn.expand(-1, 3, -1, -1)


class _ReagerGraph(nn.Module):
    """A ``reager`` student as one graph: images and age maps in years → the change (``predict_delta``'s network)."""

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        self.student = student

    def forward(
        self, images: torch.Tensor, current_age: torch.Tensor, target_age: torch.Tensor
    ) -> torch.Tensor:
        from ..models.reager.networks import student_input

        return self.student(student_input(images, current_age, target_age)).float()


class _MakeupGraph(nn.Module):
    """A makeup generator as one graph with float32 outputs: ``(images, reference) → (made_up, removed)``."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, images: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        made_up, removed = self.generator(images, reference)
        return made_up.float(), removed.float()


def _register_symbolics() -> None:
    """ONNX mappings for ops the TorchScript exporter lacks (idempotent)."""
    from torch.onnx import register_custom_op_symbolic

    register_custom_op_symbolic("aten::atanh", lambda graph, x: graph.op("Atanh", x), 9)


def _export_graph(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    inputs: dict[str, dict[int, str]],
    outputs: dict[str, dict[int, str]],
) -> None:
    """Trace ``module`` on ``args`` and write the graph to ``path`` atomically.

    Args:
        module: the network (eval mode, CPU).
        args: example inputs (their sizes are not baked in: every axis named in ``inputs`` is dynamic).
        path: the ``.onnx`` file.
        inputs, outputs: name → ``{axis: dynamic axis name}``, in argument / return order.
    """
    _register_symbolics()
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.exporting")  # hidden, and moved into place only when complete
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter's deprecation notice and constant-folding remarks on reflection pads.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                args,
                scratch,
                dynamo=False,
                opset_version=OPSET,
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_axes={**inputs, **outputs},
                do_constant_folding=True,
            )
    except Exception as error:  # the exporter raises many types; the message names the op that failed
        scratch.unlink(missing_ok=True)
        detail = " ".join(str(error).split())[:300]
        raise OnnxExportError(f"{path}: the ONNX exporter failed ({detail})") from None
    os.replace(scratch, path)


def _size_multiple(translator: Translator) -> int:
    """The side every image input must divide by: ``2 ** num_downsamples`` of the generator (1 if none)."""
    generator = translator.model_config.get("generator")
    downsamples = generator.get("num_downsamples", 0) if isinstance(generator, dict) else 0
    return 2 ** int(downsamples)


def _example_images(batch: int, side: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, side, side, generator=generator) * 2 - 1


#: What :func:`build_graphs` returns: the contract (without parity) and ``(file, module, example args)`` per graph.
Graphs = tuple[dict[str, Any], list[tuple[str, nn.Module, tuple]]]
IMAGES = {"name": "images", "shape": ["batch", 3, "height", "width"], "dtype": "float32"}
OUTPUT = {"name": "output", "shape": ["batch", 3, "height", "width"], "dtype": "float32"}


def build_graphs(translator: Translator) -> Graphs:
    """What to export for ``translator``: the contract (without parity) and ``(file, module, example args)``.

    Raises:
        OnnxExportError: a model kind without an ONNX form (the built-in identity model).
    """
    from ..models.beautygan.translator import MakeupTranslator
    from ..models.generator import ImageGenerator
    from ..models.stargan.family import ConditionalTranslator
    from ..models.superres.resolver import SuperResolver

    contract: dict[str, Any] = {
        "version": CONTRACT_VERSION,
        "opset": OPSET,
        "exporter": f"torch.onnx TorchScript exporter, torch {torch.__version__}",
        "color": "RGB",
        "range": [-1.0, 1.0],
        "layout": "NCHW",
        "dtype": "float32",
        "image_size": translator.image_size,
    }
    if getattr(translator, "family", None) == "identity":
        raise OnnxExportError("the built-in identity model has no network to export")
    if isinstance(translator, ImageGenerator):
        return _generator_graphs(translator, contract)
    if isinstance(translator, SuperResolver):
        return _superres_graphs(translator, contract)
    if isinstance(translator, ConditionalTranslator):
        return _conditional_graphs(translator, contract)
    if getattr(translator, "predicts_delta", False):
        return _reager_graphs(translator, contract)
    if isinstance(translator, MakeupTranslator):
        return _makeup_graphs(translator, contract)
    if isinstance(translator, TwoDomainTranslator):
        multiple = _size_multiple(translator)
        graphs = {direction: f"{direction}.onnx" for direction in translator.directions}
        contract.update(
            kind="two-domain", graphs=graphs, inputs=[IMAGES], outputs=[OUTPUT], size_multiple=multiple
        )
        example = (_example_images(1, _example_side(translator.image_size, multiple)),)
        return contract, [(graphs[d], translator.networks[d], example) for d in translator.directions]
    raise OnnxExportError(
        f"the {translator.family} model ({type(translator).__name__}) has no ONNX export yet"
    )


def _example_side(image_size: int, multiple: int) -> int:
    """A small traced side (the graph holds for every size): up to 64, a multiple of ``multiple``."""
    return max(min(max(image_size, 16), 64) // multiple, 1) * multiple


def _generator_graphs(translator: Any, contract: dict[str, Any]) -> Graphs:
    conditional = bool(translator.labels)
    module = _GeneratorGraph(translator.networks["generator"], conditional).eval()
    noise = torch.randn(2, translator.latent_dim, generator=torch.Generator().manual_seed(0))
    args: tuple = (noise, torch.tensor([0, len(translator.labels) - 1])) if conditional else (noise,)
    inputs = [{"name": "noise", "shape": ["batch", translator.latent_dim], "dtype": "float32"}]
    if conditional:
        inputs.append(
            {"name": "labels", "shape": ["batch"], "dtype": "int64", "values": list(translator.labels)}
        )
    size = translator.image_size
    contract.update(
        kind="generator",
        graphs={"generator": "generator.onnx"},
        inputs=inputs,
        outputs=[{**OUTPUT, "shape": ["batch", 3, size, size]}],
        latent_dim=translator.latent_dim,
        noise="standard normal",
    )
    return contract, [("generator.onnx", module, args)]


def _superres_graphs(translator: Any, contract: dict[str, Any]) -> Graphs:
    from ..models.superres.networks import fuse_batchnorm

    # The folded network is what the PyTorch path runs (BatchNorms inside the convolutions).
    module = fuse_batchnorm(translator.generator).cpu().eval()
    scale = translator.scale
    contract.update(
        kind="superres",
        graphs={"superres": "superres.onnx"},
        inputs=[IMAGES],
        outputs=[{**OUTPUT, "shape": ["batch", 3, f"{scale}*height", f"{scale}*width"]}],
        scale=scale,
        tile_overlap=translator.overlap,
        size_multiple=1,
        min_side=8,
    )
    return contract, [("superres.onnx", module, (_example_images(1, 24),))]


def _reager_graphs(translator: Any, contract: dict[str, Any]) -> Graphs:
    """A change-predicting student: the runtime resizes the face to ``image_size``, runs the graph with per-pixel
    current and target ages, and adds the change (upscaled) to the face at its own size."""
    size = translator.image_size
    multiple = 2 ** (len(translator.model_config["channels"]) - 1)
    age_map = {"shape": ["batch", 1, "height", "width"], "dtype": "float32", "units": "years"}
    contract.update(
        kind="reager",
        graphs={"reager": "reager.onnx"},
        inputs=[IMAGES, {"name": "current_age", **age_map}, {"name": "target_age", **age_map}],
        outputs=[{"name": "change", "shape": ["batch", 3, "height", "width"], "dtype": "float32",
                  "help": "added to the images (in [-1, 1] units) after upscaling to the face's size"}],
        size_multiple=multiple,
        age_range=list(translator.conditions.age or ()),
    )  # fmt: skip
    side = _example_side(size, multiple)
    random = torch.Generator().manual_seed(1)
    args = (
        _example_images(2, side),
        20 + 60 * torch.rand(2, 1, side, side, generator=random),
        20 + 60 * torch.rand(2, 1, side, side, generator=random),
    )
    module = _ReagerGraph(translator.networks["student"]).eval()
    return contract, [("reager.onnx", module, args)]


def _makeup_graphs(translator: Any, contract: dict[str, Any]) -> Graphs:
    """A makeup generator: the runtime feeds the bound reference for ``makeup`` and the face itself as the
    reference for ``remove`` (reading ``removed``), exactly as ``MakeupTranslator.run``."""
    contract.update(
        kind="makeup",
        graphs={"makeup": "makeup.onnx"},
        inputs=[IMAGES, {**IMAGES, "name": "reference", "help": "the made-up face, aligned like the images"}],
        outputs=[{**OUTPUT, "name": "made_up", "help": "the images wearing the reference's makeup"},
                 {**OUTPUT, "name": "removed", "help": "the reference with its makeup removed"}],
        size_multiple=2,
    )  # fmt: skip
    side = _example_side(translator.image_size, 2)
    args = (_example_images(2, side, seed=0), _example_images(2, side, seed=1))
    return contract, [("makeup.onnx", _MakeupGraph(translator.networks["generator"]).eval(), args)]


def _conditional_graphs(translator: Any, contract: dict[str, Any]) -> Graphs:
    layout = translator.layout
    blocks = [len(values) for values in layout.attributes.values()]
    has_age = layout.age_range is not None
    networks = translator.networks
    module = _ConditionalGraph(networks["generator"], networks["classifier"], has_age, blocks).eval()
    entries: list[dict[str, Any]] = []
    if has_age:
        entries.append({"name": "age", "index": 0, "size": 1, "range": list(layout.age_range),
                        "encoding": "linear: min → -1, max → 1"})  # fmt: skip
    offset = len(entries)
    for name, values in layout.attributes.items():
        entries.append({"name": name, "index": offset, "size": len(values), "values": list(values),
                        "encoding": "one-hot"})  # fmt: skip
        offset += len(values)
    vector = {"shape": ["batch", layout.dim], "dtype": "float32"}
    multiple = _size_multiple(translator)
    contract.update(
        kind="conditional",
        graphs={"conditional": "conditional.onnx"},
        inputs=[
            IMAGES,
            {"name": "condition", **vector, "help": "the requested condition, laid out as condition_layout"},
            {"name": "requested", **vector, "help": "1 where condition is requested, 0: keep the face's own"},
            {"name": "strength", "shape": ["batch", 1], "dtype": "float32", "help": "0: input, 1: request"},
        ],
        outputs=[OUTPUT, {"name": "own_condition", **vector}],
        condition_layout=entries,
        size_multiple=multiple,
    )  # fmt: skip
    images = _example_images(2, _example_side(translator.image_size, multiple))
    args = (images, torch.zeros(2, layout.dim), torch.ones(2, layout.dim), torch.ones(2, 1))
    return contract, [("conditional.onnx", module, args)]


def _axes(entries: Sequence[dict[str, Any]]) -> dict[str, dict[int, str]]:
    """Dynamic axes from contract entries: every axis given as a name."""
    return {
        entry["name"]: {
            axis: str(size).replace("*", "x")
            for axis, size in enumerate(entry["shape"])
            if isinstance(size, str)
        }
        for entry in entries
    }


def max_difference(
    module: nn.Module, path: Path, args: tuple[torch.Tensor, ...], names: Sequence[str]
) -> float:
    """The largest absolute difference between ``module(*args)`` and onnxruntime on ``path`` (every output).

    Args:
        module: the PyTorch network.
        path: its ``.onnx`` graph.
        args: inputs, in the graph's input order.
        names: the graph's input names.

    Returns:
        ``max |torch − onnxruntime|`` over all outputs.
    """
    from .runtime import create_session

    with torch.no_grad():
        expected = module(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = create_session(path, threads=1)
    feeds = {name: value.numpy() for name, value in zip(names, args, strict=True)}
    got = session.run(None, feeds)
    return max(float(np.abs(e.float().numpy() - g).max()) for e, g in zip(expected, got, strict=True))


def export_onnx(translator: Translator, directory: str | Path, check: bool = True) -> dict[str, Any]:
    """Write ``translator``'s ONNX graphs into ``directory`` (a model folder) and record the contract in its card.

    Args:
        translator: any exported model (two-domain, conditional, super-resolution, generator).
        directory: the model folder holding its ``config.json`` (the card's ``onnx`` entry is set there).
        check: run each graph once on onnxruntime against PyTorch and store the measured difference; a graph
            further than :data:`PARITY_TOLERANCE` is refused.

    Returns:
        The contract written to ``card["onnx"]``.

    Raises:
        OnnxExportError: no ONNX form, or the graph disagrees with PyTorch.
    """
    import importlib.util

    from ..assets import require_module

    directory = Path(directory)
    require_module("onnx", "onnx", "onnx", "ONNX export")  # the exporter writes its graphs with it
    contract, graphs = build_graphs(translator)
    try:
        check = check and importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):
        check = False
    input_names = [entry["name"] for entry in contract["inputs"]]
    inputs, outputs = _axes(contract["inputs"]), _axes(contract["outputs"])
    parity: dict[str, float] = {}
    for file_name, module, args in graphs:
        path = directory / file_name
        names = input_names[: len(args)]
        _export_graph(module, args, path, {n: inputs[n] for n in names}, outputs)
        if check:
            difference = max_difference(module, path, args, names)
            if not difference <= PARITY_TOLERANCE:
                path.unlink(missing_ok=True)
                raise OnnxExportError(
                    f"{path}: onnxruntime differs from PyTorch by {difference:.3g} (> {PARITY_TOLERANCE}); "
                    "the graph was not kept"
                )
            parity[file_name] = difference
    if check:
        described = (
            "standard normal noise" if contract["kind"] == "generator" else "random, uniform in [-1, 1]"
        )
        contract["parity"] = {"max_abs_difference": parity, "input": described}
    update_card(directory, onnx=contract)
    translator.card["onnx"] = contract
    return contract
