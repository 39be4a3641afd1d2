"""Which files are videos, the error for ones that cannot be read, and the video defaults (no heavy imports:
the CLI loads this module to build its options)."""

from __future__ import annotations

from pathlib import Path

from ..errors import AgeshiftError

#: File suffixes the ``age`` command treats as videos.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


class VideoError(AgeshiftError):
    """A video file cannot be read or written (not a video, truncated, no frames, ffmpeg failed)."""


def is_video_path(path: str | Path) -> bool:
    """Whether ``path`` has a video suffix (see :data:`VIDEO_SUFFIXES`)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


#: Defaults of ``age_video`` and the ``age`` options, chosen by measurement (benchmarks/bench_video.py,
#: docs/video.md).
DEFAULT_DETECT_EVERY = 5
DEFAULT_SMOOTH = 1.0
DEFAULT_STABILISE = 0.6
