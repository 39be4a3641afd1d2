"""Adding a model's predicted change to a photo at the face's real size: the photo's pixels are never resampled.

A change-predicting model (the ``reager`` family) gives a smooth ``(S, S, 3)`` change at its own size. It is
weighted by the face mask in crop space, rounded to whole levels and held as one 8-bit image (change + 128; two
images, rising and falling, when it exceeds ±127 levels). That image is enlarged by the whole scale factor with
Pillow's separable resize, sampled nearest onto the photo's pixel grid through the inverse alignment, and added with
saturating 8-bit arithmetic, so the photo keeps its own detail and pixels where the mask is 0 stay bit-identical.
On a 1-megapixel photo with a 430-pixel face this takes 1.7 ms, against 6.5 ms for a bilinear warp of four float
images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops

from ..errors import AgeshiftError
from .align import AlignedFace, affine_scale
from .blend import PASTE_BAND_ROWS, paste_window

#: The change is enlarged at most this many times before sampling (bounds memory on very large faces).
MAX_ENLARGE = 16
#: Zero change in the one-image form of a change within ±127 levels.
OFFSET = 128


def paste_delta(
    photo: Image.Image, delta: np.ndarray, mask: Image.Image, aligned: AlignedFace
) -> tuple[int, int, int, int] | None:
    """Add a crop-space change to ``photo`` in place: ``photo + upscaled(mask · delta)`` inside the mask.

    Args:
        photo: RGB PIL photo, modified in place.
        delta: ``(S, S, 3)`` float change in 0–255 pixel units, in the aligned crop's frame.
        mask: ``L`` crop-space weights, ``S × S``.
        aligned: the alignment the crop came from.

    Returns:
        ``(x0, y0, x1, y1)`` window of the photo that was touched, or ``None`` when nothing was.

    The change is rounded to whole levels at the model's size and sampled at most half a photo pixel from where a
    bilinear warp would sample it, so each photo pixel is within rounding, plus half the change's step between
    neighbouring pixels, of the floating-point ``photo + upscaled(mask · delta)``.
    """
    if delta.ndim != 3 or delta.shape[2] != 3 or delta.shape[:2] != (mask.height, mask.width):
        raise AgeshiftError(f"change map {delta.shape} does not match the {mask.size} mask (expected S×S×3)")
    window = paste_window(photo, mask, aligned)
    if window is None:
        return None
    # Only the mask's support, with one pixel of zero change around it so that enlarging it fades to zero there
    # as a bilinear warp of the whole crop would (Pillow's resize repeats the edge pixels).
    left, top, right, bottom = mask.getbbox() or (0, 0, mask.width, mask.height)
    weights = np.pad(np.asarray(mask, np.float32) / 255.0, 1)[top : bottom + 2, left : right + 2, None]
    change = np.pad(np.asarray(delta, np.float32), ((1, 1), (1, 1), (0, 0)))[
        top : bottom + 2, left : right + 2
    ]
    levels = np.clip(np.rint(change * weights), -255, 255)
    left, top = left - 1, top - 1
    if levels.min() >= -OFFSET and levels.max() < OFFSET:
        # The usual case: one image holding the change plus 128, added with an offset of −128.
        parts = [Image.fromarray((levels + OFFSET).astype(np.uint8), "RGB")]
    else:
        parts = [Image.fromarray(np.maximum(sign * levels, 0).astype(np.uint8), "RGB") for sign in (1, -1)]
    # Pillow's affine bilinear is slow (~30 ns a pixel); its separable resize and nearest sampling are not. So the
    # change is enlarged by the whole factor to about the photo's pixel pitch, then sampled nearest at each photo
    # pixel: at most half a photo pixel from where a bilinear warp would sample a change that is smooth there.
    scale = affine_scale(aligned.matrix)  # crop pixels per photo pixel
    factor = min(max(round(1.0 / scale), 1), MAX_ENLARGE)
    if factor > 1:
        parts = [
            part.resize((part.width * factor, part.height * factor), Image.Resampling.BILINEAR)
            for part in parts
        ]
    if len(parts) == 2:
        # Where the change crosses zero both parts are non-zero after interpolation: keep their net difference so
        # that clipping at 0 and 255 sees the true sum.
        parts = [ImageChops.subtract(parts[0], parts[1]), ImageChops.subtract(parts[1], parts[0])]
    sampling = Image.Resampling.NEAREST if 1.0 / (scale * factor) <= 1.5 else Image.Resampling.BILINEAR
    # Photo pixel → pixel of the enlarged support: crop coordinates, shifted to the support, times the factor.
    to_parts = factor * (
        np.array([[1.0, 0.0, -left], [0.0, 1.0, -top]]) @ np.vstack([aligned.matrix, [0, 0, 1]])
    )
    x0, y0, x1, y1 = window
    for band_top in range(y0, y1, PASTE_BAND_ROWS):
        band = (x0, band_top, x1, min(band_top + PASTE_BAND_ROWS, y1))
        _add_band(photo, parts, to_parts, band, sampling)
    return window


def _add_band(
    photo: Image.Image,
    parts: list[Image.Image],
    to_parts: np.ndarray,
    band: tuple[int, int, int, int],
    sampling: Image.Resampling,
) -> None:
    x0, y0, x1, y1 = band
    local = to_parts @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    coefficients = tuple(np.asarray(local, np.float64).ravel())
    size = (x1 - x0, y1 - y0)
    region = photo.crop(band)
    if len(parts) == 1:
        change = parts[0].transform(
            size, Image.Transform.AFFINE, coefficients, sampling, fillcolor=(OFFSET,) * 3
        )
        result = ImageChops.add(region, change, offset=-OFFSET)
    else:
        up, down = (part.transform(size, Image.Transform.AFFINE, coefficients, sampling) for part in parts)
        result = ImageChops.subtract(ImageChops.add(region, up), down)
    photo.paste(result, band[:2])
