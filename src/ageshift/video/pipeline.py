"""``age_video``: every face of every frame edited with :func:`~ageshift.faces.age_photo`, tracked, smoothed and
stabilised over time, streamed from the input file to the output file with its audio."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import AgeshiftError
from ..faces.detect import detect_faces, resolve_detector
from ..faces.types import FaceDetector, filter_detections
from .formats import DEFAULT_DETECT_EVERY, DEFAULT_SMOOTH, DEFAULT_STABILISE
from .io import VideoInfo, VideoWriter, open_video
from .stabilise import StabilisedTranslator, TemporalStabiliser
from .track import FaceTracker, Track, estimate_shift

if TYPE_CHECKING:
    from ..models.translator import Translator


@dataclass
class VideoResult:
    """What :func:`age_video` did.

    Attributes:
        path: the written video.
        info: the input's :class:`~ageshift.video.io.VideoInfo`.
        frames: frames written.
        tracks: every face track (id, frames, boxes).
    """

    path: Path
    info: VideoInfo
    frames: int
    tracks: list[Track] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able report: the video's rate, size, frame count, audio, and one entry per face track."""
        return {
            "output": str(self.path),
            "fps": self.info.fps,
            "width": self.info.size[0],
            "height": self.info.size[1],
            "frames": self.frames,
            "audio": self.info.audio_codec,
            "faces": [track.to_json() for track in self.tracks],
        }


def _area(track: Track) -> float:
    x0, y0, x1, y1 = track.smoothed.box
    return (x1 - x0) * (y1 - y0)


def _faces_to_edit(tracks: list[Track], size: tuple[int, int], max_faces: int) -> list[Track]:
    """The tracks to edit in this frame: smoothed centre inside the frame, largest first, at most ``max_faces``.

    ``age_photo`` sorts faces largest first with a stable sort, so this order is also its crop order.
    """
    width, height = size
    inside = [
        track for track in tracks
        if 0 <= (track.smoothed.box[0] + track.smoothed.box[2]) / 2 < width
        and 0 <= (track.smoothed.box[1] + track.smoothed.box[3]) / 2 < height
    ]  # fmt: skip
    return sorted(inside, key=_area, reverse=True)[:max_faces]


def age_video(
    source: str | Path,
    out: str | Path,
    translator: Translator,
    request: Mapping[str, Any],
    *,
    detector: str | FaceDetector = "mtcnn",
    detect_every: int = DEFAULT_DETECT_EVERY,
    smooth: float = DEFAULT_SMOOTH,
    stabilise: float = DEFAULT_STABILISE,
    max_faces: int = 10,
    min_face_size: float = 40.0,
    min_score: float = 0.9,
    photo_options: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VideoResult:
    """Edit every face of a video and write the result with the input's frame rate, size and audio.

    Args:
        source: the input video (never modified).
        out: the output video; written atomically (nothing appears there on error or Ctrl-C).
        translator: a loaded model or chain (``ageshift.load(...)``).
        request: the condition: ``direction``, ``target_age``, ``attributes``, ``strength``.
        detector: backend name or detector object.
        detect_every: run the detector on every N-th frame; faces are followed by motion estimation between.
        smooth: One-Euro landmark smoothing strength (0: off; see :func:`~ageshift.video.track.smoothing_filter`).
        stabilise: weight ``[0, 1)`` of the previous frame's edit blended into this one (0: frame by frame).
        max_faces: at most this many faces per frame, largest first.
        min_face_size: smallest face side in pixels.
        min_score: detector confidence threshold.
        photo_options: more :func:`~ageshift.faces.age_photo` options (``color_match``, ``keep_detail``,
            ``upscaler``, ``feather``…).
        progress: called with ``(frames done, frames expected)`` after each frame.

    Returns:
        :class:`VideoResult` (the per-face report is ``result.to_json()``).
    """
    from ..faces.pipeline import age_photo

    if detect_every < 1:
        raise AgeshiftError(f"--detect-every must be >= 1, got {detect_every}")
    options = dict(photo_options or {})
    found_by = resolve_detector(detector)
    model = StabilisedTranslator(translator, TemporalStabiliser(stabilise))
    with (
        open_video(source) as (info, frames),
        VideoWriter(out, info.fps, info.size, source if info.has_audio else None) as writer,
    ):
        tracker = FaceTracker(info.fps, smooth)
        previous: np.ndarray | None = None
        for index, frame in enumerate(frames):
            picture = Image.fromarray(frame)
            if index % detect_every == 0 or previous is None:
                found = detect_faces(picture, found_by, 1024, min_face_size)
                tracks = tracker.update(filter_detections(found, min_face_size, min_score, max_faces))
            else:
                boxes = [track.detection.box for track in tracker.active]
                tracks = tracker.propagate([estimate_shift(previous, frame, box) for box in boxes])
            previous = frame  # the decoded frame (each is its own buffer: no copy needed), not the edited one
            shown = _faces_to_edit(tracks, info.size, max_faces)
            if shown:
                model.expect([(t.track_id, t.smoothed, t.detection.landmarks) for t in shown])
                result = age_photo(
                    picture, model, **request, detections=[t.smoothed for t in shown],  # type: ignore[arg-type]
                    max_faces=len(shown), min_face_size=0.0, min_score=0.0, **options,
                )  # fmt: skip
                for track in shown:
                    tracker.record(track, index)
                writer.write(np.asarray(result.image))
            else:
                writer.write(frame)
            if progress is not None:
                progress(index + 1, info.frame_estimate)
        return VideoResult(writer.path, info, writer.frames_written, tracker.all_tracks())
