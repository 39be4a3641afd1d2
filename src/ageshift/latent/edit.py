"""Edit latents along a direction and turn the edits into a progression video, a GIF and a contact sheet."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import ConfigError, MissingDependencyError
from ..image import make_grid, tensor_to_pil
from ..io import save_image
from ..outputs import atomic_write
from .directions import LatentDirection
from .generator import LatentGenerator

VIDEO_SUFFIXES = (".mp4", ".gif")


@dataclass(frozen=True)
class EditOutputs:
    """Files written by :func:`write_edit_outputs` and the shape of the video frames."""

    video: Path
    gif: Path | None
    contact_sheet: Path
    num_frames: int
    frame_size: tuple[int, int]  # (width, height)


def strength_schedule(start: float, stop: float, frames: int) -> list[float]:
    """Evenly spaced strengths from ``start`` to ``stop`` inclusive.

    Args:
        start: first strength.
        stop: last strength.
        frames: number of strengths (≥ 1; with 1 frame the schedule is ``[start]``).

    Returns:
        ``frames`` floats.
    """
    if frames < 1:
        raise ConfigError(f"frames must be at least 1, got {frames}")
    return [float(v) for v in np.linspace(start, stop, frames)] if frames > 1 else [float(start)]


def parse_strength_range(text: str) -> tuple[float, float]:
    """Parse ``"-2..2"`` (or a single number ``"1.5"``, meaning ``0..1.5``) into ``(start, stop)``."""
    try:
        if ".." in text:
            low, high = text.split("..", 1)
            return float(low), float(high)
        return 0.0, float(text)
    except ValueError:
        raise ConfigError(f"strength range {text!r} is not of the form START..STOP, e.g. -2..2") from None


def edit_images(
    generator: LatentGenerator, direction: LatentDirection, latents: torch.Tensor, strength: float
) -> torch.Tensor:
    """Render latents moved along a direction.

    Args:
        generator: the latent generator.
        direction: the direction (its latent size must match the generator's).
        latents: ``(B, latent_dim)``.
        strength: in the direction's units (standard deviations along it); 0 leaves the images unchanged.

    Returns:
        ``(B, 3, H, W)`` RGB in ``[-1, 1]``.
    """
    if direction.latent_dim != generator.latent_dim:
        raise ConfigError(
            f"direction has latent size {direction.latent_dim} but generator {generator.name} "
            f"uses {generator.latent_dim}: fit the direction on this generator"
        )
    with torch.no_grad():
        return generator.synthesize(direction.apply(latents, strength))


def render_frames(
    generator: LatentGenerator,
    direction: LatentDirection,
    latents: torch.Tensor,
    strengths: Sequence[float],
    upscale: int = 4,
    progress: bool = True,
) -> list[np.ndarray]:
    """One video frame per strength: the edited images of all latents side by side.

    Args:
        generator: the latent generator.
        direction: the direction.
        latents: ``(B, latent_dim)``, one column each.
        strengths: one strength per frame.
        upscale: integer enlargement (Lanczos) so 64-pixel images are watchable.
        progress: show a progress bar.

    Returns:
        ``len(strengths)`` uint8 arrays of shape ``(H, W, 3)``; both sides are even, as H.264 needs.
    """
    if upscale < 1:
        raise ConfigError(f"upscale must be a positive integer, got {upscale}")
    frames = []
    for strength in tqdm(strengths, desc="rendering frames", disable=not progress, unit="frame"):
        images = edit_images(generator, direction, latents, strength)
        frame = tensor_to_pil(make_grid([images], padding=2))
        if upscale > 1:
            frame = frame.resize((frame.width * upscale, frame.height * upscale), Image.Resampling.LANCZOS)
        frames.append(_even_size(np.asarray(frame)))
    return frames


def _even_size(frame: np.ndarray) -> np.ndarray:
    """Pad an ``(H, W, 3)`` frame with white to even height and width."""
    pad_height, pad_width = frame.shape[0] % 2, frame.shape[1] % 2
    if not pad_height and not pad_width:
        return frame
    return np.pad(frame, ((0, pad_height), (0, pad_width), (0, 0)), constant_values=255)


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float = 12.0) -> Path:
    """Write frames as an H.264 MP4 (through imageio-ffmpeg) or an animated GIF, atomically.

    Args:
        frames: uint8 ``(H, W, 3)`` arrays of one size.
        path: destination ending in ``.mp4`` or ``.gif``.
        fps: frames per second.

    Returns:
        The destination path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ConfigError(f"{path}: video suffix must be one of {', '.join(VIDEO_SUFFIXES)}")
    if not frames:
        raise ConfigError(f"{path}: no frames to write")
    if fps <= 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    payload = _encode_mp4(frames, fps) if suffix == ".mp4" else _encode_gif(frames, fps)
    with atomic_write(path) as stream:
        stream.write(payload)
    return path


def _encode_mp4(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """Encode frames to MP4 bytes with the ffmpeg binary shipped in the imageio-ffmpeg wheel."""
    try:
        import imageio.v3 as iio
        import imageio_ffmpeg  # noqa: F401  (the plugin needs it; import here for a clear error)
    except ImportError:
        raise MissingDependencyError("imageio-ffmpeg", "video", "Writing MP4 videos") from None
    # macro_block_size=2 keeps our exact (even) frame size instead of imageio rescaling to multiples of 16.
    return iio.imwrite(
        "<bytes>",
        np.stack(frames),
        extension=".mp4",
        plugin="FFMPEG",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        quality=8,
        macro_block_size=2,
    )


def _encode_gif(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """Encode frames to an endlessly looping animated GIF with Pillow."""
    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0
    )
    return buffer.getvalue()


def contact_sheet(
    generator: LatentGenerator,
    direction: LatentDirection,
    latents: torch.Tensor,
    strengths: Sequence[float],
    upscale: int = 1,
) -> Image.Image:
    """A grid with one row per latent and one column per strength.

    Args:
        generator: the latent generator.
        direction: the direction.
        latents: ``(B, latent_dim)``.
        strengths: the column strengths.
        upscale: integer enlargement of the sheet (Lanczos).

    Returns:
        An RGB PIL image.
    """
    columns = [edit_images(generator, direction, latents, s) for s in strengths]
    rows = [torch.stack([column[i] for column in columns]) for i in range(latents.shape[0])]
    sheet = tensor_to_pil(make_grid(rows, padding=2))
    if upscale > 1:
        sheet = sheet.resize((sheet.width * upscale, sheet.height * upscale), Image.Resampling.LANCZOS)
    return sheet


def edit_output_paths(out: str | Path, gif: bool = True) -> list[Path]:
    """The files :func:`write_edit_outputs` writes for ``out``: the video, the GIF beside it, the sheet.

    Args:
        out: the video path (``.mp4`` or ``.gif``).
        gif: whether a GIF is written beside an MP4.

    Returns:
        ``[video, (gif,) sheet]``, so a command can check each one before any work.
    """
    out = Path(out)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"{out}: output must end in {' or '.join(VIDEO_SUFFIXES)}")
    extra = [out.with_suffix(".gif")] if gif and out.suffix.lower() != ".gif" else []
    return [out, *extra, out.with_name(f"{out.stem}_sheet.png")]


def write_edit_outputs(
    generator: LatentGenerator,
    direction: LatentDirection,
    latents: torch.Tensor,
    out: str | Path,
    strength_range: tuple[float, float] = (-2.0, 2.0),
    frames: int = 48,
    fps: float = 12.0,
    upscale: int = 4,
    gif: bool = True,
    sheet_columns: int = 7,
    progress: bool = True,
) -> EditOutputs:
    """Render a progression along a direction to a video (``out``), a GIF beside it and a contact sheet PNG.

    Args:
        generator: the latent generator.
        direction: the direction.
        latents: ``(B, latent_dim)``, one face (or pet) per column.
        out: the video path (``.mp4`` or ``.gif``); the GIF and ``<stem>_sheet.png`` go beside it.
        strength_range: ``(start, stop)`` strengths of the first and last frame.
        frames: number of frames.
        fps: frames per second.
        upscale: enlargement of each frame.
        gif: also write ``<stem>.gif`` when ``out`` is an MP4.
        sheet_columns: strengths shown on the contact sheet.
        progress: show progress bars.

    Returns:
        The written paths, the frame count and the frame size.
    """
    out = Path(out)
    *videos, sheet_file = edit_output_paths(out, gif)
    strengths = strength_schedule(*strength_range, frames)
    video_frames = render_frames(generator, direction, latents, strengths, upscale, progress)
    for video in videos:
        write_video(video_frames, video, fps)
    gif_path = videos[1] if len(videos) > 1 else None
    sheet_strengths = strength_schedule(*strength_range, sheet_columns)
    sheet = contact_sheet(generator, direction, latents, sheet_strengths, upscale)
    sheet_path = save_image(sheet, sheet_file)
    height, width = video_frames[0].shape[:2]
    return EditOutputs(out, gif_path, sheet_path, len(video_frames), (width, height))


__all__ = [
    "EditOutputs",
    "contact_sheet",
    "edit_images",
    "edit_output_paths",
    "parse_strength_range",
    "render_frames",
    "strength_schedule",
    "write_edit_outputs",
    "write_video",
]
