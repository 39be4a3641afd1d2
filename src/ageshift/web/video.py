"""The web page's video section: one short uploaded video through the same tracked, stabilised pipeline as
``ageshift age clip.mp4`` (docs/video.md), under limits that keep one request from holding the server."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import AgeshiftError

#: Longest video the page takes, in seconds, and its largest frame, in pixels (720p).
MAX_VIDEO_SECONDS = 20.0
MAX_VIDEO_PIXELS = 1280 * 720


class VideoProcessResult(NamedTuple):
    """What the page shows for a video: the result's path (``None`` on failure) and one message line."""

    video: str | None
    message: str


def process_video(
    upload: str | Path | None,
    *,
    translator: Any,
    request: Mapping[str, Any],
    detector: Any = "mtcnn",
    max_seconds: float = MAX_VIDEO_SECONDS,
    max_pixels: int = MAX_VIDEO_PIXELS,
    out_folder: str | Path | None = None,
) -> VideoProcessResult:
    """Age every face of one uploaded video (the upload is only read) and return the new file.

    Args:
        upload: the uploaded file's path, or ``None`` when nothing was uploaded.
        translator: the loaded model, shared with the photo section.
        request: ``direction``, ``target_age``, ``attributes``, ``strength`` (the page's controls).
        detector: face detector name or object.
        max_seconds: refuse longer videos.
        max_pixels: refuse larger frames.
        out_folder: where the result is written (default: a new temporary folder, cleaned by the page's cache).

    Returns:
        ``VideoProcessResult(path, message)``; a refused or unreadable video gives ``(None, reason)``.
    """
    from ..video.formats import is_video_path
    from ..video.io import probe_video
    from ..video.pipeline import age_video

    if upload is None or not str(upload).strip():
        return VideoProcessResult(None, "Please upload a short video first (MP4, MOV, MKV, AVI or WebM).")
    source = Path(upload)
    if not is_video_path(source):
        return VideoProcessResult(None, f"{source.name}: not a video file (MP4, MOV, MKV, AVI or WebM)")
    try:
        info = probe_video(source)
        width, height = info.size
        if width * height > max_pixels:
            raise AgeshiftError(f"{width}x{height} frames are larger than the page's limit of 1280x720")
        if info.duration > max_seconds:
            raise AgeshiftError(
                f"{info.duration:.1f} s is longer than the page's limit of {max_seconds:g} s; "
                "use `ageshift age VIDEO` for long videos"
            )
        folder = (
            Path(out_folder) if out_folder is not None else Path(tempfile.mkdtemp(prefix="ageshift-video-"))
        )
        out = folder / f"{source.stem}-aged.mp4"
        result = age_video(source, out, translator, request, detector=detector)
    except AgeshiftError as error:
        return VideoProcessResult(None, f"Could not process this video: {error}")
    report = result.to_json()
    return VideoProcessResult(
        str(out),
        f"Done: {len(report['faces'])} face track(s) in {report['frames']} frames of {width}x{height} "
        f"at {info.fps:g} fps" + (", sound kept." if info.audio_codec else "."),
    )
