"""Choosing a face detector by name, and detecting on a reduced copy of a large photo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image

from ..errors import AgeshiftError
from .blazeface import BlazeFaceDetector
from .mtcnn import MTCNNDetector
from .types import FaceDetection, FaceDetector


def _mtcnn(**options: Any) -> FaceDetector:
    return MTCNNDetector(**options)


def _blazeface(**options: Any) -> FaceDetector:
    return BlazeFaceDetector(**options)


def _dlib(**options: Any) -> FaceDetector:
    from .dlib_backend import DlibDetector

    return DlibDetector(**options)


_DETECTORS: dict[str, Callable[..., FaceDetector]] = {"mtcnn": _mtcnn, "blazeface": _blazeface, "dlib": _dlib}
DETECTOR_NAMES = tuple(_DETECTORS)


def create_detector(name: str = "mtcnn", **options: Any) -> FaceDetector:
    """Build a face detector backend by name.

    Args:
        name: ``"mtcnn"`` (default; onnxruntime), ``"blazeface"`` or ``"blazeface:front"`` (fast, large faces
            only; MediaPipe's graphs from a user's copy, see :mod:`ageshift.faces.blazeface`) or ``"dlib"`` (HOG +
            shape predictor).
        **options: backend options, e.g. ``min_face_size``, ``min_score``, ``max_faces``.

    Returns:
        An object with ``detect(image: PIL RGB) -> list[FaceDetection]``, largest face first.
    """
    name, _, variant = name.partition(":")
    if name not in _DETECTORS:
        raise AgeshiftError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
    if variant:
        if name != "blazeface":
            raise AgeshiftError(f"the {name} face detector has no variants (got {name}:{variant})")
        options = {"model": variant, **options}
    try:
        return _DETECTORS[name](**options)
    except TypeError as error:
        raise AgeshiftError(f"bad option for the {name} face detector: {error}") from None


def resolve_detector(detector: str | FaceDetector) -> FaceDetector:
    """Accept a detector object or a backend name."""
    if isinstance(detector, str):
        return create_detector(detector)
    if not isinstance(detector, FaceDetector):
        raise AgeshiftError(
            f"detector must be a name ({', '.join(DETECTOR_NAMES)}) or have .detect(), got {detector!r}"
        )
    return detector


def detect_faces(
    image: Image.Image,
    detector: str | FaceDetector = "mtcnn",
    max_side: int | None = 1024,
    min_face_size: float | None = None,
) -> list[FaceDetection]:
    """Detect faces on a reduced copy of ``image``, reported in full-resolution pixels.

    The copy is at most ``max_side`` pixels long, and no larger than needed to see faces of
    ``min_face_size`` at the smallest size the detector looks for (a big speed-up: detection cost grows
    with the pixels of the copy).

    Args:
        image: RGB PIL image of any size.
        detector: a backend name or a :class:`FaceDetector`.
        max_side: longest side of the copy the detector sees (``None``: no limit).
        min_face_size: smallest face wanted, in ``image`` pixels (``None``: no extra reduction).

    Returns:
        Detections in ``image`` pixels, in the detector's order (largest first).
    """
    found = resolve_detector(detector)
    factor = 1.0 if max_side is None else max(image.size) / max_side
    smallest_seen = getattr(found, "min_face_size", None)
    if min_face_size and smallest_seen:
        factor = max(factor, float(min_face_size) / float(smallest_seen))
    if factor <= 1.0:
        return found.detect(image)
    if isinstance(found, BlazeFaceDetector):
        # It letterboxes the photo to its own small input anyway and cuts O-Net's windows at full resolution.
        return found.detect(image, min_face_size=min_face_size)
    if isinstance(found, MTCNNDetector):
        # Same pyramid as on the reduced copy, built from the photo itself: P-Net scans the same pixels, and R/O-Net
        # cut their windows at full resolution (no reduced copy of the photo is made).
        return found.detect(image, min_face_size=float(found.min_face_size) * factor)
    size = (max(1, round(image.width / factor)), max(1, round(image.height / factor)))
    reduced = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return [detection.scaled(image.width / size[0]) for detection in found.detect(reduced)]
