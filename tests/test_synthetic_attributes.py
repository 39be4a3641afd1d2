"""Synthetic faces with attributes: drawing, measuring attributes and identity from pixels, labelled datasets."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ageshift.cli import app
from ageshift.data import LabelledImages
from ageshift.data.manifest import read_manifest
from ageshift.data.synthetic import (
    ATTRIBUTE_NAMES,
    ATTRIBUTES,
    HAIR_COLOUR_MAX_AGE,
    IDENTITY_FEATURES,
    IDENTITY_TOLERANCE,
    MANIFEST_LABELS,
    FaceAttributes,
    FaceIdentity,
    attribute_scores,
    identity_distance,
    make_synthetic_dataset,
    measure_age_cue,
    measure_attributes,
    measure_beard,
    measure_glasses,
    measure_hair_colour,
    measure_hair_length,
    measure_identity,
    natural_attributes,
    random_attributes,
    random_identity,
    render_face,
)
from ageshift.data.synthetic_attributes import (
    HAIR_SKIN_CONTRAST,
    age_amount,
    aged_skin,
    hair_rgb,
    parse_attribute_names,
    parse_attribute_values,
)
from ageshift.errors import AgeshiftError, ConfigError
from ageshift.image import pil_to_tensor
from ageshift.io import load_image

COMBINATIONS = [FaceAttributes(*values) for values in itertools.product(*ATTRIBUTES.values())]

Population = tuple[np.ndarray, list[FaceAttributes], list[Image.Image]]


def _population(count: int, size: int, seed: int) -> Population:
    """Random people at ages 10-85 with random attributes (every combination appears)."""
    rng = np.random.default_rng(seed)
    ages = rng.uniform(10, 85, count)
    drawn = [COMBINATIONS[index % len(COMBINATIONS)] for index in range(count)]
    faces = [
        render_face(float(age), random_identity(rng), size, a) for age, a in zip(ages, drawn, strict=True)
    ]
    return ages, drawn, faces


@pytest.fixture(scope="module")
def population() -> Population:
    return _population(320, 64, 31)


@pytest.fixture(scope="module")
def small_population() -> Population:
    return _population(192, 32, 32)


def test_attributes_validate_and_default_to_the_natural_look() -> None:
    with pytest.raises(ConfigError, match="hair 'purple' is not one of black, blond, brown"):
        FaceAttributes(hair="purple")
    person = random_identity(np.random.default_rng(3))
    natural = natural_attributes(person)
    assert natural.hair == person.hair_colour and natural.beard == "none" and natural.glasses == "none"
    plain = np.asarray(render_face(40, person, 48))
    assert np.array_equal(plain, np.asarray(render_face(40, person, 48, natural)))
    assert FaceAttributes().as_dict() == dict(
        zip(ATTRIBUTE_NAMES, ("black", "none", "short", "none"), strict=True)
    )


def test_rendering_with_attributes_is_deterministic_and_local() -> None:
    person = dataclasses.replace(random_identity(np.random.default_rng(8)), shift_x=0.0, tilt_degrees=0.0)
    base = FaceAttributes(hair="brown")
    plain = np.asarray(render_face(35, person, 64, base)).astype(int)
    assert np.array_equal(plain, np.asarray(render_face(35, person, 64, base)))
    # Each attribute changes its own region, never the background corners.
    regions = {
        "hair": (slice(12, 18), slice(28, 36)),
        "beard": (slice(52, 55), slice(29, 35)),
        "hair_length": (slice(52, 56), slice(12, 18)),
        "glasses": (slice(36, 44), slice(16, 48)),
    }
    changed = {"hair": "blond", "beard": "beard", "hair_length": "long", "glasses": "glasses"}
    for name, value in changed.items():
        edited = np.asarray(render_face(35, person, 64, dataclasses.replace(base, **{name: value}))).astype(
            int
        )
        assert np.linalg.norm(edited - plain, axis=2)[regions[name]].max() > 25, name
        assert np.array_equal(edited[:4, :4], plain[:4, :4]) and np.array_equal(
            edited[:4, -4:], plain[:4, -4:]
        )


def test_random_attributes_follow_vary_weights_and_fixed() -> None:
    rng = np.random.default_rng(0)
    drawn = [random_attributes(rng) for _ in range(200)]
    for name, values in ATTRIBUTES.items():
        assert {getattr(a, name) for a in drawn} == set(values)
    fixed = FaceAttributes(hair="blond", glasses="glasses")
    only_beard = [random_attributes(rng, ("beard",), fixed=fixed) for _ in range(50)]
    assert {(a.hair, a.hair_length, a.glasses) for a in only_beard} == {("blond", "short", "glasses")}
    assert {a.beard for a in only_beard} == {"none", "beard"}
    weighted = [random_attributes(rng, weights={"hair": {"brown": 1.0}}) for _ in range(30)]
    assert {a.hair for a in weighted} == {"brown"}
    with pytest.raises(ConfigError, match="unknown attribute 'hat'"):
        random_attributes(rng, ("hat",))
    with pytest.raises(ConfigError, match="positive sum"):
        random_attributes(rng, weights={"hair": {"black": 0.0}})
    assert (
        parse_attribute_names("hair, glasses") == ("hair", "glasses") and parse_attribute_names("none") == ()
    )
    assert parse_attribute_values("hair=blond,glasses=glasses") == fixed
    with pytest.raises(ConfigError, match="name=value"):
        parse_attribute_values("blond")


def test_hair_always_contrasts_with_skin() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        person = random_identity(rng)
        amount = age_amount(float(rng.uniform(10, 85)))
        for hair in ATTRIBUTES["hair"]:
            colour = np.asarray(hair_rgb(hair, person.hair_shade, amount, person.skin), dtype=float)
            # The push guarantees HAIR_SKIN_CONTRAST; rounding and clipping to 0-255 may take a few units.
            assert np.linalg.norm(colour - aged_skin(person.skin, amount)) > HAIR_SKIN_CONTRAST - 7


def test_age_cue_is_accurate_across_hair_colours_and_attributes(population: Population) -> None:
    ages, drawn, faces = population
    measured = measure_age_cue(faces)
    assert np.corrcoef(ages, measured)[0, 1] > 0.98
    assert np.abs(measured - ages).mean() < 1.5
    for hair in ATTRIBUTES["hair"]:
        chosen = np.array([a.hair == hair for a in drawn])
        # Blond is light but not grey: it must not read older than black or brown hair.
        assert abs(np.mean(measured[chosen] - ages[chosen])) < 1.5, hair
    person = random_identity(np.random.default_rng(4))
    young_blond = measure_age_cue(
        [render_face(20, person, 64, FaceAttributes(hair=h)) for h in ATTRIBUTES["hair"]]
    )
    assert np.all(np.abs(young_blond - 20) < 4), young_blond


@pytest.mark.parametrize("which", ["population", "small_population"])
def test_attributes_are_measured_accurately(which: str, request: pytest.FixtureRequest) -> None:
    ages, drawn, faces = request.getfixturevalue(which)
    measured = measure_attributes(faces)
    assert set(measured) == set(ATTRIBUTE_NAMES)
    readable = ages <= HAIR_COLOUR_MAX_AGE
    for name in ATTRIBUTE_NAMES:
        correct = np.array([m == getattr(a, name) for m, a in zip(measured[name], drawn, strict=True)])
        scope = readable if name == "hair" else np.ones_like(readable)
        assert correct[scope].mean() >= 0.97, (name, correct[scope].mean())


def test_measurements_accept_tensors_and_check_inputs() -> None:
    rng = np.random.default_rng(6)
    faces = [
        render_face(age, random_identity(rng), 64, a)
        for age, a in zip((25, 60), COMBINATIONS[5:7], strict=True)
    ]
    tensor = torch.stack([pil_to_tensor(face) for face in faces])
    assert measure_attributes(tensor) == measure_attributes(faces)
    assert np.allclose(measure_identity(tensor), measure_identity(faces), atol=0.02)
    assert measure_hair_colour(faces) == measure_attributes(faces)["hair"]
    assert measure_beard(faces) == [a.beard for a in COMBINATIONS[5:7]]
    assert measure_glasses(faces) == [a.glasses for a in COMBINATIONS[5:7]]
    assert measure_hair_length(faces) == [a.hair_length for a in COMBINATIONS[5:7]]
    assert attribute_scores(faces)["hair"].shape == (2, 3)
    large = [render_face(30, random_identity(rng), 128, COMBINATIONS[-1])]
    assert measure_attributes(large) == {name: [value] for name, value in COMBINATIONS[-1].as_dict().items()}
    with pytest.raises(AgeshiftError, match="at least 32 pixels"):
        measure_attributes([faces[0].resize((24, 24))])
    with pytest.raises(AgeshiftError, match="empty"):
        measure_identity([])


def _same_people(size: int, people: int = 30, views: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Identity features of ``people`` persons, each at ``views`` random ages and attribute combinations."""
    rng = np.random.default_rng(size)
    features, owners = [], []
    for person in range(people):
        identity = random_identity(rng)
        faces = [
            render_face(
                float(rng.uniform(10, 85)), identity, size, COMBINATIONS[rng.integers(len(COMBINATIONS))]
            )
            for _ in range(views)
        ]
        features.append(measure_identity(faces))
        owners += [person] * views
    return np.concatenate(features), np.asarray(owners)


