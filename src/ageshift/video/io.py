"""Streaming video decode and encode through imageio-ffmpeg: one frame in memory at a time, the original frame
rate and size kept, the audio track muxed back, and the result moved into place only when it is complete."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError
from .formats import VIDEO_SUFFIXES, VideoError, is_video_path

__all__ = [
    "VIDEO_SUFFIXES",
    "VideoError",
    "VideoInfo",
    "VideoWriter",
    "is_video_path",
    "open_video",
    "probe_video",
]


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video.

    Attributes:
        fps: frames per second.
        size: ``(width, height)`` in pixels.
        duration: seconds (0 when unknown).
        audio_codec: the first audio stream's codec, ``None`` when there is no audio.
        codec: the video codec, e.g. ``"h264"``.
    """

    fps: float
    size: tuple[int, int]
    duration: float
    audio_codec: str | None
    codec: str

    @property
    def frame_estimate(self) -> int:
        """Frames the duration and rate imply (for a progress bar; the decoded count may differ by one)."""
        return max(0, round(self.duration * self.fps))

    @property
    def has_audio(self) -> bool:
        """Whether the file has an audio track."""
        return self.audio_codec is not None


def _ffmpeg() -> Any:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MissingDependencyError("imageio-ffmpeg", "video", "Video input") from None
    return imageio_ffmpeg


def _short(error: BaseException) -> str:
    """The most telling line of an ffmpeg error (its own messages run over many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if any(k in line.lower() for k in ("invalid", "moov", "error", "not"))]
    return (telling or lines or [type(error).__name__])[-1][:200]


@contextlib.contextmanager
def open_video(path: str | Path) -> Iterator[tuple[VideoInfo, Iterator[np.ndarray]]]:
    """Open a video for streaming: its :class:`VideoInfo` and an iterator of frames, one decoded at a time.

    Args:
        path: a video file (never modified).

    Returns:
        A context manager yielding ``(info, frames)``; each frame is a uint8 ``(H, W, 3)`` RGB array.

    Raises:
        VideoError: missing file, not a video, truncated before its first frame, or no video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    reader = _ffmpeg().read_frames(str(path), pix_fmt="rgb24")
    try:
        try:
            meta = next(reader)
        except (OSError, RuntimeError, StopIteration, ValueError) as error:
            raise VideoError(f"{path}: not a readable video ({_short(error)})") from None
        width, height = (int(v) for v in meta["size"])
        fps = float(meta.get("fps") or 0.0)
        if width <= 0 or height <= 0 or fps <= 0:
            raise VideoError(f"{path}: no usable video stream (size {width}x{height}, {fps} fps)")
        info = VideoInfo(
            fps,
            (width, height),
            float(meta.get("duration") or 0.0),
            meta.get("audio_codec"),
            str(meta["codec"]),
        )
        yield info, _frames(reader, path, width, height)
    finally:
        reader.close()


def _frames(reader: Iterator[bytes], path: Path, width: int, height: int) -> Iterator[np.ndarray]:
    """Raw rgb24 buffers as ``(H, W, 3)`` arrays; a stream that dies before any frame is a truncated file."""
    count = 0
    try:
        for buffer in reader:
            count += 1
            yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3)
    except (OSError, RuntimeError) as error:
        if not count:
            raise VideoError(f"{path}: the video is truncated or corrupt ({_short(error)})") from None
        raise VideoError(f"{path}: decoding stopped after frame {count} ({_short(error)})") from None
    if not count:
        raise VideoError(f"{path}: the video is truncated or corrupt (no frame could be decoded)")


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's :class:`VideoInfo` without decoding its frames."""
    with open_video(path) as (info, _):
        return info


def count_frames(path: str | Path) -> int:
    """Decode a whole video and count its frames (exact, unlike :attr:`VideoInfo.frame_estimate`)."""
    with open_video(path) as (_, frames):
        return sum(1 for _ in frames)


