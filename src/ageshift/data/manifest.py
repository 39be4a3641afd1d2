"""Writing the standard dataset layout: split folders, ``manifest.csv`` and ``dataset.json``.

Every ``ageshift prepare …`` command produces the same layout (see docs/ARCHITECTURE.md)::

    DATA/trainA trainB testA testB   manifest.csv   dataset.json     two domains (A young, B old)
    DATA/train test                  manifest.csv   dataset.json     labelled images (no domains)

``dataset.json`` is read through :func:`read_dataset_json`, the one reader with one policy.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..io import atomic_write

#: The split folders, as (split, domain) → folder name.
SPLIT_FOLDERS = {
    ("train", "A"): "trainA",
    ("train", "B"): "trainB",
    ("test", "A"): "testA",
    ("test", "B"): "testB",
}
#: The split folders of the labelled layout (rows have an empty domain), as split → folder name.
LABELLED_FOLDERS = {"train": "train", "test": "test"}
MANIFEST_NAME = "manifest.csv"
DATASET_JSON_NAME = "dataset.json"


@dataclass(frozen=True)
class ManifestRow:
    """One written image: its path relative to the dataset root, split, domain and known labels."""

    file: str
    split: str
    domain: str
    labels: dict[str, Any] = field(default_factory=dict)


def parse_age_range(text: str, option: str = "age range") -> tuple[int, int]:
    """Parse an inclusive age range such as ``"20-29"`` (or a single age ``"30"``).

    Args:
        text: the range as typed by the user.
        option: the option name, for the error message.

    Returns:
        ``(low, high)`` with ``0 <= low <= high``.
    """
    match = re.fullmatch(r"\s*(\d{1,3})\s*(?:-\s*(\d{1,3})\s*)?", str(text))
    if match is None:
        raise ConfigError(f"{option} '{text}' is not a range like 20-29 (inclusive ages in years)")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    if low > high:
        raise ConfigError(f"{option} '{text}' is empty: the first age must not exceed the second")
    return low, high


def check_disjoint(young: tuple[int, int], old: tuple[int, int]) -> None:
    """Refuse overlapping young/old ranges: an image cannot belong to both domains."""
    if young[0] <= old[1] and old[0] <= young[1]:
        raise ConfigError(
            f"young range {young[0]}-{young[1]} and old range {old[0]}-{old[1]} overlap; choose disjoint ranges"
        )


def check_test_fraction(test_fraction: float) -> float:
    """Validate the share of images held out for testing (0 ≤ fraction < 1)."""
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test fraction must be in [0, 1), got {test_fraction}")
    return float(test_fraction)


def choose_test_items(count: int, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Choose which of ``count`` items go to the test split, deterministically for a given ``rng`` state.

    Args:
        count: number of items.
        test_fraction: share for the test split; at least one item when the fraction is positive and
            ``count >= 2``, and never all of them.
        rng: random generator.

    Returns:
        ``(count,)`` boolean array, ``True`` for test items.
    """
    test_count = int(round(count * test_fraction))
    if test_fraction > 0 and count >= 2:
        test_count = min(max(test_count, 1), count - 1)
    mask = np.zeros(count, dtype=bool)
    mask[rng.permutation(count)[:test_count]] = True
    return mask


def prepare_output(out: str | Path, overwrite: bool = False, folders: Iterable[str] | None = None) -> Path:
    """Create the dataset folder, refusing to mix a new dataset into an existing one.

    Args:
        out: the dataset root.
        overwrite: remove an earlier dataset's split folders (of either layout), manifest and
            dataset.json (nothing else).
        folders: the split folders to create; default the two-domain ``trainA trainB testA testB``
            (pass ``LABELLED_FOLDERS.values()`` for the labelled layout).

    Returns:
        The dataset root as a ``Path``.
    """
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: output exists and is not a folder")
    folders = list(SPLIT_FOLDERS.values() if folders is None else folders)
    # Both layouts' folders count as "an earlier dataset": a stale train/ beside a new trainA/ would mix them.
    known = dict.fromkeys([*SPLIT_FOLDERS.values(), *LABELLED_FOLDERS.values(), *folders])
    ours = [root / name for name in (*known, MANIFEST_NAME, DATASET_JSON_NAME)]
    existing = [path for path in ours if path.exists()]
    if existing and not overwrite:
        raise DataError(
            f"{root}: already holds a dataset ({', '.join(p.name for p in existing)}); "
            "choose an empty folder or pass --overwrite"
        )
    for path in existing:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return root