@pytest.mark.parametrize("size", [64, 32])
def test_identity_ignores_age_and_attributes_and_separates_people(size: int) -> None:
    features, owners = _same_people(size)
    assert features.shape == (len(owners), len(IDENTITY_FEATURES))
    # Below 64 pixels head shape and iris are not read (NaN) and the distance uses skin and background.
    assert np.isnan(features[:, 3:8]).all() == (size < 64) and not np.isnan(features[:, :3]).any()
    distances = identity_distance(features[:, None], features[None])
    same = owners[:, None] == owners[None]
    other = ~np.eye(len(owners), dtype=bool)
    # From 64 pixels every view of a person is within tolerance; at 32 a rare blurred skin reading is not.
    assert (distances[same & other] < IDENTITY_TOLERANCE).mean() >= (1.0 if size >= 64 else 0.98)
    assert (distances[~same] > IDENTITY_TOLERANCE).mean() >= 0.95
    assert np.median(distances[~same]) > 1.0


def test_identity_moves_when_the_person_changes() -> None:
    person = random_identity(np.random.default_rng(12))
    others = {
        "skin": dataclasses.replace(
            person, skin=tuple(int(v) for v in np.clip(np.add(person.skin, 60), 0, 255))
        ),
        "iris": dataclasses.replace(person, iris=(40, 90, 150) if person.iris[2] < 100 else (70, 45, 25)),
        "background": dataclasses.replace(person, background_top=person.background_bottom[::-1]),
        "shape": dataclasses.replace(person, head_width=0.25 if person.head_width > 0.275 else 0.30),
    }
    reference = measure_identity([render_face(40, person, 64)])
    for group, changed in others.items():
        distance = identity_distance(reference, measure_identity([render_face(40, changed, 64)]))[0]
        assert distance > IDENTITY_TOLERANCE / 2, group


