"""The CPU runtime: a model folder's ONNX graphs on onnxruntime, with numpy and Pillow only (no PyTorch).

``load_onnx("models/utk-cyclegan")`` returns an :class:`OnnxTranslator` with the interface that
:func:`ageshift.files.translate_files` and :func:`ageshift.faces.age_photo` use (``condition``, ``translate``,
``image_size``, ``metadata``, ``conditions``); ``ageshift translate|age --backend onnxruntime`` run it. It reads
only ``config.json`` (the card's ``onnx`` contract written by :func:`ageshift.onnx.export.export_onnx`) and the
``.onnx`` files. Arrays follow the library convention as numpy: ``(B, 3, H, W)`` RGB float32 in ``[-1, 1]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..assets import require_module
from ..errors import AgeshiftError, ModelLoadError
from ..models.conditions import Condition, ConditionError, ConditionSpec, upscaling_condition

#: Values of ``--backend``.
BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")
#: Super-resolution tiles: input pixels per side, and extra pixels read per side (as the PyTorch path's defaults).
SUPERRES_TILE, SUPERRES_OVERLAP = 192, 16
#: The graph kinds of the contract.
KINDS = ("two-domain", "conditional", "superres", "generator", "reager", "makeup")
#: The ``card.onnx`` contract versions this runtime reads.
CONTRACT_VERSIONS = (1,)


class NonFiniteOnnxOutputError(AgeshiftError):
    """A graph produced NaN or infinite pixels: nothing is written from it."""


def create_session(path: str | Path, threads: int = 0) -> Any:
    """An onnxruntime CPU session for ``path``.

    Args:
        path: an ``.onnx`` file.
        threads: intra-op threads (0: onnxruntime's default, one per core).

    Returns:
        An ``onnxruntime.InferenceSession``.

    Raises:
        MissingDependencyError: onnxruntime is not installed (``pip install 'ageshift[runtime]'``).
        ModelLoadError: the file is not a graph onnxruntime can run.
    """
    ort = require_module("onnxruntime", "onnxruntime", "runtime", "the onnxruntime backend")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    # Idle worker threads sleep instead of spinning: the same wall time here, and ~20 ms less CPU for each 1-MP photo,
    # which the decoder, the encoder and other requests of the web page use.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for bad files
        detail = " ".join(str(error).split())[:200]
        raise ModelLoadError(f"{path}: onnxruntime cannot load the graph ({detail})") from None


def pil_to_array(image: Image.Image) -> np.ndarray:
    """An RGB PIL image as ``(3, H, W)`` float32 in ``[-1, 1]`` (as :func:`ageshift.image.pil_to_tensor`)."""
    array = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
    return (array.transpose(2, 0, 1).astype(np.float32) / np.float32(127.5)) - np.float32(1.0)


def array_to_pil(image: np.ndarray) -> Image.Image:
    """A ``(3, H, W)`` array in ``[-1, 1]`` as an RGB PIL image (rounded, clipped)."""
    scaled = (np.clip(image, -1.0, 1.0) + np.float32(1.0)) * np.float32(127.5)
    return Image.fromarray(np.round(scaled).astype(np.uint8).transpose(1, 2, 0).copy())


def resize_array(
    images: np.ndarray, size: tuple[int, int], resample: Image.Resampling = Image.Resampling.BILINEAR
) -> np.ndarray:
    """Antialiased bilinear resize of ``(B, C, H, W)`` float32 to ``size = (h, w)`` (Pillow's filter, the one
    ``torch.nn.functional.interpolate(..., antialias=True)`` reimplements; ``resample`` for another); the input
    itself when already there."""
    height, width = size
    if images.shape[-2:] == (height, width):
        return images
    out = np.empty((*images.shape[:2], height, width), np.float32)
    for b in range(images.shape[0]):
        for c in range(images.shape[1]):
            plane = Image.fromarray(np.ascontiguousarray(images[b, c], dtype=np.float32), mode="F")
            out[b, c] = np.asarray(plane.resize((width, height), resample))
    return out


def _age_map(value: Any, count: int, side: tuple[int, int]) -> np.ndarray:
    """Ages in years as a ``(count, 1, h, w)`` float32 map: numbers fill it, ``(count,)`` one per image, maps resized."""
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 0:
        return np.full((count, 1, *side), array, np.float32)
    if array.ndim == 1:
        if array.shape[0] != count:
            raise ConditionError(f"{array.shape[0]} ages given for {count} image(s)")
        return np.broadcast_to(array[:, None, None, None], (count, 1, *side)).astype(np.float32)
    if array.ndim == 2:
        array = np.broadcast_to(array, (count, 1, *array.shape))
    if array.ndim != 4 or array.shape[1] != 1 or array.shape[0] not in (1, count):
        raise ConditionError(
            f"an age map must be (H, W) or (B, 1, H, W) for {count} image(s); got {array.shape}"
        )
    return resize_array(np.ascontiguousarray(np.broadcast_to(array, (count, 1, *array.shape[2:]))), side)


def _lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``torch.lerp``'s formula (exact at both ends)."""
    if weight < 0.5:
        return start + np.float32(weight) * (end - start)
    return end - (end - start) * np.float32(1.0 - weight)


class OnnxTranslator:
    """A model folder run by onnxruntime: the :class:`~ageshift.models.translator.Translator` interface that
    files and the photo pipeline use, without PyTorch.

    Args:
        directory: the model folder (``config.json`` with ``card.onnx``, and the graphs).
        document: its parsed ``config.json``.
        threads: onnxruntime intra-op threads (0: its default).
        int8: run the int8 graphs (``ageshift export-onnx --int8``) instead of the float32 ones.
    """

    backend = "onnxruntime"

    def __init__(
        self, directory: Path, document: dict[str, Any], threads: int = 0, int8: bool = False
    ) -> None:
        self.source = str(directory)
        self.card: dict[str, Any] = dict(document.get("card") or {})
        self.contract: dict[str, Any] = self.card["onnx"]
        self.kind: str = self.contract["kind"]
        self.family: str = str(document.get("family"))
        self.model_config: dict[str, Any] = dict(document.get("config") or {})
        self.image_size = int(document.get("image_size") or self.contract["image_size"])
        self.metadata: dict[str, Any] = dict(document.get("metadata") or {})
        self.conditions = ConditionSpec.from_json(document.get("conditions"))
        self.any_size = self.kind == "superres"
        #: What ``ageshift evaluate`` and the makeup commands see (as ``Translator.evaluation``).
        self.evaluation = {"makeup": "makeup", "superres": "upscaling"}.get(self.kind, "age")
        self.strength_by_blending = self.kind in ("two-domain", "makeup")
        #: A makeup model's bound reference face, ``(1, 3, S, S)`` float32 at the model's size (``with_reference``).
        self.reference: np.ndarray | None = None
        #: A change-predicting student: the face pipeline adds its change at each face's real size.
        self.predicts_delta = self.kind == "reager"
        graphs = self.contract["int8"]["graphs"] if int8 else self.contract["graphs"]
        self.sessions = {
            name: create_session(directory / file_name, threads) for name, file_name in graphs.items()
        }

    def with_reference(self, reference: Image.Image | np.ndarray) -> OnnxTranslator:
        """A makeup model bound to one reference face (as ``MakeupTranslator.with_reference``; ``self`` unchanged).

        Args:
            reference: the made-up face aligned like the model's crops: a PIL image or a ``(3, H, W)`` /
                ``(1, 3, H, W)`` float32 array in ``[-1, 1]``.
        """
        import copy

        if self.kind != "makeup":
            raise AgeshiftError(f"a {self.family} model takes no makeup reference")
        array = pil_to_array(reference)[None] if isinstance(reference, Image.Image) else reference
        array = np.asarray(array, dtype=np.float32)
        array = array[None] if array.ndim == 3 else array
        if array.ndim != 4 or array.shape[:2] != (1, 3):
            raise AgeshiftError(f"give one reference face (1, 3, H, W), got shape {array.shape}")
        bound = copy.copy(self)
        bound.reference = np.clip(resize_array(array, (self.image_size, self.image_size)), -1, 1)
        return bound

    @property
    def directions(self) -> tuple[str, ...]:
        """The directions of a two-domain model (empty otherwise)."""
        return self.conditions.directions

    def condition(
        self,
        direction: str | None = None,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
    ) -> Condition:
        """Check a request against :attr:`conditions`; raises ``ConditionError`` naming what is accepted."""
        if self.kind == "generator":
            raise AgeshiftError(
                f"this {self.family} model draws new images from noise and does not translate images; "
                "use generate(count)"
            )
        if self.kind == "superres":
            return upscaling_condition(direction, target_age, attributes, strength)
        return self.conditions.resolve(direction, target_age, attributes, strength)

    def run(self, images: np.ndarray, condition: Condition) -> np.ndarray:
        """One batch at the model's size (any size for super-resolution) through the graph.

        Args:
            images: ``(B, 3, S, S)`` float32 in ``[-1, 1]``.
            condition: a resolved condition.

        Returns:
            ``(B, 3, S, S)`` (``×scale`` for super-resolution), full strength for two-domain models.
        """
        images = np.ascontiguousarray(images, dtype=np.float32)
        if self.kind == "two-domain":
            assert condition.direction is not None
            return self.sessions[condition.direction].run(["output"], {"images": images})[0]
        if self.kind == "superres":
            return self._upscale(images)
        if self.kind == "makeup":
            return self._makeup(images, condition)
        vector, requested = self.condition_vector(condition, images.shape[0])
        strength = np.full((images.shape[0], 1), condition.strength, np.float32)
        feeds = {"images": images, "condition": vector, "requested": requested, "strength": strength}
        return self.sessions["conditional"].run(["output"], feeds)[0]

    def _makeup(self, images: np.ndarray, condition: Condition) -> np.ndarray:
        """``makeup``: the images wearing the bound reference's makeup; ``remove``: each face as its own reference,
        read from the ``removed`` output."""
        session = self.sessions["makeup"]
        if condition.direction == "remove":
            return session.run(["removed"], {"images": images, "reference": images})[0]
        if self.reference is None:
            raise ConditionError(
                "makeup needs a reference face: model.with_reference(image), or --reference REF.jpg "
                "(direction 'remove' needs none)"
            )
        reference = np.ascontiguousarray(np.broadcast_to(self.reference, images.shape))
        return session.run(["made_up"], {"images": images, "reference": reference})[0]

    def _upscale(self, images: np.ndarray, tile: int = SUPERRES_TILE) -> np.ndarray:
        """Super-resolve in tiles of ``tile`` input pixels, each read with the contract's ``tile_overlap`` more per
        side and only its centre kept (bounded memory for any photo, as the PyTorch path)."""
        session, scale = self.sessions["superres"], int(self.contract["scale"])
        overlap = int(self.contract.get("tile_overlap", SUPERRES_OVERLAP))
        count, _, height, width = images.shape
        if height <= tile and width <= tile:
            return session.run(["output"], {"images": images})[0]
        output = np.empty((count, 3, height * scale, width * scale), np.float32)
        for top in range(0, height, tile):
            for left in range(0, width, tile):
                bottom, right = min(top + tile, height), min(left + tile, width)
                y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
                piece = images[:, :, y0 : min(bottom + overlap, height), x0 : min(right + overlap, width)]
                result = session.run(["output"], {"images": np.ascontiguousarray(piece)})[0]
                rows = slice((top - y0) * scale, (bottom - y0) * scale)
                columns = slice((left - x0) * scale, (right - x0) * scale)
                output[:, :, top * scale : bottom * scale, left * scale : right * scale] = result[
                    :, :, rows, columns
                ]
        return output

    def condition_vector(self, condition: Condition, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The conditional graph's ``condition`` and ``requested`` inputs, ``(count, D)`` each, from the contract's
        ``condition_layout``: a normalised age and one-hot attribute blocks; what is not asked for keeps the
        face's own value (``requested`` 0)."""
        layout = self.contract["condition_layout"]
        dim = sum(int(entry["size"]) for entry in layout)
        vector = np.zeros((count, dim), np.float32)
        requested = np.zeros((count, dim), np.float32)
        for entry in layout:
            index, size = int(entry["index"]), int(entry["size"])
            if entry["name"] == "age":
                if condition.target_age is None:
                    continue
                low, high = entry["range"]
                vector[:, index] = (condition.target_age - low) / (high - low) * 2.0 - 1.0
            else:
                value = condition.attributes.get(entry["name"])
                if value is None:
                    continue
                vector[:, index + list(entry["values"]).index(value)] = 1.0
            requested[:, index : index + size] = 1.0
        return vector, requested

    def translate_batch(
        self,
        images: np.ndarray,
        direction: str | None = None,
        *,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
        batch_size: int = 16,
        current_age: Any = None,
    ) -> np.ndarray:
        """Translate an array batch under one condition (as ``Translator.translate_batch``).

        Args:
            images: ``(B, 3, H, W)`` float32 RGB in ``[-1, 1]``, any size (resized to the model's and back).
            direction, target_age, attributes, strength: the condition.
            batch_size: images per graph run.
            current_age: a ``reager`` student's faces' own age (years: a number, ``(B,)`` or a map); this runtime
                reads no ages itself.

        Returns:
            ``(B, 3, H, W)`` float32 in ``[-1, 1]`` (``×scale`` for super-resolution).
        """
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1] != 3:
            raise AgeshiftError(
                f"images must be a (B, 3, H, W) array, got {getattr(images, 'shape', type(images))}"
            )
        if batch_size < 1:
            raise AgeshiftError(f"batch_size must be >= 1, got {batch_size}")
        condition = self.condition(direction, target_age, attributes, strength)
        images = images.astype(np.float32, copy=False)
        if condition.strength == 0.0:
            return images.copy()
        if self.kind == "reager":
            change = self.change(images, target_age, current_age, condition.strength)
            upscaled = resize_array(change, images.shape[-2:], Image.Resampling.BICUBIC)
            return np.clip(images + upscaled, -1, 1).astype(np.float32, copy=False)
        outputs = []
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start : start + batch_size]
            if self.any_size:
                translated = np.clip(self._checked(self.run(chunk, condition)), -1, 1)
            else:
                raw = self._checked(
                    self.run(resize_array(chunk, (self.image_size, self.image_size)), condition)
                )
                translated = np.clip(resize_array(raw, chunk.shape[-2:]), -1, 1)
            if self.strength_by_blending and condition.strength < 1.0:
                translated = _lerp(chunk, translated, condition.strength)
            outputs.append(translated.astype(np.float32, copy=False))
        return np.concatenate(outputs) if outputs else np.zeros((0, 3, *images.shape[-2:]), np.float32)

    def change(
        self, images: np.ndarray, target_age: Any, current_age: Any, strength: float = 1.0
    ) -> np.ndarray:
        """A ``reager`` student's change at the model's size (``predict_delta`` without PyTorch).

        Args:
            images: ``(B, 3, H, W)`` float32 in ``[-1, 1]`` (resized to the model's size for the graph).
            target_age, current_age: years: numbers, ``(B,)`` or maps ``(H, W)`` / ``(B, 1, H, W)``.
            strength: ``[0, 1]``: the target moves from the current age towards ``target_age``.

        Returns:
            ``(B, 3, S, S)`` float32 change in ``[-1, 1]`` units.
        """
        if current_age is None or isinstance(current_age, str):
            raise ConditionError(
                "the ONNX runtime reads no ages: give the faces' current age (current_age=…, --current-age)"
            )
        side = (self.image_size, self.image_size)
        count = images.shape[0]
        small = resize_array(np.ascontiguousarray(images, np.float32), side)
        current = _age_map(current_age, count, side)
        target = _age_map(target_age, count, side)
        target = current + np.float32(strength) * (target - current)
        feeds = {"images": small, "current_age": current, "target_age": target}
        return self._checked(self.sessions["reager"].run(["change"], feeds)[0])

    def predict_delta(
        self, images: Any, target_age: Any, current_age: Any = None, strength: Any = 1.0
    ) -> Any:
        """:meth:`change` for the face pipeline: ``(B, 3, H, W)`` torch tensors in, the change as a tensor out."""
        import torch

        array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
        ages = [age.numpy() if isinstance(age, torch.Tensor) else age for age in (target_age, current_age)]
        return torch.from_numpy(
            self.change(array, ages[0], ages[1], 1.0 if strength is None else float(strength))
        )

    def _checked(self, output: np.ndarray) -> np.ndarray:
        if not np.isfinite(output).all():
            raise NonFiniteOnnxOutputError(
                f"model {self.source} produced NaN or infinite pixels; nothing was written from it"
            )
        return output

    def translate(
        self,
        images: Image.Image | Sequence[Image.Image] | np.ndarray,
        direction: str | None = None,
        *,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
        batch_size: int = 16,
        current_age: Any = None,
    ) -> Any:
        """Translate a PIL image, a list of them, or an array; returns the same kind that came in
        (``current_age``: a ``reager`` student's faces' own age, see :meth:`translate_batch`)."""
        options: dict[str, Any] = {
            "target_age": target_age, "attributes": attributes, "strength": strength, "batch_size": batch_size,
        }  # fmt: skip
        if current_age is not None:
            options["current_age"] = current_age
        if isinstance(images, np.ndarray):
            single = images.ndim == 3
            result = self.translate_batch(images[None] if single else images, direction, **options)
            return result[0] if single else result
        if isinstance(images, Image.Image):
            return self.translate([images], direction, **options)[0]
        pictures = list(images)
        self.condition(direction, target_age, attributes, strength)
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, picture in enumerate(pictures):
            if not isinstance(picture, Image.Image):
                raise AgeshiftError(f"images[{index}] is a {type(picture).__name__}, expected a PIL image")
            by_size.setdefault(picture.size, []).append(index)
        results: list[Image.Image | None] = [None] * len(pictures)
        for indices in by_size.values():
            batch = np.stack([pil_to_array(pictures[i]) for i in indices])
            for i, translated in zip(indices, self.translate_batch(batch, direction, **options), strict=True):
                results[i] = array_to_pil(translated)
        return results

    def generate(self, count: int, label: str | int | None = None, seed: int | None = None) -> np.ndarray:
        """Draw ``count`` images from a generator graph (numpy's noise: a seed gives other images than PyTorch's).

        Returns:
            ``(count, 3, S, S)`` float32 in ``[-1, 1]``.
        """
        if self.kind != "generator":
            raise AgeshiftError(f"model {self.source} translates images; it does not generate")
        random = np.random.default_rng(seed)
        feeds: dict[str, np.ndarray] = {
            "noise": random.standard_normal((count, int(self.contract["latent_dim"]))).astype(np.float32)
        }
        labels = next(
            (entry["values"] for entry in self.contract["inputs"] if entry["name"] == "labels"), None
        )
        if labels is not None:
            if label is None:
                feeds["labels"] = random.integers(len(labels), size=count).astype(np.int64)
            elif str(label) in labels or (str(label).isdigit() and int(label) < len(labels)):
                index = labels.index(str(label)) if str(label) in labels else int(label)
                feeds["labels"] = np.full(count, index, np.int64)
            else:
                raise ConditionError(f"unknown label {label!r}; this model draws {', '.join(labels)}")
        elif label is not None:
            raise ConditionError(
                f"this {self.family} model is unconditional: it takes no label (got {label!r})"
            )
        return self.sessions["generator"].run(["output"], feeds)[0]

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary, as ``Translator.describe`` (plus the backend)."""
        return {
            "family": self.family,
            "image_size": self.image_size,
            "conditions": self.conditions.describe(),
            "card": self.card,
            "metadata": self.metadata,
            "backend": self.backend,
        }


def load_onnx(model: str | Path, threads: int = 0, int8: bool = False) -> OnnxTranslator:
    """Load a model folder's ONNX graphs (written by ``ageshift export --onnx`` or ``ageshift export-onnx``).

    Args:
        model: the model folder.
        threads: onnxruntime intra-op threads (0: its default).
        int8: use the int8 graphs (``card.onnx.int8``, written by ``ageshift export-onnx --int8``).

    Returns:
        An :class:`OnnxTranslator`.

    Raises:
        ModelLoadError: not a folder, no ``config.json``, no ONNX contract, or a graph missing.
    """
    directory = Path(model)
    config_path = directory / "config.json"
    if not config_path.is_file():
        hint = f"; export it first: ageshift export-onnx {model} --out DIR" if not directory.exists() else ""
        raise ModelLoadError(f"{directory}: not a model folder (no config.json){hint}")
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise ModelLoadError(f"{config_path}: cannot be read as JSON ({error})") from None
    contract = (document.get("card") or {}).get("onnx") if isinstance(document, dict) else None
    if not isinstance(contract, dict):
        raise ModelLoadError(
            f"{directory}: has no ONNX graphs; write them with: ageshift export-onnx {directory} --out DIR"
        )
    if contract.get("version") not in CONTRACT_VERSIONS:
        raise ModelLoadError(f"{config_path}: onnx contract version {contract.get('version')!r} is not known")
    if contract.get("kind") not in KINDS or not isinstance(contract.get("graphs"), dict):
        raise ModelLoadError(
            f"{config_path}: card.onnx is malformed (kind {contract.get('kind')!r}, one of {', '.join(KINDS)}; "
            "graphs: a mapping); export it again with ageshift export-onnx"
        )
    if int8 and not isinstance(contract.get("int8"), dict):
        raise ModelLoadError(
            f"{directory}: has no int8 graphs; write them with: ageshift export-onnx MODEL --out DIR --int8"
        )
    graphs = (contract.get("int8") or {}).get("graphs") if int8 else contract.get("graphs")
    for file_name in (graphs or {}).values():
        if not (directory / file_name).is_file():
            raise ModelLoadError(f"{directory / file_name}: the ONNX graph named in config.json is missing")
    size = document.get("image_size")
    if not isinstance(size, int) or size < 1:
        raise ModelLoadError(f"{config_path}: image_size: missing (required)")
    try:
        return OnnxTranslator(directory, document, threads, int8)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelLoadError(
            f"{config_path}: card.onnx is malformed ({type(error).__name__}: {error})"
        ) from None
