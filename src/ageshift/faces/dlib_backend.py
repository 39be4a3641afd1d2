"""Everything dlib, in one place: the HOG frontal face detector, the 5- and 68-point shape predictors from
``face_recognition_models``, and aligned face chips.

Two users share it. The face pipeline's :class:`DlibDetector` turns dlib's faces into
:class:`~ageshift.faces.types.FaceDetection` (five landmarks in our order). Evaluation (the age estimator
and the identity descriptor) cuts ``dlib.get_face_chip`` chips, either from a *photo* with faces somewhere
in it, or from an *already aligned crop* such as a model output: the face fills the frame, the HOG detector
often misses small crops, so the landmark predictor runs on the whole frame, and a centred crop is the
last resort.

Licences: dlib (Boost), the 5-point predictor (CC0); the 68-point predictor was trained on iBUG 300-W,
whose terms exclude commercial use, so it is used only when asked for (``points="68"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from ..assets import package_file, require_module
from ..errors import AgeshiftError
from .types import FaceDetection, filter_detections, order_landmarks

#: Shape predictors by number of points: ``"5"`` (CC0, the default) or ``"68"`` (non-commercial).
LANDMARK_MODELS = ("5", "68")
_PREDICTOR_FILES = {
    "5": "models/shape_predictor_5_face_landmarks.dat",
    "68": "models/shape_predictor_68_face_landmarks.dat",
}
#: Where eyes, nose and mouth corners sit relative to each other on an average frontal face (unit square);
#: used to place the mouth corners that the 5-point predictor does not give.
_MEAN_FACE = np.array([[0.34, 0.40], [0.66, 0.40], [0.50, 0.638], [0.35, 0.68], [0.65, 0.68]])
#: Crops smaller than this are upscaled before landmarks are found: the predictor needs some resolution.
MIN_CROP_SIDE = 256
#: Share of a crop's side kept by the fallback centred chip (UTKFace-like crops have ~20 % margin).
CENTRED_CHIP_FRACTION = 0.72


def import_dlib(extra: str = "faces", feature: str = "dlib face detection and alignment") -> Any:
    """The ``dlib`` module, or :class:`~ageshift.errors.MissingDependencyError` with the install hint."""
    return require_module("dlib", "dlib-bin", extra, feature)


@lru_cache(maxsize=1)
def hog_detector() -> Any:
    """dlib's HOG frontal face detector (built into dlib; loaded once)."""
    return import_dlib().get_frontal_face_detector()


@lru_cache(maxsize=len(LANDMARK_MODELS))
def shape_predictor(points: str = "5") -> Any:
    """dlib's shape predictor with ``points`` landmarks (``"5"`` or ``"68"``; each loaded once)."""
    points = str(points)
    if points not in LANDMARK_MODELS:
        raise AgeshiftError(f"unknown dlib landmark model {points!r}; choose one of {LANDMARK_MODELS}")
    path = package_file(
        "face_recognition_models", _PREDICTOR_FILES[points], "faces", f"dlib's {points}-point face landmarks"
    )
    return import_dlib().shape_predictor(str(path))


