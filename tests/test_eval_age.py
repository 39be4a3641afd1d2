"""The packaged age estimator, its PyTorch port, and the dlib identity descriptor on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("dlib")
pytest.importorskip("onnxruntime")
skimage_data = pytest.importorskip("skimage.data")
matplotlib = pytest.importorskip("matplotlib")

from ageshift.errors import AgeshiftError  # noqa: E402
from ageshift.evaluation import age, identity  # noqa: E402
from ageshift.faces import dlib_backend  # noqa: E402


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


@pytest.fixture(scope="module")
def grace_hopper() -> Image.Image:
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return Image.open(path).convert("RGB")


@pytest.fixture(scope="module")
def estimator() -> age.PackagedAgeEstimator:
    return age.PackagedAgeEstimator()


def test_packaged_estimator_on_known_faces(astronaut, grace_hopper, estimator) -> None:
    young = age.estimate_faces(astronaut, estimator)
    old = age.estimate_faces(grace_hopper, estimator)
    assert len(young) == 1 and len(old) == 1
    assert 25 <= young[0].age <= 40  # Eileen Collins was 35-ish; the model says ~33
    assert 70 <= old[0].age <= 90  # Grace Hopper at 76
    x0, y0, x1, y1 = young[0].box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200
    assert young[0].gender in age.GENDER_LABELS
    assert 0.5 <= young[0].gender_probability <= 1.0


def test_external_boxes_give_the_same_age(astronaut, estimator) -> None:
    found = age.estimate_faces(astronaut, estimator)[0]
    boxed = age.estimate_faces(astronaut, estimator, boxes=[found.box])[0]
    assert boxed.age == pytest.approx(found.age, abs=1e-6)


def test_aligned_crops_are_judged_like_the_photo(astronaut, grace_hopper, estimator) -> None:
    crops = []
    for photo in (astronaut, grace_hopper):
        x0, y0, x1, y1 = dlib_backend.find_faces(photo)[0].rectangle
        width = x1 - x0
        crop = photo.crop(
            (int(x0 - 0.3 * width), int(y0 - 0.4 * width), int(x1 + 0.3 * width), int(y1 + 0.2 * width))
        )
        crops.append(np.asarray(crop.resize((96, 96))))
    ages, detected = age.predict_crop_ages(crops, estimator)
    assert ages.shape == (2,) and detected.dtype == bool
    assert ages[0] < 45 < 60 < ages[1]


def test_chips_must_have_the_right_shape(estimator) -> None:
    with pytest.raises(AgeshiftError, match="64x64"):
        estimator.predict(np.zeros((1, 32, 32, 3), np.uint8))
    assert estimator.predict(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0,)


def test_torch_port_matches_onnxruntime(astronaut, estimator) -> None:
    face = dlib_backend.find_faces(astronaut)[0]
    generator = np.random.default_rng(0)
    chips = np.concatenate(
        [
            dlib_backend.face_chip(astronaut, face, 64, 0.2)[None],
            generator.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8),
        ]
    )
    reference = estimator.predict(chips)
    port = age.TorchAgeEstimator()
    images = torch.from_numpy(chips).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    images.requires_grad_(True)
    ages = port(images)
    assert np.abs(ages.detach().double().numpy() - reference).max() < 1e-3
    ages.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in port.parameters())


def test_identity_distance(astronaut, grace_hopper) -> None:
    array = np.asarray(astronaut)
    same = identity.describe_photo(array)
    mirrored = identity.describe_photo(array[:, ::-1].copy())
    other = identity.describe_photo(grace_hopper)
    assert same is not None and mirrored is not None and other is not None
    assert identity.descriptor_distance(same, same) == pytest.approx(0.0, abs=1e-9)
    assert identity.descriptor_distance(same, mirrored) < identity.SAME_PERSON_THRESHOLD / 2
    assert identity.descriptor_distance(same, other) > identity.SAME_PERSON_THRESHOLD
