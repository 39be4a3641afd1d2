"""Paste-back: soft masks in crop space, optional colour matching, and blending a translated crop into
the photo through the inverse alignment, touching only the pixels the mask covers."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..errors import AgeshiftError
from .align import AlignedFace, apply_affine, warp

#: Rows blended at a time when pasting (bounds memory on very large photos).
PASTE_BAND_ROWS = 512


def face_mask(size: int, template_points: np.ndarray, feather: float = 0.08) -> Image.Image:
    """A feathered face-oval mask in crop space, sized from the template's eyes and mouth.

    Args:
        size: crop side in pixels.
        template_points: ``(5, 2)`` landmark positions in crop pixels.
        feather: width of the soft edge as a fraction of ``size``.

    Returns:
        ``L`` image, 255 inside the face, falling smoothly to exactly 0 before the crop border.
    """
    eyes, mouth = template_points[:2].mean(0), template_points[3:].mean(0)
    eye_distance = float(np.linalg.norm(template_points[1] - template_points[0]))
    centre_x, centre_y = (eyes[0] + mouth[0]) / 2, (eyes[1] + mouth[1]) / 2
    # Semi-axes span forehead to chin and cheek to cheek on an average face.
    half_width, half_height = 1.1 * eye_distance, 1.45 * eye_distance
    ellipse = (centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height)
    return _feathered(size, ellipse, "ellipse", feather)


def box_mask(size: int, region: tuple[float, float, float, float], feather: float = 0.08) -> Image.Image:
    """A feathered rectangle mask in crop space (user-given boxes: the whole box is translated).

    Args:
        size: crop side in pixels.
        region: ``(x0, y0, x1, y1)`` in crop pixels.
        feather: width of the soft edge as a fraction of ``size``.

    Returns:
        ``L`` image, 255 inside, 0 at the crop border.
    """
    return _feathered(size, region, "box", feather)


def _feathered(size: int, shape: tuple[float, float, float, float], kind: str, feather: float) -> Image.Image:
    if not 0.0 <= feather <= 0.5:
        raise AgeshiftError(f"feather must be between 0 and 0.5 of the crop, got {feather}")
    soft = feather * size
    # Keep the hard shape one feather width inside the crop so the blur reaches zero before the border.
    limit = (soft + 1, soft + 1, size - soft - 1, size - soft - 1)
    x0, y0, x1, y1 = (
        max(shape[0], limit[0]),
        max(shape[1], limit[1]),
        min(shape[2], limit[2]),
        min(shape[3], limit[3]),
    )
    mask = Image.new("L", (size, size), 0)
    if x1 > x0 and y1 > y0:
        draw = ImageDraw.Draw(mask)
        (draw.ellipse if kind == "ellipse" else draw.rectangle)((x0, y0, x1, y1), fill=255)
    if soft >= 1:
        mask = mask.filter(ImageFilter.GaussianBlur(soft / 2.5))
    pixels = np.asarray(mask).copy()
    pixels[[0, -1], :] = 0
    pixels[:, [0, -1]] = 0
    return Image.fromarray(pixels)


#: sRGB (linear) → CIE XYZ under D65, and the D65 white point.
_RGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_WHITE = _RGB_TO_XYZ.sum(1)
COLOR_SPACES = ("lab", "rgb")


def rgb_to_lab(pixels: np.ndarray) -> np.ndarray:
    """``(..., 3)`` sRGB in 0–255 → CIE L*a*b* (D65), float64."""
    rgb = np.asarray(pixels, np.float64) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) → ``(..., 3)`` sRGB in 0–255 (float, unclipped)."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0.0, None)
    rgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return rgb * 255.0


def match_colors(
    translated: Image.Image, reference: Image.Image, mask: Image.Image, space: str = "lab"
) -> Image.Image:
    """Give ``translated`` the per-channel mean and std of ``reference`` under ``mask`` (Reinhard-style transfer).

    Args:
        translated: the model's output crop.
        reference: the aligned input crop (same size).
        mask: ``L`` weights (same size).
        space: ``"lab"`` (lightness and colour matched separately) or ``"rgb"``.

    Returns:
        The colour-corrected crop.
    """
    if space not in COLOR_SPACES:
        raise AgeshiftError(f"unknown colour space {space!r}; choose one of {', '.join(COLOR_SPACES)}")
    weights = np.asarray(mask, np.float64)[..., None] / 255.0
    total = float(weights.sum())
    if total < 1.0:
        return translated
    source, target = np.asarray(translated, np.float64), np.asarray(reference, np.float64)
    if space == "lab":
        source, target = rgb_to_lab(source), rgb_to_lab(target)

    def stats(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = (pixels * weights).sum((0, 1)) / total
        std = np.sqrt(((pixels - mean) ** 2 * weights).sum((0, 1)) / total)
        return mean, std

    source_mean, source_std = stats(source)
    target_mean, target_std = stats(target)
    # A flat channel (std near 0) is only shifted: scaling it would amplify noise.
    corrected = (source - source_mean) * (target_std / np.maximum(source_std, 1.0)) + target_mean
    if space == "lab":
        corrected = lab_to_rgb(corrected)
    return Image.fromarray(np.clip(corrected, 0, 255).round().astype(np.uint8))


def paste_face(
    photo: Image.Image,
    translated: Image.Image,
    mask: Image.Image,
    aligned: AlignedFace,
    keep_detail: bool = False,
) -> tuple[int, int, int, int] | None:
    """Blend a translated crop back into ``photo`` in place through the inverse alignment.

    Pixels where the warped mask is 0 are left bit-identical.

    Args:
        photo: RGB PIL photo, modified in place.
        translated: RGB crop, the size of the aligned crop.
        mask: ``L`` crop-space weights, same size.
        aligned: the alignment the crop came from.
        keep_detail: add the model's change (translated − aligned crop) to the photo instead of replacing
            the face, so a face larger than the crop keeps the photo's own sharpness.

    Returns:
        ``(x0, y0, x1, y1)`` window of the photo that was touched, or ``None`` when the crop lies outside.
    """
    if translated.size != mask.size:
        raise AgeshiftError(f"translated crop {translated.size} and mask {mask.size} differ in size")
    window = paste_window(photo, mask, aligned)
    if window is None:
        return None
    # Blend in bands of rows so a face filling a 50-megapixel photo never needs a float copy of the whole window.
    for top in range(window[1], window[3], PASTE_BAND_ROWS):
        band = (window[0], top, window[2], min(top + PASTE_BAND_ROWS, window[3]))
        _blend_band(photo, translated, mask, aligned.matrix, band, aligned.crop if keep_detail else None)
    return window


def paste_window(
    photo: Image.Image, mask: Image.Image, aligned: AlignedFace
) -> tuple[int, int, int, int] | None:
    """The ``(x0, y0, x1, y1)`` photo window the mask's support maps to, or ``None`` when it lies outside."""
    # Only the mask's support can change the photo: warping the rest of the crop (hair, background) is wasted work.
    support = mask.getbbox()
    if support is None:
        return None
    left, top, right, bottom = support
    corners = apply_affine(
        aligned.inverse, np.array([[left, top], [right, top], [left, bottom], [right, bottom]], np.float64)
    )
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1 = min(int(np.ceil(corners[:, 0].max())), photo.width)
    y1 = min(int(np.ceil(corners[:, 1].max())), photo.height)
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def _blend_band(
    photo: Image.Image,
    translated: Image.Image,
    mask: Image.Image,
    matrix: np.ndarray,
    band: tuple[int, int, int, int],
    reference: Image.Image | None = None,
) -> None:
    """Warp crop and mask into one band of the photo and blend them there (in place)."""
    x0, y0, x1, y1 = band
    # Band pixels → crop pixels: the forward alignment after shifting by the band origin.
    to_crop = matrix @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    size = (x1 - x0, y1 - y0)
    weights = np.asarray(warp(mask, to_crop, size, edge=False), np.float32)[..., None] / 255.0
    if not weights.any():
        return
    warped = np.asarray(warp(translated, to_crop, size), np.float32)
    region = np.asarray(photo.crop(band))
    if reference is None:
        blended = region.astype(np.float32) * (1.0 - weights) + warped * weights
    else:
        change = warped - np.asarray(warp(reference, to_crop, size), np.float32)
        blended = region.astype(np.float32) + change * weights
    result = np.where(weights > 0, np.clip(blended.round(), 0, 255).astype(np.uint8), region)
    photo.paste(Image.fromarray(result), band[:2])
