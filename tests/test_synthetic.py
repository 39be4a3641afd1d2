"""Synthetic faces: determinism, shapes, the measurable age cue, and the dataset writer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from ageshift.data.manifest import read_manifest
from ageshift.data.synthetic import (
    CUE_CALIBRATION,
    HAIR_STYLES,
    MANIFEST_LABELS,
    age_cue_features,
    fit_cue_calibration,
    make_synthetic_dataset,
    make_utkface_named_folder,
    measure_age_cue,
    random_identity,
    render_face,
)
from ageshift.errors import AgeshiftError, ConfigError, DataError
from ageshift.image import pil_to_tensor
from ageshift.io import load_image


@pytest.fixture(scope="module")
def population() -> tuple[np.ndarray, list[Image.Image]]:
    """300 random people at random ages 1-90."""
    rng = np.random.default_rng(2024)
    ages = rng.uniform(1, 90, 300)
    return ages, [render_face(float(age), random_identity(rng), 64) for age in ages]


def test_render_is_deterministic_and_sized() -> None:
    first = render_face(40, random_identity(np.random.default_rng(5)), 48)
    second = render_face(40, random_identity(np.random.default_rng(5)), 48)
    other = render_face(40, random_identity(np.random.default_rng(6)), 48)
    assert first.size == (48, 48) and first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


def test_identities_vary() -> None:
    rng = np.random.default_rng(0)
    people = [random_identity(rng) for _ in range(60)]
    assert len({p.skin for p in people}) > 20
    assert {p.hair_style for p in people} == set(range(len(HAIR_STYLES)))
    assert np.std([p.head_width for p in people]) > 0.005


def test_render_rejects_tiny_size() -> None:
    with pytest.raises(AgeshiftError, match="at least 16"):
        render_face(30, random_identity(np.random.default_rng(0)), 8)


def test_cue_correlates_with_true_age(population: tuple[np.ndarray, list[Image.Image]]) -> None:
    ages, faces = population
    measured = measure_age_cue(faces)
    assert measured.shape == (300,)
    assert np.corrcoef(ages, measured)[0, 1] > 0.9
    inside = (ages > 15) & (ages < 80)
    assert np.sqrt(np.mean((measured[inside] - ages[inside]) ** 2)) < 8.0


def test_cue_is_monotonic_per_identity() -> None:
    rng = np.random.default_rng(11)
    for _ in range(12):
        person = random_identity(rng)
        readings = measure_age_cue([render_face(age, person, 64) for age in range(15, 86, 10)])
        assert np.all(np.diff(readings) > 0), readings


def test_domains_are_well_separated_and_blur_does_not_age() -> None:
    rng = np.random.default_rng(3)
    young = [render_face(float(rng.uniform(18, 30)), random_identity(rng), 64) for _ in range(80)]
    old = [render_face(float(rng.uniform(55, 80)), random_identity(rng), 64) for _ in range(80)]
    young_cue, old_cue = measure_age_cue(young), measure_age_cue(old)
    pooled = np.sqrt((young_cue.var() + old_cue.var()) / 2)
    assert (old_cue.mean() - young_cue.mean()) / pooled > 4.0
    for radius in (1.0, 2.0):
        blurred = measure_age_cue([face.filter(ImageFilter.GaussianBlur(radius)) for face in young])
        assert blurred.mean() < young_cue.mean() + 3.0
        assert blurred.max() < old_cue.min() + 5.0


def test_cue_accepts_tensors_and_other_sizes() -> None:
    rng = np.random.default_rng(4)
    faces = [render_face(age, random_identity(rng), 64) for age in (20, 70)]
    tensor = torch.stack([pil_to_tensor(face) for face in faces])
    assert np.allclose(measure_age_cue(tensor), measure_age_cue(faces), atol=0.1)
    assert age_cue_features(tensor).shape == (2, 2)
    large = [render_face(age, random_identity(rng), 128) for age in (20, 70)]
    readings = measure_age_cue(large)
    assert readings[0] < 40 < readings[1]
    with pytest.raises(AgeshiftError, match=r"\(B, 3, H, W\)"):
        measure_age_cue(torch.zeros(3, 64, 64))
    with pytest.raises(AgeshiftError, match="empty"):
        measure_age_cue([])


def test_dataset_layout_and_determinism(tmp_path) -> None:
    report = make_synthetic_dataset(tmp_path / "one", count=24, size=32, seed=3, test_fraction=0.25)
    make_synthetic_dataset(tmp_path / "two", count=24, size=32, seed=3, test_fraction=0.25)
    make_synthetic_dataset(tmp_path / "three", count=24, size=32, seed=4, test_fraction=0.25)
    assert report.counts == {"trainA": 9, "trainB": 9, "testA": 3, "testB": 3}
    rows = read_manifest(tmp_path / "one")
    assert len(rows) == 24 and list(rows[0]) == ["file", "split", "domain", *MANIFEST_LABELS]
    for row in rows:
        assert (tmp_path / "one" / row["file"]).is_file()
        low, high = (18, 31) if row["domain"] == "A" else (55, 81)
        assert low <= float(row["age"]) <= high
    assert report.mean_cue["B"] - report.mean_cue["A"] > 25
    image = load_image(tmp_path / "one" / rows[0]["file"])
    assert image.size == (32, 32)
    assert read_manifest(tmp_path / "two") == rows
    assert read_manifest(tmp_path / "three") != rows
    first = sorted(p.read_bytes() for p in (tmp_path / "one").rglob("*.png"))
    assert first == sorted(p.read_bytes() for p in (tmp_path / "two").rglob("*.png"))
    info = json.loads((tmp_path / "one" / "dataset.json").read_text())
    assert info["crop"]["template"] == "synthetic" and info["image_size"] == 32
    assert info["domains"]["A"]["label"] == "age 18-30"


def test_dataset_refuses_bad_options_and_existing_output(tmp_path) -> None:
    make_synthetic_dataset(tmp_path / "data", count=4, size=32)
    with pytest.raises(DataError, match="already holds a dataset"):
        make_synthetic_dataset(tmp_path / "data", count=4, size=32)
    make_synthetic_dataset(tmp_path / "data", count=6, size=32, overwrite=True)
    assert len(read_manifest(tmp_path / "data")) == 6
    with pytest.raises(ConfigError, match="overlap"):
        make_synthetic_dataset(tmp_path / "x", count=4, young=(20, 40), old=(30, 60))
    with pytest.raises(ConfigError, match="test fraction"):
        make_synthetic_dataset(tmp_path / "x", count=4, test_fraction=1.0)
    with pytest.raises(ConfigError, match="at least 16"):
        make_synthetic_dataset(tmp_path / "x", count=4, size=8)
    assert not (tmp_path / "x").exists()


def test_stored_calibration_matches_a_fresh_fit() -> None:
    refit = fit_cue_calibration(count=300, seed=99)
    rng = np.random.default_rng(5)
    faces = [render_face(float(age), random_identity(rng), 64) for age in np.linspace(15, 80, 40)]
    features = age_cue_features(faces)
    refit_ages = refit[0] + features @ np.asarray(refit[1:])
    assert np.max(np.abs(refit_ages - measure_age_cue(faces))) < 3.0
    assert CUE_CALIBRATION[1] > 0 and CUE_CALIBRATION[2] >= 0


def test_utkface_named_folder(tmp_path) -> None:
    paths = make_utkface_named_folder(tmp_path / "flat", count=12, size=40, seed=1)
    assert len(paths) == 12 and len({p.name for p in paths}) == 12
    for path in paths:
        age, gender, race, stamp = path.name.split(".")[0].split("_")
        assert 1 <= int(age) <= 90 and gender in "01" and race in "01234" and len(stamp) == 17
        assert path.name.endswith(".jpg.chip.jpg")
    assert load_image(paths[0]).size == (40, 40)
