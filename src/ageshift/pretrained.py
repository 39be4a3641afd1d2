"""One save/load format for every set of weights ageshift writes: ``config.json`` + ``model.safetensors``.

Translators of every family, the age regressor and latent directions are all folders of this shape::

    MODEL/
      config.json        {"format": "ageshift", "format_version": 2, "kind": ..., "family": ..., "config": {...},
                          "card": {...}, ...kind-specific fields}
      model.safetensors  the tensors

``config.json`` is also the model card (``card``): the family, the training data (name, size, labels used), the
licence and origin of every third-party weight or data set the model came from, and the measured evaluation
summary when there is one. :func:`write_pretrained` and :func:`read_pretrained` are the only code that
touches these files, so every kind gets the same atomic writes, version checks and error messages.
Folders written by ageshift 0.1 (``format: ageshift-translator``, ``ageshift-age-regressor`` and
``ageshift-latent-direction``) are read too, converted on the fly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import AgeshiftError, ModelLoadError
from .io import atomic_write

FORMAT = "ageshift"
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: What ageshift writes, by ``kind``.
KINDS = ("translator", "age-regressor", "latent-direction")


@dataclass
class Pretrained:
    """The contents of a model folder, before any network is built.

    Attributes:
        kind: one of :data:`KINDS`.
        family: the model family (``"cyclegan"``, ``"stargan"``, …) or the kind's own name.
        config: enough to rebuild the networks (the family's config as a plain dict).
        tensors: the weights by name, on the CPU.
        card: the model card (see :func:`model_card`).
        fields: the kind's other top-level entries (``image_size``, ``conditions``, ``metadata``, …).
        path: the folder it was read from (``None`` before saving).
    """

    kind: str
    family: str
    config: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    card: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def describe(self) -> str:
        """How to name this model in messages: its folder, or its kind and family."""
        return str(self.path) if self.path is not None else f"{self.kind} {self.family}"


def model_card(
    family: str,
    summary: str = "",
    training_data: dict[str, Any] | None = None,
    licences: list[dict[str, str]] | None = None,
    evaluation: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The model card stored in ``config.json``.

    Args:
        family: the model family.
        summary: one line on what the model does.
        training_data: ``{"name", "size", "labels", "licence", "source"}`` of the data it was trained on.
        licences: one ``{"name", "licence", "origin", "used_for"}`` per third-party weight or data set.
        evaluation: the measured evaluation summary, when there is one.
        extra: further JSON-able facts.

    Returns:
        A JSON-able dict.
    """
    return {
        "family": family,
        "summary": summary,
        "training_data": training_data,
        "licences": list(licences or []),
        "evaluation": evaluation,
        **extra,
    }


def write_pretrained(directory: str | Path, pretrained: Pretrained) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created), each atomically.

    The weights are written first, so a folder never holds a config whose weights are missing.

    Returns:
        The folder.
    """
    from safetensors.torch import save

    if pretrained.kind not in KINDS:
        raise AgeshiftError(f"unknown model kind {pretrained.kind!r}; one of {', '.join(KINDS)}")
    reserved = {"format", "format_version", "kind", "family", "config", "card"} & set(pretrained.fields)
    if reserved:
        raise AgeshiftError(f"model fields {sorted(reserved)} are reserved for the format itself")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ModelLoadError(f"{directory}: exists and is not a folder; choose another output")
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: value.detach().cpu().contiguous() for name, value in pretrained.tensors.items()}
    header = {"format": FORMAT, "kind": pretrained.kind, "family": pretrained.family}
    try:
        with atomic_write(directory / WEIGHTS_FILE) as stream:
            stream.write(save(tensors, metadata=header))
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": pretrained.kind,
            "family": pretrained.family,
            "config": pretrained.config,
            "card": pretrained.card,
            **pretrained.fields,
        }
        with atomic_write(directory / CONFIG_FILE, "w") as stream:
            json.dump(document, stream, indent=2, sort_keys=True, allow_nan=False)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{directory}: cannot write the model folder ({error})") from None
    pretrained.path = directory
    return directory


def read_pretrained(directory: str | Path, kind: str | None = None) -> Pretrained:
    """Read a model folder written by :func:`write_pretrained` (or by ageshift 0.1).

    Args:
        directory: the folder.
        kind: the kind expected (``None``: any).

    Returns:
        A :class:`Pretrained` with the tensors on the CPU.

    Raises:
        ModelLoadError: naming the file and the problem: missing files, invalid JSON, another format, a newer
            format version, another kind, corrupt weights.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    if not directory.exists():
        raise ModelLoadError(f"{directory}: model folder does not exist")
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    document = _read_config(directory, config_path)
    converted = _convert_legacy(document, config_path)
    if converted.get("format") != FORMAT:
        raise ModelLoadError(
            f"{config_path}: not an ageshift model (format {converted.get('format')!r}, expected {FORMAT!r})"
        )
    version = converted.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelLoadError(
            f"{config_path}: format version {version} is newer than this ageshift understands "
            f"({FORMAT_VERSION}); upgrade ageshift"
        )
    found_kind = converted.get("kind")
    if kind is not None and found_kind != kind:
        raise ModelLoadError(f"{directory}: holds a {found_kind or 'unknown'} model, expected a {kind}")
    if not weights_path.is_file():
        raise ModelLoadError(f"{directory}: {WEIGHTS_FILE} is missing (the folder is incomplete)")
    try:
        tensors = load_file(weights_path, device="cpu")
    except (SafetensorError, OSError) as error:
        raise ModelLoadError(f"{weights_path}: corrupt weights file ({error})") from None
    config = converted.get("config", {})
    card = converted.get("card") or {}
    if not isinstance(config, dict) or not isinstance(card, dict):
        raise ModelLoadError(f"{config_path}: 'config' and 'card' must be JSON objects")
    rest = {
        key: value
        for key, value in converted.items()
        if key not in ("format", "format_version", "kind", "family", "config", "card")
    }
    return Pretrained(
        str(found_kind), str(converted.get("family")), config, tensors, card, rest, path=directory
    )


