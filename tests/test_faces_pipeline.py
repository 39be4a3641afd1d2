"""Alignment, paste-back and ``age_photo`` on real photos: identity round trips, untouched backgrounds,
borders, several and overlapping faces, boxes, whole-image mode, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ageshift
from ageshift.errors import AgeshiftError, ConfigError
from ageshift.faces import AlignmentSpec, FaceDetection, age_photo, align_box, align_face, create_detector
from ageshift.faces.align import TEMPLATES, apply_affine, similarity_transform
from ageshift.faces.blend import face_mask
from ageshift.models.translator import IdentityTranslator

# Tiny networks: one torch thread (see the fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

skimage_data = pytest.importorskip("skimage.data")
matplotlib = pytest.importorskip("matplotlib")


def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


def grace_hopper() -> Image.Image:
    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


def psnr(first: Image.Image, second: Image.Image) -> float:
    error = np.mean((np.asarray(first, np.float64) - np.asarray(second, np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255.0**2 / error)


def changed_outside(before: Image.Image, after: Image.Image, windows: list) -> int:
    """Pixels that differ outside every pasted window."""
    changed = (np.asarray(before) != np.asarray(after)).any(-1)
    for x0, y0, x1, y1 in windows:
        changed[y0:y1, x0:x1] = False
    return int(changed.sum())


class NegativeTranslator(IdentityTranslator):
    """Inverts colours: a translation whose effect is unmistakable."""

    def run(self, images: torch.Tensor, condition) -> torch.Tensor:
        return -images


class BrighterTranslator(IdentityTranslator):
    def run(self, images: torch.Tensor, condition) -> torch.Tensor:
        return (images + 0.4).clamp(-1, 1)


@pytest.fixture(scope="module")
def detector():
    return create_detector("mtcnn")


@pytest.fixture(scope="module")
def identity():
    return ageshift.load("identity")


@pytest.mark.parametrize("photo", [astronaut, grace_hopper])
def test_identity_round_trip_is_faithful_and_background_untouched(photo, detector, identity):
    image = photo()
    result = age_photo(image, identity, "older", detector=detector)
    assert result.image.size == image.size and len(result.faces) == 1
    assert psnr(image, result.image) >= 40.0
    window = result.faces[0].mask_box
    assert changed_outside(image, result.image, [window]) == 0
    x0, y0, x1, y1 = window
    assert psnr(image.crop(window), result.image.crop(window)) >= 35.0
    assert (x1 - x0) * (y1 - y0) < 0.6 * image.width * image.height
    assert np.asarray(image).tobytes() == np.asarray(photo()).tobytes()  # input not modified


def test_translated_face_is_pasted_inside_the_face_only(detector):
    image = astronaut()
    result = age_photo(image, NegativeTranslator(), "older", detector=detector)
    (face,) = result.faces
    difference = np.abs(np.asarray(image, np.int16) - np.asarray(result.image, np.int16)).sum(-1)
    # Strong change at the nose, none far outside the face.
    nose_x, nose_y = face.detection.landmarks[2].round().astype(int)
    assert difference[nose_y, nose_x] > 200
    assert changed_outside(image, result.image, [face.mask_box]) == 0
    assert difference[5, 5] == 0 and difference[500, 500] == 0
    json.dumps(result.to_json())


def test_alignment_puts_landmarks_on_the_template(detector):
    image = grace_hopper()
    (face,) = detector.detect(image)
    for template in TEMPLATES:
        spec = AlignmentSpec(template=template, size=128, padding=0.1)
        aligned = align_face(image, face, spec)
        assert aligned.crop.size == (128, 128)
        mapped = apply_affine(aligned.matrix, face.landmarks)
        assert np.abs(mapped - spec.points()).max() < 8  # five points, four degrees of freedom
        assert np.allclose(apply_affine(aligned.inverse, mapped), face.landmarks)


def test_similarity_transform_recovers_rotation_scale_shift_and_never_reflects():
    points = np.random.default_rng(0).uniform(0, 100, (5, 2))
    angle = 0.4
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = points @ (1.7 * rotation).T + [10.0, -4.0]
    assert np.allclose(similarity_transform(points, target)[:, :2], 1.7 * rotation)
    mirrored = similarity_transform(points, points * [-1, 1])
    assert np.linalg.det(mirrored[:, :2]) > 0
    with pytest.raises(AgeshiftError, match="one point"):
        similarity_transform(np.ones((5, 2)), points)


def test_align_box_crops_the_square_around_a_box():
    gradient = np.tile(np.arange(200, dtype=np.uint8), (100, 1))
    image = Image.fromarray(np.stack([gradient] * 3, -1))
    aligned = align_box(image, (50, 20, 90, 60), size=40)
    crop = np.asarray(aligned.crop)[..., 0].astype(int)
    assert abs(crop[20, 0] - 50) <= 1 and abs(crop[20, 39] - 89) <= 1
    with pytest.raises(AgeshiftError, match="empty"):
        align_box(image, (5, 5, 5, 9), size=40)


def test_spec_validation_and_metadata():
    with pytest.raises(ConfigError, match="'celeba'.*ffhq, utkface"):
        AlignmentSpec(template="celeba")
    with pytest.raises(ConfigError, match="padding"):
        AlignmentSpec(padding=-1)
    stored = {"crop": {"template": "utkface", "size": 128, "padding": 0.2, "detector": "mtcnn"}}
    assert AlignmentSpec.from_metadata(stored) == AlignmentSpec("utkface", 128, 0.2)
    assert AlignmentSpec.from_metadata({}, image_size=64) == AlignmentSpec("ffhq", 64, 0.0)
    assert AlignmentSpec.from_metadata({"crop": {"template": "synthetic", "size": 64}}).size == 64
    with pytest.raises(ConfigError, match="size"):
        AlignmentSpec.from_metadata({"crop": {"template": "ffhq", "size": 2}})


def test_mask_is_soft_and_zero_at_the_crop_border():
    spec = AlignmentSpec(template="utkface", size=96, padding=0.0)
    mask = np.asarray(face_mask(96, spec.points()))
    assert mask[48, 48] == 255 and mask[0].max() == 0 and mask[:, -1].max() == 0
    assert ((mask > 0) & (mask < 255)).sum() > 200  # a feathered edge, not a hard cut


def test_no_face_photo_comes_back_bit_identical(detector, identity):
    image = Image.fromarray(skimage_data.coffee())
    result = age_photo(image, identity, "younger", detector=detector)
    assert result.faces == [] and np.array_equal(np.asarray(result.image), np.asarray(image))


def test_several_overlapping_and_border_faces(detector):
    face = astronaut().crop((120, 20, 330, 230))  # mostly face
    canvas = Image.new("RGB", (420, 260), (40, 90, 140))
    canvas.paste(face, (-60, 30))  # cut by the left border
    canvas.paste(face.resize((160, 160)), (150, 0))
    canvas.paste(face.resize((150, 150)), (260, 100))  # crops of these two overlap
    result = age_photo(canvas, NegativeTranslator(), "older", detector=detector, min_face_size=20)
    assert result.image.size == canvas.size and len(result.faces) == 3
    windows = [f.mask_box for f in result.faces]
    assert min(w[0] for w in windows) == 0  # the border face's window is clipped, not shifted
    assert changed_outside(canvas, result.image, windows) == 0
    for f in result.faces:
        nose_x, nose_y = f.detection.landmarks[2].round().astype(int)
        assert (
            np.abs(
                np.asarray(result.image, int)[nose_y, nose_x] - np.asarray(canvas, int)[nose_y, nose_x]
            ).sum()
            > 150
        )


def test_user_boxes_and_whole_image_mode_for_pets():
    cat = Image.fromarray(skimage_data.chelsea())  # 451x300, no human face
    result = age_photo(cat, NegativeTranslator(), "older", boxes=[(140, 20, 300, 180)])
    (face,) = result.faces
    assert face.source == "box" and face.to_json()["landmarks"] is None
    assert changed_outside(cat, result.image, [face.mask_box]) == 0
    centre = np.asarray(result.image, int)[100, 220] + np.asarray(cat, int)[100, 220]
    assert np.all(np.abs(centre - 255) <= 2)  # inverted in the middle of the box
    whole = age_photo(cat, NegativeTranslator(), "older", mode="whole")
    assert whole.image.size == cat.size and whole.faces == []
    assert np.abs(np.asarray(whole.image, int) + np.asarray(cat, int) - 255).mean() < 25
    with pytest.raises(AgeshiftError, match="outside"):
        age_photo(cat, NegativeTranslator(), "older", boxes=[(500, 10, 600, 50)])
    with pytest.raises(AgeshiftError, match="4 numbers"):
        age_photo(cat, NegativeTranslator(), "older", boxes=[(1, 2, 3)])


def test_color_match_and_strength(detector):
    image = astronaut()
    (face,) = detector.detect(image)
    nose = tuple(face.landmarks[2].round().astype(int))
    plain = age_photo(image, BrighterTranslator(), "older", detector=detector)
    matched = age_photo(image, BrighterTranslator(), "older", detector=detector, color_match=True)
    matched_rgb = age_photo(image, BrighterTranslator(), "older", detector=detector, color_match="rgb")
    half = age_photo(image, BrighterTranslator(), "older", detector=detector, strength=0.5)
    original = np.asarray(image, int)[nose[1], nose[0]]

    def shift(result):
        return np.abs(np.asarray(result.image, int)[nose[1], nose[0]] - original).sum()

    assert (
        shift(plain) > 60
        and shift(matched) < 0.25 * shift(plain)
        and shift(matched_rgb) < 0.25 * shift(plain)
    )
    with pytest.raises(AgeshiftError, match="'hsv'"):
        age_photo(image, BrighterTranslator(), "older", detector=detector, color_match="hsv")
    assert 0.3 * shift(plain) < shift(half) < 0.7 * shift(plain)


def test_large_photo_detects_on_reduced_copy_and_pastes_at_full_resolution(detector, identity):
    image = astronaut().resize((2048, 2048), Image.Resampling.BICUBIC)
    result = age_photo(image, identity, "older", detector=detector, detect_max_side=512)
    (face,) = result.faces
    assert result.image.size == image.size and face.detection.size > 300
    assert changed_outside(image, result.image, [face.mask_box]) == 0
    assert psnr(image, result.image) >= 40.0


def test_bad_arguments_are_named(identity):
    image = astronaut()
    with pytest.raises(AgeshiftError, match="'sideways'.*older or younger"):
        age_photo(image, identity, "sideways")
    with pytest.raises(AgeshiftError, match="'pets'.*faces, whole"):
        age_photo(image, identity, "older", mode="pets")
    with pytest.raises(AgeshiftError, match="strength"):
        age_photo(image, identity, "older", strength=2.0)
    with pytest.raises(AgeshiftError, match="'haar'"):
        age_photo(image, identity, "older", detector="haar")
    with pytest.raises(AgeshiftError, match="boxes apply"):
        age_photo(image, identity, "older", mode="whole", boxes=[(0, 0, 9, 9)])
    with pytest.raises(AgeshiftError, match="'hsv'"):
        age_photo(Image.fromarray(skimage_data.coffee()), identity, "older", color_match="hsv")
    detection = FaceDetection((0, 0, 1, 1), np.ones((5, 2)), 1.0)
    with pytest.raises(AgeshiftError, match="one point"):
        align_face(image, detection)


def sharpness(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Mean absolute Laplacian of the gray image inside ``box``."""
    gray = np.asarray(image.convert("L").crop(box), np.float64)
    return float(
        np.abs(
            4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
        ).mean()
    )


