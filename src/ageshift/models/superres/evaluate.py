"""Upscaling evaluation: PSNR and SSIM of a super-resolution model against the originals of a folder of photos,
side by side with bicubic and Lanczos, each photo shrunk by the scale with PIL's bicubic filter first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...errors import DataError, ImageLoadError
from ...io import list_images, load_image
from .resolver import SuperResolver

#: Border pixels left out of PSNR/SSIM (the usual practice: the model sees no context there).
SHAVE = 4


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    cropped = pixels[SHAVE:-SHAVE, SHAVE:-SHAVE]
    return torch.from_numpy(np.array(cropped)).permute(2, 0, 1)[None].float() / 127.5 - 1


def evaluate_upscaling(
    model: SuperResolver,
    folder: str | Path,
    scale: int | None = None,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Shrink every photo of ``folder`` by ``scale``, restore it with bicubic, Lanczos and ``model``, and compare.

    Args:
        model: the super-resolution model.
        folder: photos (recursive); each is cropped to a multiple of ``scale``.
        scale: 2 or 4 (default: the model's).
        limit: at most this many photos.
        progress: show a progress bar.

    Returns:
        ``{"scale", "images", "skipped", "methods": {name: {"psnr_db", "ssim"}}, "per_image": [...]}`` (means over
        photos; PSNR/SSIM on RGB in ``[0, 1]`` with a 4-pixel border left out).
    """
    from tqdm.auto import tqdm

    from ...evaluation.image_metrics import psnr, ssim

    scale = model.scale if scale is None else int(scale)
    paths = list_images(folder)[:limit]
    if not paths:
        raise DataError(f"{folder}: no images to evaluate upscaling on")
    filters = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
    per_image: list[dict[str, Any]] = []
    skipped: list[str] = []
    for path in tqdm(paths, desc="upscaling", disable=not progress, leave=False):
        try:
            photo = load_image(path)
        except ImageLoadError as error:
            skipped.append(str(error))
            continue
        width, height = photo.width // scale * scale, photo.height // scale * scale
        if min(width, height) // scale < 8 + SHAVE:
            skipped.append(f"{path}: too small to evaluate a ×{scale} upscale")
            continue
        original = photo.crop((0, 0, width, height))
        small = original.resize((width // scale, height // scale), Image.Resampling.BICUBIC)
        outputs = {name: small.resize((width, height), method) for name, method in filters.items()}
        outputs["model"] = model.upscale(small, scale, source=str(path))
        reference = _tensor(np.asarray(original))
        row: dict[str, Any] = {"image": str(path)}
        for name, output in outputs.items():
            candidate = _tensor(np.asarray(output))
            row[name] = {
                "psnr_db": float(psnr(candidate, reference)[0]),
                "ssim": float(ssim(candidate, reference)[0]),
            }
        per_image.append(row)
    if not per_image:
        raise DataError(
            f"{folder}: none of the {len(paths)} image(s) could be evaluated; first: {skipped[0]}"
        )
    methods = {
        name: {key: float(np.mean([row[name][key] for row in per_image])) for key in ("psnr_db", "ssim")}
        for name in ("bicubic", "lanczos", "model")
    }
    return {
        "scale": scale,
        "images": len(per_image),
        "skipped": skipped,
        "methods": methods,
        "per_image": per_image,
    }
