"""Faces tracked across video frames: IoU association of detections to tracks, cheap motion propagation between
detections, and One-Euro smoothing of the landmarks so that the aligned crop does not jitter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import AgeshiftError
from ..faces.types import FaceDetection, overlaps

#: One-Euro ``beta`` of ``--smooth`` (chosen by measurement, see :func:`smoothing_filter`).
SMOOTH_BETA = 3.0


class OneEuroFilter:
    """The One-Euro filter (Casiry, Roussel & Vogel, CHI 2012) on an array of values.

    A low-pass filter whose cutoff rises with speed: still landmarks are smoothed hard (no jitter), fast
    ones barely (little lag).

    Args:
        min_cutoff: cutoff in Hz when still (lower: smoother).
        beta: how fast the cutoff rises with speed (``speed`` in units of ``scale`` per second).
        derivative_cutoff: cutoff in Hz of the speed estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 1.0, derivative_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, period: float) -> Any:
        tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
        return 1.0 / (1.0 + tau / period)

    def __call__(self, value: np.ndarray, period: float, scale: float = 1.0) -> np.ndarray:
        """Filter the next sample.

        Args:
            value: the new raw values (any shape, fixed across calls).
            period: seconds since the previous sample.
            scale: unit of speed (e.g. the face size in pixels, so ``beta`` does not depend on resolution).

        Returns:
            The filtered values, same shape.
        """
        value = np.asarray(value, np.float64)
        if self._value is None or self._speed is None:
            self._value, self._speed = value.copy(), np.zeros_like(value)
            return value.copy()
        speed = (value - self._value) / period
        alpha_speed = self._alpha(self.derivative_cutoff, period)
        self._speed = alpha_speed * speed + (1 - alpha_speed) * self._speed
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed) / max(scale, 1e-9)
        alpha = self._alpha(cutoff, period)
        self._value = alpha * value + (1 - alpha) * self._value
        return self._value.copy()

    def shift(self, offset: np.ndarray) -> None:
        """Move the filter's state by ``offset`` (a known motion, so it is not mistaken for jitter)."""
        if self._value is not None:
            self._value = self._value + offset


def smoothing_filter(smooth: float) -> OneEuroFilter | None:
    """The landmark filter for a ``--smooth`` strength: ``0`` off; ``1`` a 1 Hz still cutoff; ``2`` 0.5 Hz.

    Args:
        smooth: strength ``>= 0``.

    Returns:
        A new filter, or ``None`` for no smoothing.
    """
    if smooth < 0:
        raise AgeshiftError(f"--smooth must be >= 0 (0 turns smoothing off), got {smooth}")
    # beta 3 (speed in face sizes per second) measured against 0.7 and 10 in benchmarks/bench_video.py: it
    # halves the lag of 0.7 for 7 % more flicker; 10 brings back most of the jitter.
    return OneEuroFilter(min_cutoff=1.0 / smooth, beta=SMOOTH_BETA) if smooth > 0 else None


