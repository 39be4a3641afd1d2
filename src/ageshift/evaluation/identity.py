"""Is it the same person? dlib's ResNet 128-d face descriptor (``face_recognition_models``, CC0).

Two descriptors closer than 0.6 (Euclidean) belong to the same person by dlib's convention (99.38 % on
LFW). Descriptors are computed from 150 px chips with padding 0.25, the alignment the network was trained
with.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from ..assets import package_file
from ..faces import dlib_backend

#: dlib's same-person threshold on the descriptor distance.
SAME_PERSON_THRESHOLD = 0.6
DESCRIPTOR_CHIP_SIZE = 150
DESCRIPTOR_PADDING = 0.25


@lru_cache(maxsize=1)
def _face_recognition_model() -> Any:
    dlib = dlib_backend.import_dlib("eval", "The identity metric")
    path = package_file(
        "face_recognition_models",
        "models/dlib_face_recognition_resnet_model_v1.dat",
        "eval",
        "The identity metric",
    )
    return dlib.face_recognition_model_v1(str(path))


def describe_chips(chips: np.ndarray) -> np.ndarray:
    """Descriptors of aligned 150 px chips.

    Args:
        chips: ``(N, 150, 150, 3)`` uint8 RGB chips aligned like ``dlib.get_face_chip(…, 150, 0.25)``.

    Returns:
        ``(N, 128)`` float64 descriptors.
    """
    if len(chips) == 0:
        return np.zeros((0, 128))
    model = _face_recognition_model()
    descriptors = model.compute_face_descriptor([np.ascontiguousarray(chip) for chip in chips])
    return np.asarray([np.asarray(d) for d in descriptors], dtype=np.float64)


def describe_photo(image: Image.Image | np.ndarray) -> np.ndarray | None:
    """Descriptor of the largest face a detector finds in a photo.

    Args:
        image: RGB photo.

    Returns:
        ``(128,)`` descriptor, or ``None`` when no face is found.
    """
    face = dlib_backend.largest_face(dlib_backend.find_faces(image))
    if face is None:
        return None
    chip = dlib_backend.face_chip(image, face, DESCRIPTOR_CHIP_SIZE, DESCRIPTOR_PADDING)
    return describe_chips(chip[None])[0]


def describe_crops(crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors of already aligned face crops (dataset images, model outputs).

    Args:
        crops: ``(H, W, 3)`` uint8 RGB arrays.

    Returns:
        ``(descriptors, detected)``: ``(N, 128)`` and ``(N,)`` bool, ``True`` where dlib's detector found the
        face (elsewhere the chip was aligned on a full-frame guess, which is less reliable).
    """
    chips, detected = dlib_backend.crop_chips(crops, DESCRIPTOR_CHIP_SIZE, DESCRIPTOR_PADDING)
    return describe_chips(chips), detected


def descriptor_distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Euclidean distance between matching rows of two ``(N, 128)`` descriptor arrays; returns ``(N,)``."""
    return np.linalg.norm(np.asarray(first) - np.asarray(second), axis=-1)


def identity_distances(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Descriptor distance between each input crop and its translated output.

    Args:
        inputs: ``(H, W, 3)`` uint8 RGB crops.
        outputs: the model's outputs for them, same order.

    Returns:
        ``(distances, detected)``: ``(N,)`` distances (< 0.6: same person) and ``(N,)`` bool, ``True`` where
        the face was detected in both images.
    """
    input_descriptors, input_detected = describe_crops(inputs)
    output_descriptors, output_detected = describe_crops(outputs)
    return descriptor_distance(input_descriptors, output_descriptors), input_detected & output_detected