def test_all_ages_dataset_layout_labels_and_pixels_agree(tmp_path: Path) -> None:
    report = make_synthetic_dataset(
        tmp_path / "all", count=48, size=32, seed=2, test_fraction=0.25, all_ages=True, ages=(20, 70)
    )
    root = tmp_path / "all"
    assert sorted(p.name for p in root.iterdir()) == ["dataset.json", "manifest.csv", "test", "train"]
    assert (
        report.counts == {"train": 36, "test": 12} and report.mean_cue == {} and report.cue_correlation > 0.98
    )
    rows = read_manifest(root)
    assert list(rows[0]) == ["file", "split", "domain", *MANIFEST_LABELS]
    assert {row["domain"] for row in rows} == {""} and all(
        row["file"].startswith(row["split"] + "/") for row in rows
    )
    assert all(20 <= float(row["age"]) <= 70 for row in rows)
    assert all(row["skin"].startswith("#") and len(row["skin"]) == 7 for row in rows)
    info = json.loads((root / "dataset.json").read_text())
    assert info["domains"] == {} and info["labels"] == {
        "age": {"min": 20, "max": 70},
        "attributes": {name: list(values) for name, values in ATTRIBUTES.items()},
    }
    faces = [load_image(root / row["file"]) for row in rows]
    measured = measure_attributes(faces)
    for name in ("beard", "hair_length", "glasses"):
        assert np.mean([m == row[name] for m, row in zip(measured[name], rows, strict=True)]) >= 0.95, name
    labelled = LabelledImages(root, 32, "train")
    assert labelled.schema.attributes["hair"] == ("black", "blond", "brown") and len(labelled.files) == 36