def _hidden_temporary(path: Path, tag: str) -> Path:
    """A new hidden file beside ``path`` that keeps its suffix (ffmpeg picks the container from it)."""
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".{tag}{path.suffix}", dir=path.parent)
    os.close(handle)
    # mkstemp makes the file 0600; give it the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


class VideoWriter:
    """Encode frames to H.264 (yuv420p) at a fixed rate and size, then mux in ``audio_from``'s audio, atomically.

    Frames stream to an ffmpeg process (constant memory whatever the length). Nothing appears at ``path``
    until :meth:`close` succeeds: an error or Ctrl-C leaves ``path`` absent (or its previous file) and
    removes the hidden temporary files. Use as a context manager.

    Args:
        path: destination (``.mp4``, ``.mov`` or ``.mkv``; its folder is created).
        fps: frames per second of the output.
        size: ``(width, height)``; odd sides are padded by one edge pixel (yuv420p needs even sides).
        audio_from: a file whose audio tracks are copied in (``None``: no audio).
        quality: imageio-ffmpeg quality 0–10 (8 ≈ x264 CRF 10, visually lossless).
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        size: tuple[int, int],
        audio_from: str | Path | None = None,
        quality: float = 8.0,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = size
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self.frames_written = 0
        self._even = (size[0] + size[0] % 2, size[1] + size[1] % 2)
        self._video = _hidden_temporary(self.path, "video")
        self._temporaries = [self._video]
        self._encoder = _ffmpeg().write_frames(
            str(self._video), self._even, fps=fps, codec="libx264", pix_fmt_out="yuv420p",
            quality=quality, macro_block_size=1, ffmpeg_log_level="error",
        )  # fmt: skip
        self._encoder.send(None)

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 ``(H, W, 3)`` RGB frame of the writer's size."""
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise VideoError(
                f"{self.path}: frame {self.frames_written} is {frame.shape} {frame.dtype}, "
                f"expected ({self.size[1]}, {self.size[0]}, 3) uint8"
            )
        if self._even != self.size:
            pads = ((0, self._even[1] - self.size[1]), (0, self._even[0] - self.size[0]), (0, 0))
            frame = np.pad(frame, pads, mode="edge")
        self._encoder.send(np.ascontiguousarray(frame))
        self.frames_written += 1

    def close(self) -> Path:
        """Finish encoding, mux the audio, and move the result to :attr:`path`.

        Returns:
            The destination path.
        """
        try:
            self._encoder.close()
            if not self.frames_written:
                raise VideoError(f"{self.path}: no frames to write")
            final = self._video
            if self.audio_from is not None:
                final = _hidden_temporary(self.path, "muxed")
                self._temporaries.append(final)
                mux_audio(self._video, self.audio_from, final)
                self._video.unlink()
            os.replace(final, self.path)
        finally:
            self.abort()
        return self.path

    def abort(self) -> None:
        """Stop the encoder and remove every temporary file (the destination is left as it was)."""
        with contextlib.suppress(Exception):
            self._encoder.close()
        for temporary in self._temporaries:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def mux_audio(video: str | Path, audio_from: str | Path, out: str | Path) -> Path:
    """Copy ``video``'s video stream and ``audio_from``'s audio streams (if any) into ``out``.

    The audio is copied as is when the container takes it, else re-encoded to AAC.

    Returns:
        ``out`` as a ``Path``.

    Raises:
        VideoError: ffmpeg failed both ways (its last message is named).
    """
    ffmpeg = _ffmpeg().get_ffmpeg_exe()
    base = [
        ffmpeg,
        "-y",
        "-v",
        "error",
        "-i",
        str(video),
        "-i",
        str(audio_from),
        "-map",
        "0:v",
        "-map",
        "1:a?",
    ]
    error = ""
    for audio in (["-c:a", "copy"], ["-c:a", "aac", "-b:a", "192k"]):
        done = subprocess.run([*base, "-c:v", "copy", *audio, str(out)], capture_output=True, text=True)
        if done.returncode == 0:
            return Path(out)
        error = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    raise VideoError(f"{out}: could not add the audio of {audio_from} ({error})")
