"""Faces in real photos: detect → align → translate → paste back.

Public API (imported lazily so ``import ageshift.faces`` stays cheap)::

    from ageshift.faces import create_detector, age_photo
    detector = create_detector("mtcnn")
    faces = detector.detect(pil_rgb)                 # list[FaceDetection], largest first
    result = age_photo(pil_rgb, ageshift.load("identity"), "older")
"""

from __future__ import annotations

from typing import Any

from .detect import DETECTOR_NAMES, create_detector, detect_faces
from .types import LANDMARK_NAMES, FaceDetection, FaceDetector, filter_detections

_LAZY = {
    "AlignmentSpec": "align",
    "AlignedFace": "align",
    "align_face": "align",
    "align_box": "align",
    "TEMPLATES": "align",
    "age_photo": "pipeline",
    "PhotoResult": "pipeline",
    "FaceResult": "pipeline",
    "paste_face": "blend",
    "prepare_face_dataset": "dataset",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ageshift.faces' has no attribute {name!r}")


__all__ = [
    "DETECTOR_NAMES",
    "LANDMARK_NAMES",
    "FaceDetection",
    "FaceDetector",
    "create_detector",
    "detect_faces",
    "filter_detections",
    *_LAZY,
]
