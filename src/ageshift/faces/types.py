"""Small value types shared by the face stages: detections and the detector interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from ..errors import AgeshiftError

#: Names of the five landmarks, in the order of ``FaceDetection.landmarks`` rows ("left" = smaller x in the image).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class FaceDetection:
    """One face found in an image.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in image pixels.
        landmarks: ``(5, 2)`` float ``(x, y)``: left eye, right eye, nose, mouth left, mouth right
            (left/right as seen in the image: the left eye has the smaller x).
        score: detector confidence in ``[0, 1]``.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray = field(compare=False)
    score: float

    def __post_init__(self) -> None:
        landmarks = np.asarray(self.landmarks, dtype=np.float64)
        if landmarks.shape != (5, 2):
            raise AgeshiftError(f"landmarks must have shape (5, 2), got {landmarks.shape}")
        object.__setattr__(self, "landmarks", landmarks)
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))
        object.__setattr__(self, "score", float(self.score))

    @property
    def size(self) -> float:
        """The shorter side of the box in pixels (what size filters compare against)."""
        x0, y0, x1, y1 = self.box
        return min(x1 - x0, y1 - y0)

    def scaled(self, factor: float) -> FaceDetection:
        """The same detection with box and landmarks multiplied by ``factor`` (to map between resolutions)."""
        return FaceDetection(tuple(v * factor for v in self.box), self.landmarks * factor, self.score)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict: box, landmarks by name, score."""
        return {
            "box": [round(v, 2) for v in self.box],
            "landmarks": {
                name: [round(float(x), 2), round(float(y), 2)]
                for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks, strict=True)
            },
            "score": round(self.score, 4),
        }


@runtime_checkable
class FaceDetector(Protocol):
    """Anything with ``detect(image) -> list[FaceDetection]`` (RGB PIL in, largest face first)."""

    def detect(self, image: Image.Image) -> list[FaceDetection]: ...


def overlaps(box: np.ndarray, boxes: np.ndarray, method: str = "union") -> np.ndarray:
    """How much one box ``(4,)`` overlaps each of ``boxes`` ``(N, 4)`` (``x0, y0, x1, y1``).

    Args:
        method: ``"union"`` (intersection over union) or ``"min"`` (intersection over the smaller box).

    Returns:
        ``(N,)`` overlaps in ``[0, 1]``; boxes without area overlap nothing.
    """
    width = np.maximum(0.0, np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]))
    height = np.maximum(0.0, np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]))
    inter = width * height
    area = max(float(box[2] - box[0]), 0.0) * max(float(box[3] - box[1]), 0.0)
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)
    if method == "min":
        return inter / np.maximum(np.minimum(area, areas), 1e-9)
    return inter / np.maximum(area + areas - inter, 1e-9)


def order_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Put eye and mouth pairs in image order (left = smaller x), whatever order a backend gave.

    Args:
        landmarks: ``(5, 2)`` eyes, nose, mouth corners.

    Returns:
        A ``(5, 2)`` float64 copy with each pair sorted by x.
    """
    ordered = np.array(landmarks, dtype=np.float64, copy=True)
    for first, second in ((0, 1), (3, 4)):
        if ordered[first, 0] > ordered[second, 0]:
            ordered[[first, second]] = ordered[[second, first]]
    return ordered


def filter_detections(
    detections: list[FaceDetection],
    min_face_size: float = 0.0,
    min_score: float = 0.0,
    max_faces: int | None = None,
) -> list[FaceDetection]:
    """Keep faces at least ``min_face_size`` pixels and ``min_score`` confident, largest first, at most ``max_faces``.

    Args:
        detections: faces in any order.
        min_face_size: the shorter box side must reach this, in pixels.
        min_score: confidence threshold.
        max_faces: cap on the number returned (``None`` for no cap).

    Returns:
        The kept detections sorted by box area, largest first.
    """
    if max_faces is not None and max_faces < 0:
        raise AgeshiftError(f"max_faces must be >= 0, got {max_faces}")
    kept = [d for d in detections if d.size >= min_face_size and d.score >= min_score]
    kept.sort(key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]), reverse=True)
    return kept if max_faces is None else kept[:max_faces]