def test_two_domain_dataset_records_labels_and_fixed_attributes(tmp_path: Path) -> None:
    fixed = FaceAttributes(hair="blond")
    make_synthetic_dataset(tmp_path / "ab", count=16, size=32, attributes=("beard",), fixed_attributes=fixed)
    rows = read_manifest(tmp_path / "ab")
    assert {row["domain"] for row in rows} == {"A", "B"} and {row["hair"] for row in rows} == {"blond"}
    assert {row["beard"] for row in rows} == {"none", "beard"} and {row["glasses"] for row in rows} == {
        "none"
    }
    info = json.loads((tmp_path / "ab" / "dataset.json").read_text())
    assert info["labels"] == {"age": {"min": 18, "max": 81}, "attributes": {"beard": ["none", "beard"]}}
    assert info["attributes"]["fixed"] == {"hair": "blond", "hair_length": "short", "glasses": "none"}
    assert sorted(p.name for p in (tmp_path / "ab").iterdir() if p.is_dir()) == [
        "testA",
        "testB",
        "trainA",
        "trainB",
    ]
    with pytest.raises(ConfigError, match="unknown attribute"):
        make_synthetic_dataset(tmp_path / "bad", count=4, attributes=("hat",))
    with pytest.raises(ConfigError, match="all-ages range"):
        make_synthetic_dataset(tmp_path / "bad", count=4, all_ages=True, ages=(60, 20))


def test_cli_writes_an_all_ages_dataset(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    arguments = ["prepare", "synthetic", "--out", str(out), "--count", "12", "--size", "32", "--all-ages"]
    result = CliRunner().invoke(
        app, [*arguments, "--ages", "30-60", "--attributes", "glasses,hair", "--fixed", "beard=beard"]
    )
    assert result.exit_code == 0, result.output
    rows = read_manifest(out)
    assert len(rows) == 12 and {row["beard"] for row in rows} == {"beard"}
    labels = json.loads((out / "dataset.json").read_text())["labels"]
    assert labels["age"] == {"min": 30, "max": 60} and list(labels["attributes"]) == ["glasses", "hair"]
    refused = CliRunner().invoke(app, [*arguments, "--young", "20-30", "--overwrite"])
    assert refused.exit_code != 0 and "--all-ages" in str(refused.exception or refused.output)


def test_face_identity_is_still_a_plain_dataclass() -> None:
    person = random_identity(np.random.default_rng(0))
    assert isinstance(person, FaceIdentity) and dataclasses.replace(person) == person
    assert person.hair_colour in ATTRIBUTES["hair"] and -1.0 <= person.hair_shade <= 1.0