def _read_config(directory: Path, config_path: Path) -> dict[str, Any]:
    if not directory.is_dir() or not config_path.is_file():
        raise ModelLoadError(
            f"{directory}: not an ageshift model (expected {CONFIG_FILE} and {WEIGHTS_FILE}; "
            "make one with `ageshift export RUN --out MODEL`)"
        )
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{config_path}: not valid JSON ({error})") from None
    except OSError as error:
        raise ModelLoadError(f"{config_path}: cannot read ({error.strerror or error})") from None
    if not isinstance(document, dict):
        raise ModelLoadError(f"{config_path}: expected a JSON object, got {type(document).__name__}")
    return document


def _translator_v1(document: dict[str, Any]) -> dict[str, Any]:
    """``ageshift-translator`` v1 (ageshift 0.1): a two-domain CycleGAN with ``older.*``/``younger.*`` keys."""
    metadata = document.get("metadata") or {}
    directions = document.get("available_directions", ["older", "younger"])
    return {
        "format": FORMAT,
        "format_version": 1,
        "kind": "translator",
        "family": document.get("family"),
        "config": document.get("model", {}),
        "card": model_card(
            str(document.get("family")),
            "written by ageshift 0.1 (format ageshift-translator v1)",
            {"name": metadata.get("dataset")} if metadata.get("dataset") else None,
        ),
        "image_size": document.get("image_size"),
        "networks": list(directions),
        "conditions": {"directions": list(directions)},
        "metadata": metadata,
    }


#: Readers of the formats ageshift 0.1 wrote, by their ``format`` name.
LEGACY_FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ageshift-translator": _translator_v1,
}


def register_legacy_format(name: str, convert: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Teach :func:`read_pretrained` an old ``config.json`` layout (``convert`` returns the current one)."""
    LEGACY_FORMATS[name] = convert


def _convert_legacy(document: dict[str, Any], config_path: Path) -> dict[str, Any]:
    name = document.get("format")
    if name == FORMAT or name not in LEGACY_FORMATS:
        return document
    if document.get("format_version", 1) > 1:
        raise ModelLoadError(f"{config_path}: {name} version {document['format_version']} is not known")
    return LEGACY_FORMATS[str(name)](document)
