"""Edit a real photo through a latent generator: align, project, move along a direction, paste the change back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..image import make_grid, tensor_to_pil
from ..io import atomic_write, load_image, save_image
from .directions import LatentDirection, json_safe
from .edit import edit_images, write_edit_outputs
from .generator import DCGAN64_TEMPLATE, LatentGenerator
from .projection import (
    FeatureExtractor,
    ProjectionConfig,
    align_for_generator,
    project_images,
)


@dataclass
class PhotoEditReport:
    """What :func:`edit_photo` wrote and how faithful the projection was."""

    folder: Path
    face_found: bool
    psnr: float
    initial_loss: float
    final_loss: float
    files: dict[str, Path] = field(default_factory=dict)


def edit_photo(
    photo_path: str | Path,
    generator: LatentGenerator,
    out: str | Path,
    direction: LatentDirection | None = None,
    strengths: tuple[float, ...] = (-2.0, -1.0, 1.0, 2.0),
    config: ProjectionConfig | None = None,
    feature_extractor: FeatureExtractor | None = None,
    video_frames: int = 0,
    progress: bool = True,
) -> PhotoEditReport:
    """Project a photo's face into the latent space and (with a direction) edit it and paste the edits back.

    Writes into ``out``: ``aligned.png`` (the target crop), ``reconstruction.png``, ``latent.safetensors``,
    ``projection.json`` (PSNR and losses); with a direction also ``edits.png`` (target, reconstruction, one
    tile per strength), ``photo_strength_<s>.png`` per strength when a face was found (only the edit's change
    is added to the photo, so the projection's error does not replace the real face), and with
    ``video_frames > 0`` a progression ``edit.mp4`` and GIF.

    Args:
        photo_path: the photo (never modified).
        generator: the latent generator.
        out: output folder.
        direction: attribute direction; ``None`` only projects.
        strengths: edit strengths for the still images.
        config: projection settings.
        feature_extractor: optional frozen feature network for the projection.
        video_frames: frames of a progression video from ``min(strengths)`` to ``max(strengths)`` (0: none).
        progress: show progress bars.

    Returns:
        A :class:`PhotoEditReport`.
    """
    photo = load_image(photo_path)
    target, aligned = align_for_generator(photo, generator.image_size)
    result = project_images(generator, target, config, feature_extractor, progress)
    with_noise = getattr(generator, "with_noise", None)
    if result.noise is not None and with_noise is not None:
        # Edits render with the noise maps the projection found, so they differ from it only by the edit.
        generator = with_noise(result.noise)
    folder = Path(out)
    files = {
        "aligned": save_image(tensor_to_pil(target[0]), folder / "aligned.png"),
        "reconstruction": save_image(tensor_to_pil(result.reconstructions[0]), folder / "reconstruction.png"),
        "latent": _save_latent(folder / "latent.safetensors", result.latents),
    }
    if direction is not None:
        files.update(_write_edits(photo, aligned, generator, direction, result, target, strengths, folder))
        if video_frames > 0:
            outputs = write_edit_outputs(
                generator,
                direction,
                result.latents,
                folder / "edit.mp4",
                (min(strengths), max(strengths)),
                video_frames,
                progress=progress,
            )
            files["video"] = outputs.video
    summary = {
        "photo": str(photo_path),
        "generator": generator.name,
        "face_found": aligned is not None,
        "psnr_db": float(result.psnr[0]),
        "initial_loss": result.initial_loss,
        "final_loss": result.final_loss,
        "steps": len(result.loss_history),
        "feature_loss": feature_extractor is not None,
        "direction": None if direction is None else direction.method,
        "strengths": list(strengths),
    }
    with atomic_write(folder / "projection.json", "w") as stream:
        json.dump(json_safe(summary), stream, indent=2)
    files["summary"] = folder / "projection.json"
    return PhotoEditReport(
        folder, aligned is not None, float(result.psnr[0]), result.initial_loss, result.final_loss, files
    )


def _save_latent(path: Path, latents: torch.Tensor) -> Path:
    from safetensors.torch import save

    with atomic_write(path) as stream:
        stream.write(save({"latent": latents.contiguous()}))
    return path


def _write_edits(
    photo: Image.Image,
    aligned: Any,
    generator: LatentGenerator,
    direction: LatentDirection,
    result: Any,
    target: torch.Tensor,
    strengths: tuple[float, ...],
    folder: Path,
) -> dict[str, Path]:
    """The edit strip, and each edit pasted back into the photo when the face was aligned."""
    edits = [edit_images(generator, direction, result.latents, s)[0] for s in strengths]
    strip = torch.stack([target[0], result.reconstructions[0], *edits])
    files = {"edits": save_image(tensor_to_pil(make_grid([strip])), folder / "edits.png")}
    if aligned is None:
        return files
    from ..faces.align import AlignedFace
    from ..faces.blend import face_mask, paste_face

    size = generator.image_size
    mask = face_mask(size, DCGAN64_TEMPLATE * size)
    # keep_detail adds (edit − base crop) to the photo: with the reconstruction as the base, only the
    # direction's change reaches the photo, not the projection's reconstruction error.
    base = AlignedFace(tensor_to_pil(result.reconstructions[0]), aligned.matrix, aligned.inverse)
    for strength, edit in zip(strengths, edits, strict=True):
        pasted = photo.copy()
        paste_face(pasted, tensor_to_pil(edit), mask, base, keep_detail=True)
        files[f"photo_{strength:+g}"] = save_image(pasted, folder / f"photo_strength_{strength:+g}.png")
    return files