def write_manifest(out: str | Path, rows: Sequence[ManifestRow], label_columns: Sequence[str]) -> Path:
    """Write ``manifest.csv`` atomically: columns ``file, split, domain`` then ``label_columns``.

    Args:
        out: the dataset root.
        rows: one per written image; missing labels are left empty.
        label_columns: label names in column order.

    Returns:
        The manifest path.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "split", "domain", *label_columns])
    for row in rows:
        labels = [_format_label(row.labels.get(column)) for column in label_columns]
        writer.writerow([row.file, row.split, row.domain, *labels])
    path = Path(out) / MANIFEST_NAME
    with atomic_write(path, "w") as stream:
        stream.write(buffer.getvalue())
    return path


def split_counts(rows: Sequence[ManifestRow]) -> dict[str, int]:
    """Count rows per split folder: ``{"trainA": n, "trainB": n, "testA": n, "testB": n}``."""
    counts = dict.fromkeys(SPLIT_FOLDERS.values(), 0)
    for row in rows:
        counts[SPLIT_FOLDERS[(row.split, row.domain)]] += 1
    return counts


def age_domains(young: tuple[int, int], old: tuple[int, int], **details: Any) -> dict[str, dict[str, Any]]:
    """The ``domains`` entry of ``dataset.json`` for a young (A) / old (B) split by inclusive age ranges."""
    return {
        name: {"label": f"age {low}-{high}", "age_min": low, "age_max": high, **details}
        for name, (low, high) in (("A", young), ("B", old))
    }


def _format_label(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """Read a ``manifest.csv`` (or the one inside a dataset folder) as a list of string dicts."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"{path}: no manifest.csv here")
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def read_dataset_json(root: str | Path, required: bool = False) -> dict[str, Any]:
    """Read ``dataset.json`` from a dataset (or run) folder, or from the file itself.

    One policy for every reader: a missing file is ``{}`` (a plain folder of images is a valid dataset)
    unless ``required``; a file that exists but is not a JSON object is always an error, never ``{}``, so
    a damaged description cannot silently drop the crop and label facts.

    Args:
        root: the folder holding ``dataset.json``, or the path of the file.
        required: raise when the file is missing instead of returning ``{}``.

    Returns:
        The parsed document.

    Raises:
        DataError: the file is missing (with ``required``), unreadable, not valid JSON or not an object.
    """
    path = Path(root)
    if path.is_dir() or path.suffix.lower() != ".json":
        path = path / DATASET_JSON_NAME
    if not path.is_file():
        if required:
            raise DataError(f"{path}: missing (every `ageshift prepare` command writes it)")
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(document), "a number"
        )
        raise DataError(f"{path}: must hold a JSON object, found {kind}")
    return document


def write_dataset_json(
    out: str | Path,
    name: str,
    source: str,
    domains: dict[str, dict[str, Any]],
    image_size: int,
    crop: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``dataset.json`` atomically in the layout of docs/ARCHITECTURE.md.

    Args:
        out: the dataset root.
        name: dataset name (e.g. ``"utkface"``).
        source: where the images came from (a folder, or ``"synthetic"``).
        domains: ``{"A": {"label": ..., ...}, "B": {...}}``.
        image_size: side of the written square images.
        crop: the crop template facts, or ``None``.
        extra: further keys (counts, seed, options) recorded for reproducibility.

    Returns:
        The path written.
    """
    document = {"name": name, "source": source, "domains": domains, "image_size": image_size, "crop": crop}
    document.update(extra or {})
    path = Path(out) / DATASET_JSON_NAME
    with atomic_write(path, "w") as stream:
        json.dump(document, stream, indent=2)
        stream.write("\n")
    return path