@dataclass
class Track:
    """One face followed over frames.

    Attributes:
        track_id: stable identity (0, 1, … in order of appearance).
        detection: the latest raw (or propagated) detection.
        smoothed: the detection with smoothed landmarks (what the face is aligned with).
        missed: detection rounds in a row without a matching detection.
        velocity: ``(2,)`` pixels per frame, a running average of the motion between matching detections.
        seen: the last matching detection, and ``last_seen`` its frame.
        frames: frame indices where the face was edited.
        boxes: the smoothed box at each of those frames.
        landmarks: the smoothed ``(5, 2)`` landmarks at each of those frames (not in the JSON report).
    """

    track_id: int
    detection: FaceDetection
    smoothed: FaceDetection
    landmark_filter: OneEuroFilter | None = field(default=None, repr=False)
    missed: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2), repr=False)
    seen: FaceDetection | None = field(default=None, repr=False)
    last_seen: int = 0
    frames: list[int] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list, repr=False)
    landmarks: list[np.ndarray] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The per-face report: id, first and last frame, and the box at every frame."""
        return {
            "track_id": self.track_id,
            "first_frame": self.frames[0] if self.frames else None,
            "last_frame": self.frames[-1] if self.frames else None,
            "frames": self.frames,
            "boxes": [[round(v, 1) for v in box] for box in self.boxes],
        }


def _greedy_pairs(
    boxes: Sequence[tuple[float, ...]], detections: list[FaceDetection], min_iou: float, taken: set[int]
) -> list[tuple[int, int]]:
    """``(box index, detection index)`` pairs by IoU, best first, each used once, ``taken`` detections skipped."""
    free = [d for d in range(len(detections)) if d not in taken]
    found = np.array([detections[d].box for d in free], np.float64).reshape(-1, 4)
    pairs = sorted(
        ((float(overlap), b, d) for b, box in enumerate(boxes)
         for overlap, d in zip(overlaps(np.asarray(box, np.float64), found), free, strict=True)),
        reverse=True,
    )  # fmt: skip
    used_boxes: set[int] = set()
    used_detections: set[int] = set()
    matched = []
    for overlap, b, d in pairs:
        if overlap < min_iou:
            break
        if b not in used_boxes and d not in used_detections:
            used_boxes.add(b)
            used_detections.add(d)
            matched.append((b, d))
    return matched


class FaceTracker:
    """Associate each detection round to tracks by IoU (greedy, best pairs first) and follow faces between rounds.

    A face missed by a round (occluded, or the detector blinked) coasts along its velocity; after
    ``max_missed`` rounds it is no longer edited but remembered for ``keep_lost`` frames, so a face that comes
    out from behind another one, near where its motion predicts, gets its old id back.

    Args:
        fps: frame rate (the One-Euro filter works in seconds).
        smooth: landmark smoothing strength (see :func:`smoothing_filter`).
        min_iou: a detection continues a track only if their boxes overlap at least this much.
        max_missed: a track stops being edited after this many detection rounds in a row without its face.
        keep_lost: frames a lost track can still be re-identified (default: 2 seconds).
    """

    def __init__(
        self,
        fps: float,
        smooth: float = 1.0,
        min_iou: float = 0.3,
        max_missed: int = 1,
        keep_lost: int | None = None,
    ) -> None:
        smoothing_filter(smooth)  # validates
        self.period, self.smooth, self.min_iou, self.max_missed = 1.0 / fps, smooth, min_iou, max_missed
        self.keep_lost = round(2 * fps) if keep_lost is None else keep_lost
        self.active: list[Track] = []
        self.lost: list[Track] = []
        self.finished: list[Track] = []
        self.frame = -1
        self._next_id = 0

    def update(self, detections: list[FaceDetection]) -> list[Track]:
        """A detection round (the next frame): continue, revive, start and end tracks.

        Args:
            detections: every face found in this frame (in frame pixels).

        Returns:
            The tracks to edit in this frame: matched ones and those missed at most ``max_missed`` rounds.
        """
        self.frame += 1
        # where each face should be now: its last position moved along its velocity
        predicted = [_shifted(track.detection, track.velocity) for track in self.active]
        taken: set[int] = set()
        matched_tracks: set[int] = set()
        for t, d in _greedy_pairs([box.box for box in predicted], detections, self.min_iou, taken):
            self._observe(self.active[t], detections[d], seen=True)
            matched_tracks.add(t)
            taken.add(d)
        for t, track in enumerate(self.active):
            if t not in matched_tracks:
                track.missed += 1
                self._observe(track, predicted[t], seen=False)
        for track in [track for track in self.active if track.missed > self.max_missed]:
            self.active.remove(track)
            self.lost.append(track)
        self._revive(detections, taken)
        for d, found in enumerate(detections):
            if d not in taken:
                track = Track(self._next_id, found, found, smoothing_filter(self.smooth), seen=found)
                track.last_seen = self.frame
                if track.landmark_filter is not None:
                    track.landmark_filter(found.landmarks, self.period, found.size)
                self._next_id += 1
                self.active.append(track)
        return list(self.active)

    def _revive(self, detections: list[FaceDetection], taken: set[int]) -> None:
        """Give lost tracks their faces back where a detection lies on their predicted path; forget old ones."""
        self.finished += [track for track in self.lost if self.frame - track.last_seen > self.keep_lost]
        self.lost = [track for track in self.lost if self.frame - track.last_seen <= self.keep_lost]
        predicted = [
            _shifted(t.seen or t.detection, t.velocity * (self.frame - t.last_seen)).box for t in self.lost
        ]
        revived = _greedy_pairs(predicted, detections, self.min_iou, taken)
        for t, d in revived:
            track = self.lost[t]
            track.missed, track.landmark_filter = 0, smoothing_filter(self.smooth)
            self._observe(track, detections[d], seen=True)
            taken.add(d)
            self.active.append(track)
        self.lost = [track for t, track in enumerate(self.lost) if t not in {t for t, _ in revived}]

    def propagate(self, shifts: list[np.ndarray]) -> list[Track]:
        """A frame between detection rounds (the next frame): move each active track by its estimated motion.

        Args:
            shifts: one ``(2,)`` ``(dx, dy)`` pixel shift per active track, in :attr:`active` order; a track
                missed by the last round coasts along its velocity instead (the region may show an occluder).

        Returns:
            The active tracks (their landmarks smoothed one more step).
        """
        self.frame += 1
        for track, shift in zip(self.active, shifts, strict=True):
            step = track.velocity if track.missed else np.asarray(shift, np.float64)
            self._observe(track, _shifted(track.detection, step), seen=False)
        return list(self.active)

    def _observe(self, track: Track, detection: FaceDetection, seen: bool) -> None:
        """Move ``track`` to ``detection`` (a matching detection when ``seen``: velocity and ``seen`` updated)."""
        if seen:
            if track.seen is not None and self.frame > track.last_seen:
                step = (np.asarray(detection.box[:2]) - np.asarray(track.seen.box[:2])) / (
                    self.frame - track.last_seen
                )
                track.velocity = 0.5 * track.velocity + 0.5 * step
            track.missed, track.seen, track.last_seen = 0, detection, self.frame
        track.detection = detection
        landmarks = detection.landmarks
        if track.landmark_filter is not None:
            landmarks = track.landmark_filter(landmarks, self.period, detection.size)
        offset = landmarks.mean(0) - detection.landmarks.mean(0)
        box = tuple(np.asarray(detection.box) + np.tile(offset, 2))
        track.smoothed = FaceDetection(box, landmarks, detection.score)

    def record(self, track: Track, frame_index: int) -> None:
        """Note that ``track`` was edited in frame ``frame_index`` (for the report)."""
        track.frames.append(frame_index)
        track.boxes.append(track.smoothed.box)
        track.landmarks.append(track.smoothed.landmarks)

    def all_tracks(self) -> list[Track]:
        """Every track seen so far, by id."""
        return sorted(self.finished + self.lost + self.active, key=lambda track: track.track_id)


def _shifted(detection: FaceDetection, shift: np.ndarray) -> FaceDetection:
    box = tuple(np.asarray(detection.box) + np.tile(shift, 2))
    return FaceDetection(box, detection.landmarks + shift, detection.score)


def estimate_shift(
    previous: np.ndarray, current: np.ndarray, box: tuple[float, ...], side: int = 96
) -> np.ndarray:
    """How far the content of ``box`` moved from ``previous`` to ``current`` (phase correlation on a copy of
    about ``side`` pixels across, sub-pixel peak: a few milliseconds per face).

    Args:
        previous: ``(H, W)`` grey or ``(H, W, 3)`` RGB frame (only the region around ``box`` is read).
        current: the next frame, same shape.
        box: ``(x0, y0, x1, y1)`` region in ``previous``; searched with a margin of half its size.
        side: the region is reduced to about this many pixels across.

    Returns:
        ``(2,)`` ``(dx, dy)`` in frame pixels (zero when the region is empty).
    """
    x0, y0, x1, y1 = box
    margin_x, margin_y = (x1 - x0) / 2, (y1 - y0) / 2
    height, width = previous.shape[:2]
    left, top = max(int(x0 - margin_x), 0), max(int(y0 - margin_y), 0)
    right, bottom = min(int(x1 + margin_x), width), min(int(y1 + margin_y), height)
    if right - left < 8 or bottom - top < 8:
        return np.zeros(2)
    step = max(1, int(max(right - left, bottom - top) // side))
    first, second = (
        _reduced(previous[top:bottom, left:right], step),
        _reduced(current[top:bottom, left:right], step),
    )
    window = np.outer(np.hanning(first.shape[0]), np.hanning(first.shape[1]))
    spectrum = np.fft.rfft2((first - first.mean()) * window)
    spectrum_next = np.fft.rfft2((second - second.mean()) * window)
    cross = spectrum_next * np.conj(spectrum)
    correlation = np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-9), s=first.shape)
    peak = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    shift = []
    for axis, size in enumerate(correlation.shape):
        # parabola through the peak and its neighbours: sub-pixel precision
        before, after = list(peak), list(peak)
        before[axis], after[axis] = (peak[axis] - 1) % size, (peak[axis] + 1) % size
        low, mid, high = correlation[tuple(before)], correlation[peak], correlation[tuple(after)]
        curvature = low - 2 * mid + high
        fraction = 0.5 * (low - high) / curvature if curvature < 0 else 0.0
        position = peak[axis] + float(np.clip(fraction, -0.5, 0.5))
        shift.append(position - size if position > size / 2 else position)
    return np.array([shift[1] * step, shift[0] * step], np.float64)


def _reduced(region: np.ndarray, step: int) -> np.ndarray:
    """Grey block means of ``step × step`` pixels (an anti-aliased reduction), float64."""
    if region.ndim == 3:
        region = region.mean(-1)
    if step == 1:
        return np.asarray(region, np.float64)
    rows, columns = region.shape[0] // step, region.shape[1] // step
    return region[: rows * step, : columns * step].reshape(rows, step, columns, step).mean((1, 3))
