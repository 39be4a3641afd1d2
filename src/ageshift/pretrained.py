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
Folders written by ageshift 0.1 are read too, converted on the fly: ``format: ageshift-translator`` here,
the age estimator's (``ageshift-age-estimator``) and latent directions' (``ageshift-latent-direction``, in
``direction.json`` + ``direction.safetensors``) by converters their modules register with
:func:`register_legacy_format`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import MAX_IMAGE_SIZE, from_dict, within
from .errors import AgeshiftError, ConfigError, ModelLoadError
from .io import atomic_write

FORMAT = "ageshift"
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: What ageshift writes, by ``kind``.
KINDS = ("translator", "age-regressor", "latent-direction", "generator")
#: How messages name a folder of each kind, and the command that makes one.
_KIND_NAMES = {
    "translator": ("a translator model", "ageshift export RUN --out MODEL"),
    "age-regressor": ("an age estimator", "ageshift train-age-estimator --data DATA --out MODEL"),
    "latent-direction": ("a latent direction", "ageshift latent fit-direction --out DIRECTION"),
    "generator": ("an image generator", "ageshift export RUN --out MODEL"),
}


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
    #: the config file it was read from (``config.json``, or an old layout's), for messages naming a field.
    config_path: Path | None = None

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
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": pretrained.kind,
        "family": pretrained.family,
        "config": pretrained.config,
        "card": pretrained.card,
        **pretrained.fields,
    }
    try:
        # Serialised before anything is written: a value JSON cannot hold must not leave new weights
        # beside the config of the model this folder held before.
        text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise AgeshiftError(f"{directory}: the model's config cannot be saved as JSON ({error})") from None
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: value.detach().cpu().contiguous() for name, value in pretrained.tensors.items()}
    header = {"format": FORMAT, "kind": pretrained.kind, "family": pretrained.family}
    try:
        with atomic_write(directory / WEIGHTS_FILE) as stream:
            stream.write(save(tensors, metadata=header))
        with atomic_write(directory / CONFIG_FILE, "w") as stream:
            stream.write(text)
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
    noun, command = _KIND_NAMES.get(kind or "", ("an ageshift model", "ageshift export RUN --out MODEL"))
    if not directory.exists():
        raise ModelLoadError(f"{directory}: {noun.split(' ', 1)[1]} folder does not exist")
    config_path, weights_path = _folder_files(directory)
    if not directory.is_dir() or not config_path.is_file():
        raise ModelLoadError(
            f"{directory}: not {noun} folder (expected {CONFIG_FILE} and {WEIGHTS_FILE}; make one with "
            f"`{command}`)"
        )
    document = _read_config(config_path)
    converted = _convert_legacy(document, config_path)
    if converted.get("format") != FORMAT:
        raise ModelLoadError(
            f"{config_path}: not an ageshift model (format {converted.get('format')!r}, expected {FORMAT!r})"
        )
    version = converted.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelLoadError(f"{config_path}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelLoadError(
            f"{config_path}: format version {version} is newer than this ageshift understands "
            f"({FORMAT_VERSION}); upgrade ageshift"
        )
    for key in ("kind", "family"):
        if not isinstance(converted.get(key), str):
            raise ModelLoadError(f"{config_path}: {key!r} must be a string, got {converted.get(key)!r}")
    found_kind = converted.get("kind")
    if kind is not None and found_kind != kind:
        found = _KIND_NAMES.get(str(found_kind), (f"kind {found_kind!r}",))[0]
        raise ModelLoadError(f"{config_path}: holds {found}, expected {noun}")
    if not weights_path.is_file():
        raise ModelLoadError(f"{weights_path}: weights file is missing (the folder is incomplete)")
    config = converted.get("config", {})
    card = converted.get("card") or {}
    for key, value in (("config", config), ("card", card)):
        if not isinstance(value, dict):
            raise ModelLoadError(f"{config_path}: {key!r} must be a JSON object, got {type(value).__name__}")
    rest = {
        key: value
        for key, value in converted.items()
        if key not in ("format", "format_version", "kind", "family", "config", "card")
    }
    _check_kind_fields(str(found_kind), rest, config_path)
    try:
        tensors = load_file(weights_path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(f"{weights_path}: corrupt weights file ({error})") from None
    _check_finite(tensors, weights_path)
    return Pretrained(
        str(found_kind),
        str(converted.get("family")),
        config,
        tensors,
        card,
        rest,
        path=directory,
        config_path=config_path,
    )


@dataclass
class TranslatorFields:
    """The top-level entries of a translator's ``config.json`` besides its family config (checked on read)."""

    image_size: int = field(metadata=within(1, MAX_IMAGE_SIZE))
    networks: list[str] | None = None
    conditions: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        crop = (self.metadata or {}).get("crop")
        if crop is not None and not isinstance(crop, dict):
            raise ConfigError(f"metadata.crop: expected an object or null, got {crop!r}")
        if self.conditions is not None and not isinstance(self.conditions.get("directions", []), list):
            raise ConfigError(
                f"conditions.directions: expected a list, got {self.conditions['directions']!r}"
            )


#: The schema of each kind's top-level entries (a dataclass read with :func:`ageshift.config.from_dict`, so
#: types and :func:`~ageshift.config.within` ranges are checked); entries a schema does not name are kept
#: unchecked, so newer writers' additions still load.
KIND_FIELDS: dict[str, type] = {"translator": TranslatorFields, "generator": TranslatorFields}


def _check_finite(tensors: dict[str, torch.Tensor], weights_path: Path) -> None:
    """Refuse weights holding NaN or infinity: every output of such a model would be garbage (black faces)."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelLoadError(
                f"{weights_path}: tensor {name!r} holds NaN or infinite values (the training run diverged; "
                "export an earlier checkpoint)"
            )


def _check_kind_fields(kind: str, fields: dict[str, Any], config_path: Path) -> None:
    """Validate a kind's top-level entries against :data:`KIND_FIELDS` before any network is built."""
    schema = KIND_FIELDS.get(kind)
    if schema is None:
        return
    names = {spec.name for spec in dataclasses.fields(schema)}
    try:
        from_dict(schema, {key: value for key, value in fields.items() if key in names})
    except ConfigError as error:
        raise ModelLoadError(f"{config_path}: {error}") from None


def _folder_files(directory: Path) -> tuple[Path, Path]:
    """The config and weights files: ``config.json`` + ``model.safetensors``, or an old layout's pair."""
    if not (directory / CONFIG_FILE).is_file():
        for config_name, weights_name in LEGACY_FILES.items():
            if (directory / config_name).is_file():
                return directory / config_name, directory / weights_name
    return directory / CONFIG_FILE, directory / WEIGHTS_FILE


def _read_config(config_path: Path) -> dict[str, Any]:
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError, a 5000-digit number
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
    for key, value, kind in (
        ("metadata", metadata, dict), ("model", document.get("model", {}), dict), ("available_directions", directions, list),
    ):  # fmt: skip
        if not isinstance(value, kind):
            raise ValueError(f"{key!r} must be a JSON {'object' if kind is dict else 'list'}, got {value!r}")
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
#: Old folder layouts with other file names: config file → weights file (read when config.json is absent).
LEGACY_FILES: dict[str, str] = {}


def register_legacy_format(
    name: str, convert: Callable[[dict[str, Any]], dict[str, Any]], files: tuple[str, str] | None = None
) -> None:
    """Teach :func:`read_pretrained` an old layout.

    Args:
        name: the old ``format`` value.
        convert: turns the old config document into the current one (its tensors are read unchanged).
        files: ``(config file, weights file)`` when the old folders used other names than
            ``config.json`` and ``model.safetensors``.
    """
    LEGACY_FORMATS[name] = convert
    if files is not None:
        LEGACY_FILES[files[0]] = files[1]


def _convert_legacy(document: dict[str, Any], config_path: Path) -> dict[str, Any]:
    name = document.get("format")
    if not isinstance(name, str) or name == FORMAT or name not in LEGACY_FORMATS:
        return document
    if document.get("format_version", 1) != 1:
        raise ModelLoadError(f"{config_path}: {name} version {document['format_version']!r} is not known")
    try:
        converted = LEGACY_FORMATS[name](document)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        detail = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise ModelLoadError(f"{config_path}: malformed {name} document ({detail})") from None
    if not isinstance(converted, dict):
        raise ModelLoadError(f"{config_path}: malformed {name} document")
    return converted


def update_card(directory: str | Path, **entries: Any) -> Path:
    """Set entries of a model folder's card (e.g. ``evaluation=...``) in place, atomically; weights untouched.

    Raises:
        ModelLoadError: the folder is not an ageshift model of the current format (re-export it first).
    """
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise ModelLoadError(f"{directory}: not an ageshift model folder (no {CONFIG_FILE})")
    document = _read_config(config_path)
    if document.get("format") != FORMAT:
        raise ModelLoadError(
            f"{config_path}: written by an older ageshift (format {document.get('format')!r}); "
            "load it and save_pretrained() it again before recording in its card"
        )
    card = dict(document.get("card") or {})
    card.update(entries)
    document["card"] = card
    try:
        text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False)
    except ValueError as error:
        raise ModelLoadError(f"{config_path}: the card entry is not valid JSON ({error})") from None
    with atomic_write(config_path, "w") as stream:
        stream.write(text)
    return config_path
