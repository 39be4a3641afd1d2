"""Video: every face in a video aged steadily, with the sound kept.

Public API (imported lazily so ``import ageshift.video`` stays cheap)::

    from ageshift.video import age_video
    result = age_video("clip.mp4", "aged.mp4", ageshift.load("identity"), {"direction": "older"})
"""

from __future__ import annotations

from typing import Any

from .formats import VIDEO_SUFFIXES, VideoError, is_video_path

_LAZY = {
    "age_video": "pipeline",
    "VideoInfo": "io",
    "VideoResult": "pipeline",
    "open_video": "io",
    "probe_video": "io",
    "count_frames": "io",
    "VideoWriter": "io",
    "FaceTracker": "track",
    "OneEuroFilter": "track",
    "TemporalStabiliser": "stabilise",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ageshift.video' has no attribute {name!r}")


__all__ = ["VIDEO_SUFFIXES", "VideoError", "is_video_path", *_LAZY]