def five_from_68(shape: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from dlib's 68 points: ``(68, 2)`` → ``(5, 2)``."""
    return np.stack([shape[36:42].mean(0), shape[42:48].mean(0), shape[30], shape[48], shape[54]])


def five_from_dlib5(shape: np.ndarray) -> np.ndarray:
    """Eye centres, nose and estimated mouth corners from dlib's 5 points (eye corners ×4, nose base).

    The mouth corners are placed by fitting a mean face to the two eyes and the nose.
    """
    from .align import similarity_transform

    eyes = order_landmarks(np.stack([shape[0:2].mean(0), shape[2:4].mean(0), shape[4], shape[4], shape[4]]))
    known = np.stack([eyes[0], eyes[1], shape[4]])
    matrix = similarity_transform(_MEAN_FACE[:3], known)
    mouth = _MEAN_FACE[3:] @ matrix[:, :2].T + matrix[:, 2]
    return np.concatenate([known, mouth])


@dataclass(frozen=True)
class DlibFace:
    """One face as dlib sees it.

    Attributes:
        rectangle: ``(left, top, right, bottom)``: dlib's rectangle in image pixels, where ``right`` and
            ``bottom`` are the last column and row inside it (see :attr:`box` for ``FaceDetection``'s form).
        dlib_points: the shape predictor's points in image pixels, in dlib's order: ``(5, 2)`` (two corners
            of each eye, then the nose base) or ``(68, 2)`` (iBUG 300-W order).
        dlib_shape: the ``dlib.full_object_detection`` the points came from (what chips are cut from).
        hog_score: the HOG detector's margin (unbounded); ``None`` when the rectangle did not come from it.
        detected: ``True`` when a detector found the face (HOG, or the caller's boxes), ``False`` when its
            place was guessed from the frame of an aligned crop.
    """

    rectangle: tuple[float, float, float, float]
    dlib_points: np.ndarray
    dlib_shape: Any
    hog_score: float | None
    detected: bool

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` with ``x1, y1`` just past the last pixel, like ``FaceDetection.box``."""
        left, top, right, bottom = self.rectangle
        return (left, top, right + 1.0, bottom + 1.0)

    @property
    def area(self) -> float:
        """Pixels inside :attr:`box`."""
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)

    @property
    def points5(self) -> np.ndarray:
        """``(5, 2)`` left eye, right eye, nose, mouth left, mouth right (``FaceDetection.landmarks`` order)."""
        five = (
            five_from_68(self.dlib_points)
            if len(self.dlib_points) == 68
            else five_from_dlib5(self.dlib_points)
        )
        return order_landmarks(five)

    def to_detection(self) -> FaceDetection:
        """This face as a :class:`FaceDetection`, the HOG margin squashed to a ``[0, 1]`` score (0.5 without one)."""
        # HOG scores are unbounded margins; a logistic squash makes them comparable to other backends.
        margin = 0.0 if self.hog_score is None else self.hog_score
        return FaceDetection(self.box, self.points5, 1.0 / (1.0 + np.exp(-2.0 * margin)))


def as_uint8_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """A C-contiguous ``(H, W, 3)`` uint8 RGB array from a PIL image or array (what dlib accepts)."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise AgeshiftError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} {tuple(image.shape)}")
    return np.ascontiguousarray(image)


def _place_points(
    array: np.ndarray, rectangle: Any, points: str, hog_score: float | None, detected: bool
) -> DlibFace:
    shape = shape_predictor(points)(array, rectangle)
    dlib_points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
    corners = (rectangle.left(), rectangle.top(), rectangle.right(), rectangle.bottom())
    return DlibFace(tuple(float(v) for v in corners), dlib_points, shape, hog_score, detected)  # type: ignore[arg-type]


def find_faces(image: Image.Image | np.ndarray, upsample: int = 0, points: str = "5") -> list[DlibFace]:
    """Find faces with dlib's HOG detector and place the landmarks in each.

    Args:
        image: RGB photo (PIL or ``(H, W, 3)`` uint8).
        upsample: times to upsample before detecting (finds faces under ~80 px, slower).
        points: shape predictor, ``"5"`` or ``"68"``.

    Returns:
        Faces in detector order (largest first is not guaranteed).
    """
    array = as_uint8_rgb(image)
    rectangles, scores, _ = hog_detector().run(array, int(upsample), 0.0)
    return [
        _place_points(array, rectangle, points, float(score), True)
        for rectangle, score in zip(rectangles, scores, strict=True)
    ]


def faces_in_boxes(
    image: Image.Image | np.ndarray, boxes: list[tuple[float, float, float, float]], points: str = "5"
) -> list[DlibFace]:
    """Place the landmarks inside boxes found by another detector (e.g. ``FaceDetection.box``).

    Args:
        image: RGB photo.
        boxes: ``(x0, y0, x1, y1)`` per face in image pixels, rounded and used as dlib rectangles
            (``x1, y1`` as the last pixel inside: a :attr:`DlibFace.rectangle` comes back unchanged).
        points: shape predictor, ``"5"`` or ``"68"``.

    Returns:
        One :class:`DlibFace` per box, in the same order.
    """
    array = as_uint8_rgb(image)
    rectangle = import_dlib().rectangle
    return [
        _place_points(array, rectangle(*(round(value) for value in box)), points, None, True) for box in boxes
    ]


def face_chip(image: Image.Image | np.ndarray, face: DlibFace, size: int, padding: float) -> np.ndarray:
    """Cut one aligned face chip with ``dlib.get_face_chip``.

    Args:
        image: the RGB image the face was found in.
        face: the face.
        size: chip side in pixels.
        padding: dlib's padding around the landmark template (0.2 for age, 0.25 for identity).

    Returns:
        ``(size, size, 3)`` uint8 RGB chip.
    """
    chip = import_dlib().get_face_chip(as_uint8_rgb(image), face.dlib_shape, size, padding)
    return np.ascontiguousarray(chip)


def largest_face(faces: list[DlibFace]) -> DlibFace | None:
    """The face with the largest box, or ``None`` for no faces."""
    return max(faces, key=lambda face: face.area) if faces else None


def _plausible(face: DlibFace, side: int) -> bool:
    """Whether 5-point landmarks on a full-frame guess look like a face that fills the frame."""
    points = face.dlib_points
    inside = bool(np.all((points >= 0) & (points < side)))
    eye_span = float(np.linalg.norm(points[0] - points[2]))
    return inside and 0.15 * side < eye_span < 0.8 * side


def upscale_crop(image: Image.Image | np.ndarray) -> np.ndarray:
    """A crop as a uint8 array, upscaled so its shorter side is at least :data:`MIN_CROP_SIDE` pixels."""
    array = as_uint8_rgb(image)
    height, width = array.shape[:2]
    if min(height, width) >= MIN_CROP_SIDE:
        return array
    scale = MIN_CROP_SIDE / min(height, width)
    size = (round(width * scale), round(height * scale))
    return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BICUBIC))


def face_in_crop(crop: np.ndarray) -> DlibFace | None:
    """Find the face of an already aligned crop (the face fills most of the frame), with 5 landmarks.

    Args:
        crop: ``(H, W, 3)`` uint8 RGB, ideally at least :data:`MIN_CROP_SIDE` pixels (see :func:`upscale_crop`).

    Returns:
        The largest detected face; else landmarks placed on the whole frame when they look plausible
        (``detected=False``); else ``None`` (use :func:`centred_chip`).
    """
    height, width = crop.shape[:2]
    found = largest_face(find_faces(crop))
    if found is not None:
        return found
    # dlib's HOG boxes cover brows to chin, about the middle 70 % of a UTKFace-style crop.
    margin_x, margin_y = 0.15 * width, 0.18 * height
    rectangle = import_dlib().rectangle(
        round(margin_x), round(margin_y), round(width - margin_x), round(height - margin_y * 0.6)
    )
    guess = _place_points(crop, rectangle, "5", None, False)
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


class DlibDetector:
    """dlib HOG face detector with 5- or 68-point landmarks reduced to the five of :class:`FaceDetection`.

    Args:
        landmarks: ``"5"`` (default, CC0) or ``"68"`` (iBUG 300-W: non-commercial use only).
        upsample: times the image is upsampled before detection (finds smaller faces, slower).
        min_face_size: size filter in pixels (never below what HOG can see: 80 px / 2**upsample).
        min_score: filter on the HOG detector's margin squashed to ``[0, 1]`` (0.6 ≈ margin 0.2: drops
            the weak hits HOG makes on clothing and backgrounds).
        max_faces: at most this many faces, largest first.
    """

    def __init__(
        self,
        landmarks: str = "5",
        upsample: int = 1,
        min_face_size: float = 40.0,
        min_score: float = 0.6,
        max_faces: int | None = 20,
    ) -> None:
        self.points = str(landmarks)
        # Load now (this also checks the name), so a missing package or model file shows when the
        # detector is made, not in the middle of a photo.
        shape_predictor(self.points)
        hog_detector()
        self.upsample = int(upsample)
        # HOG's 80-pixel window halves with each upsampling; smaller faces cannot be found at all.
        self.min_face_size = max(float(min_face_size), 80.0 / 2**self.upsample)
        self.min_score = float(min_score)
        self.max_faces = max_faces

    def detect(self, image: Image.Image) -> list[FaceDetection]:
        """Find faces in an RGB PIL image; returns detections largest first."""
        detections = [face.to_detection() for face in find_faces(image, self.upsample, self.points)]
        return filter_detections(detections, self.min_face_size, self.min_score, self.max_faces)
