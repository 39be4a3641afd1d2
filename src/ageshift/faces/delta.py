"""Adding a model's predicted change to a photo at the face's real size: the photo's pixels are never resampled.

A change-predicting model (the ``reager`` family) gives a smooth ``(S, S, 3)`` change at its own size. Here it is
warped through the inverse alignment straight onto the photo's pixel grid (bilinear: the change is smooth) and
added there under the face mask, so the photo keeps its own detail; pixels where the mask is 0 stay
bit-identical.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import AgeshiftError
from .align import AlignedFace, warp
from .blend import PASTE_BAND_ROWS, paste_window


def paste_delta(
    photo: Image.Image, delta: np.ndarray, mask: Image.Image, aligned: AlignedFace
) -> tuple[int, int, int, int] | None:
    """Add a crop-space change to ``photo`` in place: ``photo + mask · upscaled(delta)`` inside the mask.

    Args:
        photo: RGB PIL photo, modified in place.
        delta: ``(S, S, 3)`` float change in 0–255 pixel units, in the aligned crop's frame.
        mask: ``L`` crop-space weights, ``S × S``.
        aligned: the alignment the crop came from.

    Returns:
        ``(x0, y0, x1, y1)`` window of the photo that was touched, or ``None`` when nothing was.
    """
    if delta.ndim != 3 or delta.shape[2] != 3 or delta.shape[:2] != (mask.height, mask.width):
        raise AgeshiftError(f"change map {delta.shape} does not match the {mask.size} mask (expected S×S×3)")
    window = paste_window(photo, mask, aligned)
    if window is None:
        return None
    x0, y0, x1, y1 = window
    channels = [Image.fromarray(np.ascontiguousarray(delta[..., c], np.float32), "F") for c in range(3)]
    for band_top in range(y0, y1, PASTE_BAND_ROWS):
        band = (x0, band_top, x1, min(band_top + PASTE_BAND_ROWS, y1))
        _add_band(photo, channels, mask, aligned.matrix, band)
    return window


def warp_change(channels: list[Image.Image], to_crop: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` float32: each ``F``-mode change channel sampled (bilinear) where ``to_crop`` maps band pixels."""
    coefficients = tuple(np.asarray(to_crop[:2], np.float64).ravel())
    return np.stack(
        [
            np.asarray(c.transform(size, Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR))
            for c in channels
        ],
        axis=-1,
    )


def _add_band(
    photo: Image.Image,
    channels: list[Image.Image],
    mask: Image.Image,
    matrix: np.ndarray,
    band: tuple[int, int, int, int],
) -> None:
    x0, y0, x1, y1 = band
    to_crop = matrix @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    size = (x1 - x0, y1 - y0)
    weights = np.asarray(warp(mask, to_crop, size, edge=False), np.float32)[..., None] / 255.0
    if not weights.any():
        return
    region = np.asarray(photo.crop(band))
    added = region.astype(np.float32) + warp_change(channels, to_crop, size) * weights
    result = np.where(weights > 0, np.clip(added.round(), 0, 255).astype(np.uint8), region)
    photo.paste(Image.fromarray(result), band[:2])