def test_keep_detail_adds_the_change_and_keeps_a_big_face_sharp(detector, identity):
    image = grace_hopper().resize((1024, 1200), Image.Resampling.BICUBIC)  # face far larger than the crop
    exact = age_photo(image, identity, "older", detector=detector, keep_detail=True)
    assert np.array_equal(np.asarray(exact.image), np.asarray(image))
    replaced = age_photo(image, BrighterTranslator(), "older", detector=detector)
    detailed = age_photo(image, BrighterTranslator(), "older", detector=detector, keep_detail=True)
    (face,) = detailed.faces
    inner = tuple(int(v) for v in face.detection.box)
    assert sharpness(detailed.image, inner) > 1.2 * sharpness(replaced.image, inner)
    brightening = np.asarray(detailed.image, float)[inner[1] : inner[3], inner[0] : inner[2]].mean()
    assert brightening > np.asarray(image, float)[inner[1] : inner[3], inner[0] : inner[2]].mean() + 20


def test_in_place_pastes_into_the_given_image(detector):
    image = astronaut()
    result = age_photo(image, NegativeTranslator(), "older", detector=detector, in_place=True)
    assert result.image is image


def test_alignment_undoes_in_plane_rotation(detector):
    tilted = astronaut().rotate(20, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(120, 120, 120))
    (face,) = detector.detect(tilted)
    eyes = face.landmarks[1] - face.landmarks[0]
    assert abs(np.degrees(np.arctan2(eyes[1], eyes[0])) + 20) < 6  # the photo's eye line is tilted
    crop = align_face(tilted, face, AlignmentSpec(size=192)).crop
    (again,) = detector.detect(crop)
    eyes = again.landmarks[1] - again.landmarks[0]
    assert abs(np.degrees(np.arctan2(eyes[1], eyes[0]))) < 4  # level in the aligned crop
    assert np.abs(again.landmarks - AlignmentSpec(size=192).points()).max() < 12


def test_lab_conversion_round_trips_and_knows_red():
    from ageshift.faces.blend import lab_to_rgb, rgb_to_lab

    pixels = np.random.default_rng(1).integers(0, 256, (500, 3)).astype(float)
    assert np.abs(lab_to_rgb(rgb_to_lab(pixels)) - pixels).max() < 1e-6
    assert np.allclose(rgb_to_lab(np.array([255.0, 0, 0])), (53.24, 80.09, 67.20), atol=0.05)


def test_generated_dataset_crop_spec_is_understood():
    from ageshift.faces.align import AlignmentSpec

    spec = AlignmentSpec.from_metadata(
        {"crop": {"template": "dcgan64", "size": 64, "padding": 0.0, "points": []}}
    )
    assert spec.template == "dcgan64" and spec.points().shape == (5, 2)
