"""dlib face detection: the HOG frontal detector (``dlib-bin``) plus a shape predictor from
``face_recognition_models`` (5-point, CC0; or 68-point, trained on iBUG 300-W: non-commercial terms)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import AgeshiftError, MissingDependencyError
from .detect import package_folder
from .types import FaceDetection, filter_detections, order_landmarks

#: Where eyes, nose and mouth corners sit relative to each other on an average frontal face (unit square);
#: used to place the mouth corners that the 5-point predictor does not give.
_MEAN_FACE = np.array([[0.34, 0.40], [0.66, 0.40], [0.50, 0.638], [0.35, 0.68], [0.65, 0.68]])
LANDMARK_MODELS = ("5", "68")


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise MissingDependencyError("dlib-bin", "faces", "the dlib face detector") from None
    return dlib


def _predictor_path(points: str) -> Path:
    folder = package_folder("face_recognition_models", "face_recognition_models", "dlib face landmarks")
    name = {"5": "shape_predictor_5_face_landmarks.dat", "68": "shape_predictor_68_face_landmarks.dat"}[
        points
    ]
    path = folder / "models" / name
    if not path.is_file():
        raise MissingDependencyError(
            "face_recognition_models", "faces", f"dlib face landmarks ({path} is missing)"
        )
    return path


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
        if str(landmarks) not in LANDMARK_MODELS:
            raise AgeshiftError(f"unknown dlib landmark model {landmarks!r}; choose one of {LANDMARK_MODELS}")
        dlib = _import_dlib()
        self.points = str(landmarks)
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(_predictor_path(self.points)))
        self.upsample = int(upsample)
        # HOG's 80-pixel window halves with each upsampling; smaller faces cannot be found at all.
        self.min_face_size = max(float(min_face_size), 80.0 / 2**self.upsample)
        self.min_score = float(min_score)
        self.max_faces = max_faces
        self._rectangle = dlib.rectangle

    def detect(self, image: Image.Image) -> list[FaceDetection]:
        """Find faces in an RGB PIL image; returns detections largest first."""
        pixels = np.asarray(image.convert("RGB"))
        rectangles, scores, _ = self.detector.run(pixels, self.upsample, 0.0)
        detections = []
        for rectangle, raw_score in zip(rectangles, scores, strict=True):
            shape = self.predictor(pixels, rectangle)
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            five = five_from_68(points) if self.points == "68" else five_from_dlib5(points)
            box = (rectangle.left(), rectangle.top(), rectangle.right() + 1, rectangle.bottom() + 1)
            # HOG scores are unbounded margins; a logistic squash makes them comparable to other backends.
            score = 1.0 / (1.0 + np.exp(-2.0 * raw_score))
            detections.append(FaceDetection(box, order_landmarks(five), score))
        return filter_detections(detections, self.min_face_size, self.min_score, self.max_faces)
