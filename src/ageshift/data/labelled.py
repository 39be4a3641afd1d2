"""Labelled images for conditional models: one split of a dataset with an age and attribute labels per image.

The images and their labels come from ``DATA/manifest.csv`` (rows of one split, any domain, so both the
labelled ``train/ test/`` layout and the two-domain ``trainA/ trainB/`` layout work); which labels exist,
and the fixed order of each attribute's values, comes from the ``"labels"`` entry of ``dataset.json``::

    "labels": {"age": {"min": 1, "max": 90}, "attributes": {"gender": ["female", "male"], "race": [...]}}

Attributes are delivered as indices into that order, so a model's class ids mean the same thing in every
run. Decoding and caching are :class:`~ageshift.data.folders.ImageFiles`'.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .folders import DEFAULT_CACHE_MB, ImageFiles
from .manifest import DATASET_JSON_NAME, MANIFEST_NAME, read_dataset_json, read_manifest

#: The key of ``dataset.json`` that holds the label schema.
LABELS_KEY = "labels"
#: Manifest columns that are never labels.
_NOT_ATTRIBUTES = ("file", "split", "age")
#: How a schema's own errors begin; :meth:`LabelSchema.from_json` swaps it for the document's name.
_SCHEMA = "label schema: "


@dataclass(frozen=True)
class LabelSchema:
    """Which labels a dataset has: an age range and, per attribute, its allowed values in a fixed order.

    Args:
        age: ``(min, max)`` in years when the data has ages, else ``None``.
        attributes: attribute name → allowed values; a value's position is its class id.
    """

    age: tuple[float, float] | None = None
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.age is not None:
            try:
                low, high = (float(value) for value in self.age)
            except (TypeError, ValueError):
                low, high = math.nan, math.nan
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise DataError(f"{_SCHEMA}age range {self.age} must be two finite numbers, min <= max")
            object.__setattr__(self, "age", (low, high))
        attributes: dict[str, tuple[str, ...]] = {}
        for name, values in self.attributes.items():
            values = tuple(values)
            if not name or not isinstance(name, str):
                raise DataError(f"{_SCHEMA}attribute name {name!r} must be a non-empty string")
            if not values or not all(isinstance(value, str) and value for value in values):
                raise DataError(
                    f"{_SCHEMA}attribute '{name}' needs a list of non-empty strings, got {values}"
                )
            if len(set(values)) != len(values):
                raise DataError(f"{_SCHEMA}attribute '{name}' lists a value twice: {', '.join(values)}")
            attributes[name] = values
        object.__setattr__(self, "attributes", attributes)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "labels") -> LabelSchema:
        """Read the ``"labels"`` entry of ``dataset.json``.

        Args:
            data: ``{"age": {"min": lo, "max": hi} | null, "attributes": {name: [values…]}}``; both keys
                optional, other keys ignored (room for later label kinds).
            where: names the document in error messages.

        Returns:
            The schema.
        """
        if not isinstance(data, dict):
            raise DataError(f"{where}: must be an object with 'age' and 'attributes', got {data!r}")
        age = data.get("age")
        if age is not None:
            numbers = isinstance(age, dict) and all(
                isinstance(age.get(key), int | float) and not isinstance(age.get(key), bool)
                for key in ("min", "max")
            )
            if not numbers:
                raise DataError(
                    f'{where}: \'age\' must be null or {{"min": number, "max": number}}, got {age!r}'
                )
            age = (age["min"], age["max"])
        attributes = data.get("attributes") or {}
        if not isinstance(attributes, dict) or not all(isinstance(v, list) for v in attributes.values()):
            raise DataError(
                f"{where}: 'attributes' must map each name to a list of values, got {attributes!r}"
            )
        try:
            return cls(age, {name: tuple(values) for name, values in attributes.items()})
        except DataError as error:
            raise DataError(f"{where}: {str(error).removeprefix(_SCHEMA)}") from None

    def to_json(self) -> dict[str, Any]:
        """The ``"labels"`` entry of ``dataset.json`` (the inverse of :meth:`from_json`)."""
        age = None if self.age is None else {"min": _number(self.age[0]), "max": _number(self.age[1])}
        return {"age": age, "attributes": {name: list(values) for name, values in self.attributes.items()}}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


class LabelledImages(ImageFiles):
    """The readable images of one split with their labels, delivered as square batches at the current size.

    Rows whose age or attribute is empty are kept, with ``NaN`` age or ``-1`` id. Unreadable images are
    skipped (listed in :attr:`skipped`) and their labels dropped with them.

    Args:
        root: the dataset folder holding ``manifest.csv`` (file paths in it are relative to ``root``).
        size: side of the square images delivered by :meth:`load`.
        split: the manifest split to read (``"train"`` or ``"test"``), rows of any domain.
        schema: the labels to use; default the ``"labels"`` entry of ``root/dataset.json``, or, when it has
            none, inferred from the manifest (a numeric ``age`` column gives the age range of the data;
            each column named in ``attributes`` gives its sorted distinct values).
        attributes: the attribute columns to use; default every attribute of the schema.
        cache_mb: memory cap for the cache of decoded, resized images.
        workers: threads that decode images for uncached batches.
        progress: show a progress bar while scanning.

    Attributes:
        files: the readable images, in manifest order.
        schema: the schema restricted to the chosen attributes.
        ages: ``(N,)`` float32 years, ``NaN`` where unknown.
        attribute_ids: name → ``(N,)`` int64 index into ``schema.attributes[name]``, ``-1`` where unknown.

    Raises:
        DataError: the manifest is missing or has no rows of ``split``; an attribute is not a manifest
            column or not in the schema; a label value is not in the schema; a row names a missing file;
            no image is readable.
    """

    def __init__(
        self,
        root: str | Path,
        size: int,
        split: str = "train",
        *,
        schema: LabelSchema | None = None,
        attributes: Sequence[str] | None = None,
        cache_mb: float = 2 * DEFAULT_CACHE_MB,
        workers: int = 0,
        progress: bool = False,
    ) -> None:
        self.root = Path(root)
        self.split = split
        manifest = self.root / MANIFEST_NAME
        rows = read_manifest(manifest)
        if not rows:
            raise DataError(f"{manifest}: no rows (one per image is expected)")
        columns = [column for column in rows[0] if column is not None]
        for needed in ("file", "split"):
            if needed not in columns:
                raise DataError(f"{manifest}: no '{needed}' column (columns: {', '.join(columns) or 'none'})")
        numbered = [(line, row) for line, row in enumerate(rows, start=2) if row["split"] == split]
        if not numbered:
            present = ", ".join(sorted({row["split"] or "''" for row in rows}))
            raise DataError(f"{manifest}: no rows of split '{split}' (splits present: {present})")
        self.schema = self._choose_schema(schema, attributes, rows, columns, manifest)

        ages = np.full(len(numbered), np.nan, dtype=np.float32)
        ids = {name: np.full(len(numbered), -1, dtype=np.int64) for name in self.schema.attributes}
        paths = []
        for position, (line, row) in enumerate(numbered):
            where = f"{manifest}, line {line}"
            path = self.root / (row.get("file") or "")
            if not row.get("file") or not path.is_file():
                raise DataError(
                    f"{where}: image file '{row.get('file') or ''}' does not exist under {self.root}"
                )
            paths.append(path)
            where = f"{where} ({row['file']})"
            if self.schema.age is not None:
                ages[position] = _parse_age(row.get("age"), where, self.schema.age)
            for name, values in self.schema.attributes.items():
                ids[name][position] = _attribute_id(row.get(name), name, values, where)

        super().__init__(paths, size, cache_mb, workers, progress, f"reading {self.root.name}/{split}")
        if not self.files:
            first = self.skipped[0]
            raise DataError(
                f"{manifest}: none of the {len(paths)} images of split '{split}' is readable "
                f"(e.g. {first.reason})"
            )
        kept = np.asarray(self.kept, dtype=np.int64)
        self.ages: np.ndarray = ages[kept]
        self.attribute_ids: dict[str, np.ndarray] = {name: values[kept] for name, values in ids.items()}

    @staticmethod
    def _choose_schema(
        schema: LabelSchema | None,
        attributes: Sequence[str] | None,
        rows: list[dict[str, str]],
        columns: list[str],
        manifest: Path,
    ) -> LabelSchema:
        """The given schema, dataset.json's, or one inferred from the manifest; restricted to ``attributes``."""
        source = "the given schema"
        if schema is None:
            description = read_dataset_json(manifest.parent)
            if description.get(LABELS_KEY) is not None:
                source = f'{manifest.parent / DATASET_JSON_NAME} "{LABELS_KEY}"'
                schema = LabelSchema.from_json(description[LABELS_KEY], where=source)
            else:
                source = f"{manifest} (no labels in {DATASET_JSON_NAME})"
                schema = _infer_schema(rows, columns, attributes or (), manifest)
        chosen = list(dict.fromkeys(schema.attributes if attributes is None else attributes))
        for name in chosen:
            if name in _NOT_ATTRIBUTES:
                raise DataError(f"{manifest}: '{name}' cannot be an attribute (file, split and age are not)")
            if name not in schema.attributes:
                known = ", ".join(schema.attributes) or "none"
                raise DataError(f"{source}: unknown attribute '{name}' (attributes: {known})")
            if name not in columns:
                raise DataError(f"{manifest}: unknown column '{name}' (columns: {', '.join(columns)})")
        if schema.age is not None and "age" not in columns:
            raise DataError(f"{manifest}: no 'age' column, but {source} has an age range")
        return LabelSchema(schema.age, {name: schema.attributes[name] for name in chosen})

    def labels(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The labels of a batch by index.

        Args:
            indices: positions in :attr:`files`.

        Returns:
            ``{"age": (n,) float32 years (NaN unknown), "<attribute>": (n,) int64 ids (-1 unknown)}``;
            ``"age"`` only when the schema has ages.
        """
        positions = np.asarray(indices, dtype=np.int64)
        result: dict[str, torch.Tensor] = {}
        if self.schema.age is not None:
            result["age"] = torch.from_numpy(self.ages[positions].copy())
        for name, ids in self.attribute_ids.items():
            result[name] = torch.from_numpy(ids[positions].copy())
        return result

    def known(self) -> np.ndarray:
        """Positions of the images whose every label (age and chosen attributes) is known, ascending."""
        mask = np.ones(len(self.files), dtype=bool)
        if self.schema.age is not None:
            mask &= ~np.isnan(self.ages)
        for ids in self.attribute_ids.values():
            mask &= ids >= 0
        return np.flatnonzero(mask)


def sample_targets(
    dataset: LabelledImages, count: int, generator: torch.Generator, age_jitter: float = 0.0
) -> dict[str, torch.Tensor]:
    """Draw target conditions from the data's own label distribution (age and attributes jointly).

    Rows are drawn uniformly, with replacement, from the images whose labels are all known, and their
    labels taken; only ``generator`` is used, so a resumed run that restores it draws the same targets.

    Args:
        dataset: the training images.
        count: number of targets.
        generator: the random source (its device decides where the draws happen).
        age_jitter: add uniform noise in ``±age_jitter`` years to the ages (clamped to the schema's range),
            so targets are not only the ages present in the data.

    Returns:
        ``{"age": (count,) float32, "<attribute>": (count,) int64}`` on the CPU, keys as
        :meth:`LabelledImages.labels`.
    """
    if count < 0:
        raise ConfigError(f"target count must not be negative, got {count}")
    if age_jitter < 0:
        raise ConfigError(f"age jitter must not be negative, got {age_jitter}")
    eligible = dataset.known()
    if len(eligible) == 0:
        names = ", ".join(
            (["age"] if dataset.schema.age is not None else []) + list(dataset.schema.attributes)
        )
        raise DataError(
            f"{dataset.root} ({dataset.split}): no image has every label known ({names}); "
            "cannot sample target conditions"
        )
    draws = torch.randint(len(eligible), (count,), generator=generator, device=generator.device).cpu()
    targets = dataset.labels(eligible[draws.numpy()])
    if age_jitter > 0 and dataset.schema.age is not None:
        noise = torch.rand(count, generator=generator, device=generator.device).cpu() * 2 - 1
        low, high = dataset.schema.age
        targets["age"] = (targets["age"] + noise * age_jitter).clamp(low, high)
    return targets


def _infer_schema(
    rows: list[dict[str, str]], columns: list[str], attributes: Iterable[str], manifest: Path
) -> LabelSchema:
    """A schema from all rows of the manifest (every split, so train and test agree)."""
    age = None
    if "age" in columns:
        ages = [
            _parse_age(row.get("age"), f"{manifest}, line {line} ({row.get('file')})")
            for line, row in enumerate(rows, start=2)
        ]
        known = [value for value in ages if not math.isnan(value)]
        age = (min(known), max(known)) if known else None
    values: dict[str, tuple[str, ...]] = {}
    for name in attributes:
        if name in _NOT_ATTRIBUTES:
            raise DataError(f"{manifest}: '{name}' cannot be an attribute (file, split and age are not)")
        if name not in columns:
            raise DataError(f"{manifest}: unknown column '{name}' (columns: {', '.join(columns)})")
        found = sorted({(row.get(name) or "").strip() for row in rows} - {""})
        if not found:
            raise DataError(f"{manifest}: column '{name}' has no values, so it cannot be an attribute")
        values[name] = tuple(found)
    return LabelSchema(age, values)


def _parse_age(text: str | None, where: str, limits: tuple[float, float] | None = None) -> float:
    """A manifest age in years; ``NaN`` when empty."""
    text = (text or "").strip()
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: age '{text}' is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: age '{text}' is not a finite number")
    if limits is not None and not limits[0] <= value <= limits[1]:
        raise DataError(
            f"{where}: age {text} is outside the schema's range {_number(limits[0])}-{_number(limits[1])}"
        )
    return value


def _attribute_id(text: str | None, name: str, values: tuple[str, ...], where: str) -> int:
    """The class id of an attribute value; ``-1`` when empty."""
    text = (text or "").strip()
    if not text:
        return -1
    if text not in values:
        raise DataError(f"{where}: {name} '{text}' is not in the schema ({', '.join(values)})")
    return values.index(text)
