"""UTKFace preparation: parse the labels in the file names, select two age groups (or keep every age with
its labels), split and resize.

UTKFace names its images ``age_gender_race_datetime.jpg.chip.jpg`` (age in years, gender 0 = male,
1 = female, race 0-4 = White, Black, Asian, Indian, Others). The real download holds a few names with a
missing or non-numeric field; they are reported and skipped, never guessed. Manifests and the ``"labels"``
entry of ``dataset.json`` hold the names (``"female"``, ``"Asian"``), never the codes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ImageLoadError
from ..image import center_crop_square, resize_pil
from ..io import list_images, load_image, save_image
from .labelled import LABELS_KEY, LabelSchema
from .manifest import (
    LABELLED_FOLDERS,
    SPLIT_FOLDERS,
    ManifestRow,
    age_domains,
    check_disjoint,
    check_test_fraction,
    choose_test_items,
    prepare_output,
    split_counts,
    write_dataset_json,
    write_manifest,
)

GENDERS = ("male", "female")
RACES = ("White", "Black", "Asian", "Indian", "Others")
#: The attributes of the ``"labels"`` entry: every UTKFace value, sorted, whatever the selection kept, so
#: class ids mean the same in every dataset prepared from UTKFace.
UTKFACE_ATTRIBUTES = {"gender": tuple(sorted(GENDERS)), "race": tuple(sorted(RACES))}
#: Manifest label columns, in order.
MANIFEST_COLUMNS = ["age", "gender", "race", "source"]
#: Gender filters ``select_utkface`` accepts.
GENDER_FILTERS = ("any", "male", "female")
#: Facts about UTKFace's "Aligned&Cropped Faces": 200² JPEG chips, aligned on facial landmarks, showing the
#: whole face with a little hair and background (the dataset does not publish its alignment parameters).
#: ``ageshift.faces.align`` holds a five-point "utkface" template fitted to such chips, so the crop itself
#: needs no extra padding; ``size`` is set to the written image side.
UTKFACE_CROP = {
    "template": "utkface",
    "padding": 0.0,
    "source_size": 200,
    "aligned": True,
    "note": "UTKFace 'Aligned&Cropped Faces' 200x200 chips, resized; alignment parameters not published",
}
#: ``age_gender_race_datetime`` then ``.jpg.chip.jpg`` (aligned chips) or ``.jpg`` (in-the-wild originals).
_NAME_PATTERN = re.compile(r"^(\d{1,3})_([01])_([0-4])_(\d{8,17})(?:\.jpg\.chip)?\.jpg$", re.IGNORECASE)
#: How many malformed or unreadable names a report quotes.
QUOTED_NAMES = 5


@dataclass(frozen=True)
class UTKFaceRecord:
    """One UTKFace image and the labels in its name."""

    path: Path
    age: int
    gender: str
    race: str
    datetime: str


@dataclass
class UTKFaceScan:
    """The labelled images under a folder, and the names that could not be parsed."""

    records: list[UTKFaceRecord]
    malformed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UTKFacePrepareReport:
    """What :func:`prepare_utkface` found and wrote."""

    out: Path
    found: int
    malformed: list[str]
    unreadable: list[str]
    selected: dict[str, int]
    counts: dict[str, int]


#: UTKFace's terms, recorded in dataset.json and from there in every model card trained on it.
UTKFACE_LICENCE = "UTKFace: non-commercial research purposes only"


def parse_utkface_name(path: str | Path) -> UTKFaceRecord | None:
    """Read age, gender, race and timestamp from a UTKFace file name.

    Args:
        path: the file (only its name is parsed).

    Returns:
        The record, or ``None`` when the name does not follow ``age_gender_race_datetime.jpg.chip.jpg``.
    """
    path = Path(path)
    match = _NAME_PATTERN.match(path.name)
    if match is None:
        return None
    age, gender, race, stamp = match.groups()
    return UTKFaceRecord(path, int(age), GENDERS[int(gender)], RACES[int(race)], stamp)


def scan_utkface(source: str | Path) -> UTKFaceScan:
    """Find and parse the UTKFace images under ``source`` (or its ``UTKFace/`` sub-folder).

    Args:
        source: the folder of images (searched recursively) or the folder holding ``UTKFace/``.

    Returns:
        A :class:`UTKFaceScan`: records sorted by file name; malformed and duplicate names.
    """
    root = Path(source)
    if (root / "UTKFace").is_dir():
        root = root / "UTKFace"
    scan = UTKFaceScan(records=[])
    seen: set[str] = set()
    for path in list_images(root):
        record = parse_utkface_name(path)
        if record is None:
            scan.malformed.append(path.name)
        elif path.name in seen:
            # The same chip under two sub-folders (e.g. UTKFace/ and crop_part1/) must not count twice.
            scan.duplicates.append(path.name)
        else:
            seen.add(path.name)
            scan.records.append(record)
    scan.records.sort(key=lambda record: record.path.name)
    return scan


def age_histogram(records: Sequence[UTKFaceRecord], width: int = 10) -> dict[str, int]:
    """Count records per age bracket of ``width`` years, e.g. ``{"20-29": 412, ...}`` (non-empty only)."""
    counts = Counter(record.age // width for record in records)
    return {f"{k * width}-{k * width + width - 1}": counts[k] for k in sorted(counts)}


def select_utkface(
    records: Sequence[UTKFaceRecord],
    young: tuple[int, int],
    old: tuple[int, int],
    gender: str = "any",
    balance: bool = False,
    seed: int = 0,
) -> dict[str, list[UTKFaceRecord]]:
    """Split records into the young (A) and old (B) domains by inclusive age ranges.

    Args:
        records: parsed images.
        young: ages of domain A.
        old: ages of domain B.
        gender: ``"any"``, ``"male"`` or ``"female"``.
        balance: subsample the larger domain (deterministically by ``seed``) to the size of the smaller.
        seed: random seed for balancing.

    Returns:
        ``{"A": [...], "B": [...]}``, each sorted by file name.
    """
    check_disjoint(young, old)
    if gender not in GENDER_FILTERS:
        raise ConfigError(f"gender '{gender}' is not one of {', '.join(GENDER_FILTERS)}")
    kept = [r for r in records if gender == "any" or r.gender == gender]
    domains = {
        "A": [r for r in kept if young[0] <= r.age <= young[1]],
        "B": [r for r in kept if old[0] <= r.age <= old[1]],
    }
    empty = [name for name, members in domains.items() if not members]
    if empty:
        ranges = {"A": young, "B": old}
        wanted = " and ".join(f"{ranges[d][0]}-{ranges[d][1]}" for d in empty)
        raise DataError(
            f"no images with age {wanted} (gender {gender}) among {len(records)} labelled images; "
            f"ages found: {_format_histogram(age_histogram(kept)) or 'none'}"
        )
    if balance:
        smallest = min(len(members) for members in domains.values())
        for offset, (name, members) in enumerate(sorted(domains.items())):
            rng = np.random.default_rng([seed, 7, offset])
            chosen = np.sort(rng.choice(len(members), size=smallest, replace=False))
            domains[name] = [members[i] for i in chosen]
    return domains


def _format_histogram(histogram: dict[str, int]) -> str:
    return ", ".join(f"{bracket}: {count}" for bracket, count in histogram.items())


def prepare_utkface(
    source: str | Path,
    out: str | Path,
    young: tuple[int, int] = (20, 29),
    old: tuple[int, int] = (50, 59),
    gender: str = "any",
    balance: bool = False,
    test_fraction: float = 0.1,
    size: int = 256,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
) -> UTKFacePrepareReport:
    """Build a young/old dataset in the standard layout from a UTKFace download.

    Source files are only read. Each selected image is centre-cropped to a square (a no-op for UTKFace's
    chips), resized to ``size`` with Lanczos filtering and written as JPEG; unreadable images are skipped
    (after balancing, so each one skipped leaves its domain one image short). ``dataset.json`` also gets
    the ``"labels"`` schema (age range spanning both domains, gender and race names), as the rows carry them.

    Args:
        source: folder of UTKFace images (recursive), or the folder holding ``UTKFace/``.
        out: dataset root to write (must not be inside ``source``).
        young: inclusive age range of domain A.
        old: inclusive age range of domain B.
        gender: ``"any"``, ``"male"`` or ``"female"``.
        balance: make both domains the same size.
        test_fraction: share of each domain for ``testA``/``testB``.
        size: side of the written images.
        seed: random seed of balancing and splitting.
        overwrite: replace an earlier dataset in ``out``.
        progress: show a progress bar.

    Returns:
        A :class:`UTKFacePrepareReport`.
    """
    source, out = Path(source), Path(out)
    scan = _checked_scan(source, out, test_fraction, size)
    domains = select_utkface(scan.records, young, old, gender, balance, seed)
    root = prepare_output(out, overwrite)
    rows, unreadable = _write_domains(domains, root, test_fraction, size, seed, progress)
    if not any(row.domain == "A" for row in rows) or not any(row.domain == "B" for row in rows):
        raise DataError(
            f"{source}: every selected image of one domain was unreadable: {', '.join(unreadable[:QUOTED_NAMES])}"
        )
    write_manifest(root, rows, MANIFEST_COLUMNS)
    counts = split_counts(rows)
    write_dataset_json(
        root,
        name="utkface",
        source=str(source.resolve()),
        domains=age_domains(young, old, gender=gender),
        image_size=size,
        crop={**UTKFACE_CROP, "size": size},
        extra={
            "licence": UTKFACE_LICENCE,
            "seed": seed,
            "balance": balance,
            "test_fraction": test_fraction,
            "counts": counts,
            "skipped": {
                "malformed": len(scan.malformed),
                "duplicates": len(scan.duplicates),
                "unreadable": len(unreadable),
            },
            LABELS_KEY: utkface_labels((min(young[0], old[0]), max(young[1], old[1]))),
        },
    )
    return UTKFacePrepareReport(
        out=root,
        found=len(scan.records),
        malformed=scan.malformed,
        unreadable=unreadable,
        selected={name: len(members) for name, members in domains.items()},
        counts=counts,
    )


def utkface_labels(ages: tuple[float, float]) -> dict[str, Any]:
    """The ``"labels"`` entry of a UTKFace ``dataset.json``: the age range and the gender and race names."""
    return LabelSchema(ages, UTKFACE_ATTRIBUTES).to_json()


def select_all_ages(
    records: Sequence[UTKFaceRecord], ages: tuple[int, int] | None = None, gender: str = "any"
) -> list[UTKFaceRecord]:
    """Keep the records within an inclusive age range (every age when ``None``) and of one gender.

    Args:
        records: parsed images.
        ages: inclusive ``(low, high)`` years, or ``None`` for all.
        gender: ``"any"``, ``"male"`` or ``"female"``.

    Returns:
        The kept records, in their input order.
    """
    if gender not in GENDER_FILTERS:
        raise ConfigError(f"gender '{gender}' is not one of {', '.join(GENDER_FILTERS)}")
    by_gender = [r for r in records if gender == "any" or r.gender == gender]
    kept = [r for r in by_gender if ages is None or ages[0] <= r.age <= ages[1]]
    if not kept:
        wanted = "any age" if ages is None else f"age {ages[0]}-{ages[1]}"
        raise DataError(
            f"no images with {wanted} (gender {gender}) among {len(records)} labelled images; "
            f"ages found: {_format_histogram(age_histogram(by_gender)) or 'none'}"
        )
    return kept


def balance_ages(
    records: Sequence[UTKFaceRecord], bucket_width: int = 5, cap: int | None = None, seed: int = 0
) -> tuple[list[UTKFaceRecord], int]:
    """Flatten the age distribution: keep at most ``cap`` images per bucket of ``bucket_width`` years.

    UTKFace is dominated by babies and people in their twenties; capping every bucket at the median
    bucket's size trims those peaks while keeping every image of the rare ages.

    Args:
        records: parsed images.
        bucket_width: years per bucket (buckets start at multiples of it: 20-24, 25-29, …).
        cap: images per bucket; default the median size of the non-empty buckets.
        seed: random seed of the subsampling.

    Returns:
        The kept records sorted by file name, and the cap applied.
    """
    if bucket_width < 1:
        raise ConfigError(f"age bucket width must be at least 1 year, got {bucket_width}")
    if cap is not None and cap < 1:
        raise ConfigError(f"images per age bucket must be at least 1, got {cap}")
    buckets: dict[int, list[UTKFaceRecord]] = {}
    for record in records:
        buckets.setdefault(record.age // bucket_width, []).append(record)
    if cap is None:
        cap = max(1, int(np.median([len(members) for members in buckets.values()])))
    kept: list[UTKFaceRecord] = []
    for bucket, members in sorted(buckets.items()):
        if len(members) > cap:
            chosen = np.random.default_rng([seed, 7, bucket]).choice(len(members), size=cap, replace=False)
            members = [members[i] for i in np.sort(chosen)]
        kept += members
    kept.sort(key=lambda record: record.path.name)
    return kept, cap


def prepare_utkface_all_ages(
    source: str | Path,
    out: str | Path,
    ages: tuple[int, int] | None = None,
    gender: str = "any",
    balance: bool = False,
    max_per_bucket: int | None = None,
    bucket_width: int = 5,
    test_fraction: float = 0.1,
    size: int = 256,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
) -> UTKFacePrepareReport:
    """Build a labelled dataset (``train/``, ``test/``, every age with its labels) from a UTKFace download.

    For conditional models: no domains, the manifest carries age, gender and race per image and
    ``dataset.json`` the ``"labels"`` schema. Source files are only read; images are cropped, resized and
    written as in :func:`prepare_utkface`.

    Args:
        source: folder of UTKFace images (recursive), or the folder holding ``UTKFace/``.
        out: dataset root to write (must not be inside ``source``).
        ages: inclusive age range to keep; ``None`` keeps every age.
        gender: ``"any"``, ``"male"`` or ``"female"``.
        balance: cap every age bucket at the median bucket's size (see :func:`balance_ages`).
        max_per_bucket: cap every age bucket at this many images instead (implies balancing).
        bucket_width: years per age bucket for balancing and the report.
        test_fraction: share of the images for ``test/``.
        size: side of the written images.
        seed: random seed of balancing and splitting.
        overwrite: replace an earlier dataset in ``out``.
        progress: show a progress bar.

    Returns:
        A :class:`UTKFacePrepareReport`; ``selected`` counts images per age bucket, ``counts`` per split.
    """
    source, out = Path(source), Path(out)
    if bucket_width < 1:
        raise ConfigError(f"age bucket width must be at least 1 year, got {bucket_width}")
    scan = _checked_scan(source, out, test_fraction, size)
    selected = select_all_ages(scan.records, ages, gender)
    cap = None
    if balance or max_per_bucket is not None:
        selected, cap = balance_ages(selected, bucket_width, max_per_bucket, seed)
    root = prepare_output(out, overwrite, folders=LABELLED_FOLDERS.values())
    rows, unreadable = _write_domains({"": selected}, root, test_fraction, size, seed, progress)
    if not rows:
        raise DataError(
            f"{source}: every selected image was unreadable: {', '.join(unreadable[:QUOTED_NAMES])}"
        )
    write_manifest(root, rows, MANIFEST_COLUMNS)
    counts = {split: sum(row.split == split for row in rows) for split in LABELLED_FOLDERS}
    written_ages = [int(row.labels["age"]) for row in rows]
    write_dataset_json(
        root,
        name="utkface",
        source=str(source.resolve()),
        domains={},
        image_size=size,
        crop={**UTKFACE_CROP, "size": size},
        extra={
            "licence": UTKFACE_LICENCE,
            "seed": seed,
            "ages": None if ages is None else list(ages),
            "gender": gender,
            "balance": {"bucket_width": bucket_width, "max_per_bucket": cap} if cap is not None else False,
            "test_fraction": test_fraction,
            "counts": counts,
            "skipped": {
                "malformed": len(scan.malformed),
                "duplicates": len(scan.duplicates),
                "unreadable": len(unreadable),
            },
            LABELS_KEY: utkface_labels(ages or (min(written_ages), max(written_ages))),
        },
    )
    return UTKFacePrepareReport(
        out=root,
        found=len(scan.records),
        malformed=scan.malformed,
        unreadable=unreadable,
        selected=age_histogram(selected, bucket_width),
        counts=counts,
    )


def _checked_scan(source: Path, out: Path, test_fraction: float, size: int) -> UTKFaceScan:
    """Validate the options and places shared by both preparations, then scan the source."""
    check_test_fraction(test_fraction)
    if size < 16:
        raise ConfigError(f"image size must be at least 16 pixels, got {size}")
    if not source.is_dir():
        raise DataError(f"{source}: UTKFace source folder does not exist")
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise DataError(f"{out}: the output must not be inside the source folder {source}")
    scan = scan_utkface(source)
    if not scan.records:
        raise DataError(
            f"{source}: no UTKFace-named images (age_gender_race_datetime.jpg.chip.jpg) found"
            + (
                f"; {len(scan.malformed)} other images, e.g. {', '.join(scan.malformed[:QUOTED_NAMES])}"
                if scan.malformed
                else ""
            )
        )
    return scan


def _write_domains(
    domains: dict[str, list[UTKFaceRecord]],
    root: Path,
    test_fraction: float,
    size: int,
    seed: int,
    progress: bool,
) -> tuple[list[ManifestRow], list[str]]:
    """Split each domain, resize and write its images; return manifest rows and unreadable file names.

    The domain ``""`` is the labelled layout: its images go to ``train/`` and ``test/``.
    """
    from tqdm import tqdm

    rows: list[ManifestRow] = []
    unreadable: list[str] = []
    total = sum(len(members) for members in domains.values())
    with tqdm(total=total, desc="writing UTKFace images", unit="img", disable=not progress) as bar:
        for offset, (domain, members) in enumerate(sorted(domains.items())):
            is_test = choose_test_items(
                len(members), test_fraction, np.random.default_rng([seed, 11, offset])
            )
            for record, test in zip(members, is_test, strict=True):
                bar.update(1)
                try:
                    image = load_image(record.path)
                except ImageLoadError:
                    unreadable.append(record.path.name)
                    continue
                split = "test" if test else "train"
                folder = SPLIT_FOLDERS[(split, domain)] if domain else LABELLED_FOLDERS[split]
                relative = f"{folder}/{record.path.name}"
                save_image(resize_pil(center_crop_square(image), size), root / relative)
                labels = {
                    "age": record.age,
                    "gender": record.gender,
                    "race": record.race,
                    "source": str(record.path),
                }
                rows.append(ManifestRow(relative, split, domain, labels))
    rows.sort(key=lambda row: row.file)
    return rows, unreadable
