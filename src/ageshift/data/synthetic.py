"""A procedural face-like dataset whose age and attributes are controllable and measurable from pixels.

Faces are drawn by :mod:`~ageshift.data.synthetic_render` (a random person at an age with
:class:`FaceAttributes`: hair colour, beard, hair length, glasses) and read back from pixels only by
:mod:`~ageshift.data.synthetic_measure` (age cue and attributes) and
:mod:`~ageshift.data.synthetic_identity` (identity features), so tests and demos can check that a
translator moved the requested age or attribute and kept the person. This module writes datasets of them
and re-exports the whole synthetic toolkit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ConfigError, DataError
from ..io import save_image
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
from .synthetic_attributes import (
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    CUE_FULL_AGE,
    CUE_START_AGE,
    HAIR_COLOURS,
    HAIR_GREY,
    FaceAttributes,
    age_amount,
    attribute_probabilities,
    check_attribute_names,
    random_attributes,
)
from .synthetic_identity import (
    IDENTITY_FEATURES,
    IDENTITY_TOLERANCE,
    identity_distance,
    measure_identity,
)
from .synthetic_measure import (
    CUE_CALIBRATION,
    FOREHEAD_BOX,
    HAIR_BOX,
    HAIR_COLOUR_MAX_AGE,
    MEASURE_SIZE,
    age_cue_features,
    attribute_scores,
    measure_age_cue,
    measure_attributes,
    measure_beard,
    measure_glasses,
    measure_hair_colour,
    measure_hair_length,
)
from .synthetic_render import (
    HAIR_STYLES,
    FaceIdentity,
    natural_attributes,
    random_identity,
    render_face,
)

__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_NAMES",
    "CUE_CALIBRATION",
    "CUE_FULL_AGE",
    "CUE_START_AGE",
    "FOREHEAD_BOX",
    "HAIR_BOX",
    "HAIR_COLOURS",
    "HAIR_COLOUR_MAX_AGE",
    "HAIR_GREY",
    "HAIR_STYLES",
    "IDENTITY_FEATURES",
    "IDENTITY_TOLERANCE",
    "MANIFEST_LABELS",
    "MEASURE_SIZE",
    "FaceAttributes",
    "FaceIdentity",
    "SyntheticDatasetReport",
    "age_amount",
    "age_cue_features",
    "attribute_scores",
    "fit_cue_calibration",
    "identity_distance",
    "make_synthetic_dataset",
    "make_utkface_named_folder",
    "measure_age_cue",
    "measure_attributes",
    "measure_beard",
    "measure_glasses",
    "measure_hair_colour",
    "measure_hair_length",
    "measure_identity",
    "natural_attributes",
    "random_attributes",
    "random_identity",
    "render_face",
]

#: Manifest columns after ``file, split, domain``: true age, measured cue, the four attributes, and the
#: person's fixed features (colours as ``#rrggbb``; head size as fractions of the side).
MANIFEST_LABELS = (
    "age",
    "cue",
    *ATTRIBUTE_NAMES,
    "skin",
    "iris",
    "head_width",
    "head_height",
    "background_top",
    "background_bottom",
)


def fit_cue_calibration(count: int = 2000, size: int = 64, seed: int = 1234) -> tuple[float, ...]:
    """Fit the linear map from :func:`age_cue_features` to age on freshly rendered faces.

    This is how ``CUE_CALIBRATION`` was made; rerun it after changing the renderer.

    Args:
        count: faces to render (random identities and attributes, ages uniform in the cue's linear range).
        size: side of the rendered faces.
        seed: random seed.

    Returns:
        ``(intercept, greying_weight, energy_weight)``.
    """
    rng = np.random.default_rng(seed)
    ages = rng.uniform(CUE_START_AGE, CUE_FULL_AGE, count)
    faces = [render_face(float(age), random_identity(rng), size, random_attributes(rng)) for age in ages]
    features = age_cue_features(faces)
    design = np.concatenate([np.ones((count, 1)), features], axis=1)
    solution, *_ = np.linalg.lstsq(design, ages, rcond=None)
    return tuple(float(value) for value in solution)


@dataclass(frozen=True)
class SyntheticDatasetReport:
    """What :func:`make_synthetic_dataset` wrote.

    Attributes:
        out: the dataset root.
        counts: images per split folder.
        mean_cue: mean measured age cue per domain (``{}`` in the all-ages layout).
        cue_correlation: correlation of the measured cue with the true age over all written images
            (``NaN`` when there are fewer than three images or they all have one age).
    """

    out: Path
    counts: dict[str, int]
    mean_cue: dict[str, float]
    cue_correlation: float


def _hex(colour: Sequence[int]) -> str:
    return "#" + "".join(f"{int(value):02x}" for value in colour)


def _render_indexed(
    index: int,
    seed: int,
    age_range: tuple[float, float],
    size: int,
    draw_attributes: Callable[[np.random.Generator], FaceAttributes],
) -> tuple[float, FaceIdentity, FaceAttributes, Image.Image]:
    # One generator per image: the same (seed, index) always gives the same face, whatever the count.
    rng = np.random.default_rng([seed, index])
    age = float(rng.uniform(age_range[0], age_range[1]))
    identity = random_identity(rng)
    attributes = draw_attributes(rng)
    return age, identity, attributes, render_face(age, identity, size, attributes)


def _labels(age: float, cue: float, identity: FaceIdentity, attributes: FaceAttributes) -> dict[str, Any]:
    return {
        "age": round(age, 1),
        "cue": float(cue),
        **attributes.as_dict(),
        "skin": _hex(identity.skin),
        "iris": _hex(identity.iris),
        "head_width": identity.head_width,
        "head_height": identity.head_height,
        "background_top": _hex(identity.background_top),
        "background_bottom": _hex(identity.background_bottom),
    }


def _check_options(count: int, size: int, test_fraction: float, all_ages: bool, ages: tuple) -> None:
    check_test_fraction(test_fraction)
    if count < (1 if all_ages else 2):
        least = "1" if all_ages else "2 (one per domain)"
        raise ConfigError(f"synthetic dataset count must be at least {least}, got {count}")
    if size < 16:
        raise ConfigError(f"synthetic face size must be at least 16 pixels, got {size}")
    if all_ages and not 0 <= ages[0] <= ages[1]:
        raise ConfigError(f"all-ages range {ages[0]}-{ages[1]} must have 0 <= low <= high")


def make_synthetic_dataset(
    out: str | Path,
    count: int = 1200,
    size: int = 64,
    young: tuple[int, int] = (18, 30),
    old: tuple[int, int] = (55, 80),
    seed: int = 0,
    test_fraction: float = 0.1,
    overwrite: bool = False,
    progress: bool = False,
    *,
    all_ages: bool = False,
    ages: tuple[float, float] = (15, 80),
    attributes: Sequence[str] = ATTRIBUTE_NAMES,
    attribute_weights: Mapping[str, Mapping[str, float]] | None = None,
    fixed_attributes: FaceAttributes | None = None,
) -> SyntheticDatasetReport:
    """Write a synthetic face dataset: young/old domains (A/B), or every age for conditional models.

    Two-domain layout (default): ``trainA/ trainB/ testA/ testB/``, ages uniform inside each inclusive
    range of whole years (``young=(18, 30)`` draws 18.0-30.99), half the faces young. All-ages layout:
    ``train/ test/``, ages uniform in ``ages`` (continuous years, both ends included), empty ``domain``.
    Either way every person is new, ``manifest.csv`` holds the labels of every image (columns
    ``MANIFEST_LABELS``) and ``dataset.json`` a ``"labels"`` entry: the age range and, for each varied
    attribute, its values in a fixed order.

    Args:
        out: dataset root (created; an existing dataset there is refused unless ``overwrite``).
        count: total number of images.
        size: image side in pixels.
        young: age range of domain A.
        old: age range of domain B.
        seed: random seed; the same seed writes the same files.
        test_fraction: share held out in ``testA``/``testB`` (per domain) or ``test``.
        overwrite: replace an earlier dataset in ``out``.
        progress: show a progress bar.
        all_ages: write the all-ages layout instead of two domains.
        ages: with ``all_ages``, the ``(low, high)`` age range in years.
        attributes: the attributes drawn at random per image (the rest take ``fixed_attributes``).
        attribute_weights: optional ``{attribute: {value: weight}}`` for the drawn ones; uniform otherwise.
        fixed_attributes: values of the attributes that do not vary; default :class:`FaceAttributes`'s.

    Returns:
        A :class:`SyntheticDatasetReport`.
    """
    vary = check_attribute_names(attributes)
    attribute_probabilities(attribute_weights)
    if not all_ages:
        check_disjoint(young, old)
    _check_options(count, size, test_fraction, all_ages, ages)
    if all_ages:
        groups = {"": ((float(ages[0]), float(ages[1])), list(range(count)))}
        age_labels = (ages[0], ages[1])
    else:
        groups = {
            "A": ((young[0], young[1] + 0.999), list(range(0, count, 2))),
            "B": ((old[0], old[1] + 0.999), list(range(1, count, 2))),
        }
        # Ages are drawn up to high + 0.999 and written to 0.1 years, so the label range ends a year on.
        age_labels = (min(young[0], old[0]), max(young[1], old[1]) + 1)
    root = prepare_output(out, overwrite, folders=LABELLED_FOLDERS.values() if all_ages else None)

    def draw_attributes(rng: np.random.Generator) -> FaceAttributes:
        return random_attributes(rng, vary, attribute_weights, fixed_attributes)

    rows, mean_cue, correlation = _write_faces(
        root, groups, seed, size, test_fraction, draw_attributes, progress
    )
    write_manifest(root, rows, MANIFEST_LABELS)
    if all_ages:
        counts = {
            LABELLED_FOLDERS[split]: sum(row.split == split for row in rows) for split in LABELLED_FOLDERS
        }
    else:
        counts = split_counts(rows)
    write_dataset_json(
        root,
        name="synthetic",
        source="synthetic",
        domains={} if all_ages else age_domains(young, old),
        image_size=size,
        crop={"template": "synthetic", "size": size, "padding": 0.0, "face_center": [0.5, 0.56]},
        extra={
            "licence": "procedural faces drawn by ageshift (no third-party data)",
            "seed": seed,
            "count": count,
            "test_fraction": test_fraction,
            "counts": counts,
            "ages": [ages[0], ages[1]] if all_ages else None,
            "attributes": {
                "varied": list(vary),
                "weights": {name: dict(values) for name, values in (attribute_weights or {}).items()},
                "fixed": {
                    name: value
                    for name, value in (fixed_attributes or FaceAttributes()).as_dict().items()
                    if name not in vary
                },
            },
            "cue": {
                "measure": "ageshift.data.synthetic.measure_age_cue",
                "mean_by_domain": mean_cue,
                "correlation_with_age": None if np.isnan(correlation) else round(correlation, 4),
            },
            "measures": {
                "attributes": "ageshift.data.synthetic.measure_attributes",
                "identity": "ageshift.data.synthetic.measure_identity",
            },
            LABELS_KEY: LabelSchema(age_labels, {name: ATTRIBUTES[name] for name in vary}).to_json(),
        },
    )
    return SyntheticDatasetReport(root, counts, mean_cue, correlation)


def _write_faces(
    root: Path,
    groups: dict[str, tuple[tuple[float, float], list[int]]],
    seed: int,
    size: int,
    test_fraction: float,
    draw_attributes: Callable[[np.random.Generator], FaceAttributes],
    progress: bool,
) -> tuple[list[ManifestRow], dict[str, float], float]:
    """Render, split and save every group's faces (``""`` for the all-ages layout, else ``"A"``/``"B"``).

    Returns:
        The manifest rows sorted by file, the mean measured cue per domain, and the correlation of the
        measured cue with the true age over all faces.
    """
    from tqdm import tqdm

    rows: list[ManifestRow] = []
    mean_cue: dict[str, float] = {}
    true_ages: list[float] = []
    measured: list[float] = []
    bar = tqdm(
        total=sum(len(m) for _, m in groups.values()),
        desc="rendering faces",
        unit="img",
        disable=not progress,
    )
    for domain, (age_range, members) in groups.items():
        is_test = choose_test_items(
            len(members), test_fraction, np.random.default_rng([seed, ord(domain or "L")])
        )
        faces = [_render_indexed(index, seed, age_range, size, draw_attributes) for index in members]
        cues = measure_age_cue([face for *_, face in faces])
        true_ages += [age for age, *_ in faces]
        measured += [float(cue) for cue in cues]
        if domain:
            mean_cue[domain] = float(cues.mean())
        for index, (age, identity, drawn, face), cue, test in zip(members, faces, cues, is_test, strict=True):
            split = "test" if test else "train"
            folder = SPLIT_FOLDERS[(split, domain)] if domain else LABELLED_FOLDERS[split]
            relative = f"{folder}/{index:06d}.png"
            save_image(face, root / relative)
            rows.append(ManifestRow(relative, split, domain, _labels(age, cue, identity, drawn)))
            bar.update(1)
    bar.close()
    rows.sort(key=lambda row: row.file)
    varied = len(rows) > 2 and np.std(true_ages) > 0
    correlation = float(np.corrcoef(true_ages, measured)[0, 1]) if varied else float("nan")
    return rows, mean_cue, correlation


def make_utkface_named_folder(
    out: str | Path, count: int = 1200, size: int = 200, seed: int = 0, progress: bool = False
) -> list[Path]:
    """Write a flat folder of synthetic faces named like UTKFace (``age_gender_race_datetime.jpg.chip.jpg``).

    Ages are whole years uniform in 1-90, gender 0/1 and race 0-4 at random, so ``prepare utkface`` can be
    exercised end to end without the real download.

    Args:
        out: the folder (created); existing files are never overwritten.
        count: number of images.
        size: image side in pixels (UTKFace's aligned crops are 200²).
        seed: random seed.
        progress: show a progress bar.

    Returns:
        The written paths, in order.
    """
    from tqdm import tqdm

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for index in tqdm(range(count), desc="rendering faces", unit="img", disable=not progress):
        rng = np.random.default_rng([seed, index])
        age = int(rng.integers(1, 91))
        gender, race = int(rng.integers(2)), int(rng.integers(5))
        stamp = 20170101000000000 + index * 1_000_003 + seed
        path = root / f"{age}_{gender}_{race}_{stamp}.jpg.chip.jpg"
        if path.exists():
            raise DataError(f"{path}: already exists; choose an empty folder for --utkface-names")
        written.append(
            save_image(render_face(age + float(rng.uniform(0, 1)), random_identity(rng), size), path)
        )
    return written
