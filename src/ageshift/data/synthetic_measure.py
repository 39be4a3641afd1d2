"""Reading age and attributes of synthetic faces back from their pixels.

Every function takes RGB PIL images or a ``(B, 3, H, W)`` tensor in ``[-1, 1]`` (RGB, float32) of faces
drawn by :func:`ageshift.data.synthetic.render_face`, or a translator's outputs of them, of any side from
``MIN_SIDE`` pixels, and resamples them to ``MEASURE_SIZE``². Nothing reads the renderer's parameters:
the regions below hold what they need for every identity and pose the renderer can draw (found by
rendering thousands of faces, see the tests). Identity features are in
:mod:`ageshift.data.synthetic_identity`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..errors import AgeshiftError
from ..image import check_batch, pil_to_tensor, resize, tensor_to_pil
from .synthetic_attributes import (
    ATTRIBUTES,
    FRAME_COLOUR,
    HAIR_COLOURS,
    HAIR_GREY,
    HAIR_PUSH_SIDE,
    HAIR_SHADE_RANGE,
    HAIR_SKIN_CONTRAST,
    hair_shade_direction,
)

#: Side of the square the measurement resamples every image to.
MEASURE_SIZE = 64
#: Smallest image side the attribute and identity measurements accept.
MIN_SIDE = 32
#: From this image side up, the eyes are found and read (glasses from the rims, iris colour, head
#: widths); smaller images blur them too much, so glasses are read from a band and shape and iris are NaN.
DETAIL_SIDE = 64
#: Regions (top, bottom, left, right as fractions of the side).
HAIR_BOX = (0.22, 0.29, 0.45, 0.56)
FOREHEAD_BOX = (0.39, 0.45, 0.38, 0.62)
#: The face between the hairline and the beard's top: skin is the lightest large flat fill here.
FACE_BOX = (0.40, 0.70, 0.30, 0.70)
#: The chin, below the mouth: skin, or beard.
CHIN_BOX = (0.80, 0.87, 0.44, 0.56)
#: Beside the jaw on both sides: background for short hair, hair for long hair.
JAW_SIDE_BOXES = ((0.80, 0.88, 0.19, 0.29), (0.80, 0.88, 0.71, 0.81))
#: Where each eye may be (left eye as seen, right eye).
EYE_WINDOWS = ((0.49, 0.68, 0.28, 0.5), (0.49, 0.68, 0.5, 0.72))
#: Below the eyes, where small images show the glasses' lower rims as a dark band.
GLASSES_BAND = (0.60, 0.68, 0.30, 0.70)
#: Colour of the eye whites as drawn.
EYE_WHITE = (245, 245, 240)
#: Linear calibration from the measured features (greying, forehead line energy) to an apparent age,
#: fitted by least squares on 2000 rendered faces aged 10-85 with random attributes (see
#: ``ageshift.data.synthetic.fit_cue_calibration``).
CUE_CALIBRATION = (10.17707617907432, 74.2423203071736, 0.1001714252963853)
#: Hair colour is read reliably up to this age; above it every colour is nearly grey.
HAIR_COLOUR_MAX_AGE = 75.0
#: Decision thresholds on :func:`attribute_scores`, halfway between the classes on rendered faces.
BEARD_THRESHOLD = 0.5
LONG_HAIR_THRESHOLD = 0.5
GLASSES_THRESHOLD = 0.45
GLASSES_BAND_THRESHOLD = 0.085
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class MeasureBatch:
    """Images prepared for measurement: ``pixels`` ``(B, 3, S, S)`` in ``[0, 1]``, ``sides`` ``(B,)``."""

    pixels: np.ndarray
    sides: np.ndarray

    @property
    def detailed(self) -> np.ndarray:
        """``(B,)`` whether each image was large enough to read eyes and face shape."""
        return self.sides >= DETAIL_SIDE


def as_measure_batch(
    images: torch.Tensor | Sequence[Image.Image], what: str = "measure_age_cue", min_side: int = 1
) -> MeasureBatch:
    """Images resampled to ``MEASURE_SIZE``², with their original sides.

    Args:
        images: RGB PIL images or a ``(B, 3, H, W)`` tensor in ``[-1, 1]``.
        what: the calling function, for error messages.
        min_side: refuse images whose smaller side is below this.

    Returns:
        A :class:`MeasureBatch`.
    """
    if isinstance(images, torch.Tensor):
        batch = check_batch(images, "images").detach().float().cpu().clamp(-1.0, 1.0)
        sides = np.full(batch.shape[0], min(batch.shape[-2:]))
        pixels = ((resize(batch, MEASURE_SIZE).numpy() + 1.0) / 2.0).astype(np.float64)
    else:
        if len(images) == 0:
            raise AgeshiftError(f"{what} needs at least one image, got an empty list")
        arrays, image_sides = [], []
        for image in images:
            image_sides.append(min(image.size))
            if image.size != (MEASURE_SIZE, MEASURE_SIZE) or image.mode != "RGB":
                image = tensor_to_pil(resize(pil_to_tensor(image)[None], MEASURE_SIZE)[0])
            arrays.append(np.asarray(image))
        pixels = np.stack(arrays).transpose(0, 3, 1, 2).astype(np.float64) / 255.0
        sides = np.asarray(image_sides)
    if sides.min() < min_side:
        raise AgeshiftError(f"{what} needs images of at least {min_side} pixels a side, got {sides.min()}")
    return MeasureBatch(pixels, sides)


def _box(pixels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    top, bottom, left, right = (round(edge * MEASURE_SIZE) for edge in box)
    return pixels[:, :, top:bottom, left:right]


def region_colour(pixels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """``(B, 3)`` per-channel median of a box: flat fills win over thin lines and edge pixels."""
    region = _box(pixels, box)
    return np.median(region.reshape(region.shape[0], 3, -1), axis=2)


def colour_distance(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Distance of ``(B, 3, …)`` pixels to a ``(B, 3)`` colour, in 0-1 RGB units."""
    shape = colour.shape + (1,) * (pixels.ndim - 2)
    return np.sqrt(((pixels - colour.reshape(shape)) ** 2).sum(axis=1))


def _dominant_colour(pixels: np.ndarray, radius: float = 0.05, share: float = 0.5) -> np.ndarray:
    """``(B, 3)`` colour of the largest flat fill among ``(B, 3, N)`` pixels.

    Candidates are the colours with at least ``share`` of the highest neighbour count within ``radius``;
    the lightest wins (lines, frames and their blur only darken skin), refined by a median over its
    neighbours.
    """
    colours = np.empty(pixels.shape[:2])
    for index, values in enumerate(pixels.transpose(0, 2, 1)):
        # Every fourth pixel is a candidate (a fill has many); each is counted against all pixels.
        probes = values[::4]
        near = ((probes[:, None, :] - values[None, :, :]) ** 2).sum(axis=2) < radius**2
        density = near.sum(axis=1)
        candidates = np.flatnonzero(density >= share * density.max())
        chosen = candidates[np.argmax(probes[candidates] @ _LUMA)]
        colours[index] = np.median(values[near[chosen]], axis=0)
    return colours


def skin_colour(pixels: np.ndarray) -> np.ndarray:
    """``(B, 3)`` skin colour (0-1) as drawn, read from the face between the hairline and the beard."""
    region = _box(pixels, FACE_BOX)
    return _dominant_colour(region.reshape(region.shape[0], 3, -1))


def hair_colour(pixels: np.ndarray) -> np.ndarray:
    """``(B, 3)`` hair colour (0-1) as drawn, read from the top of the head."""
    return region_colour(pixels, HAIR_BOX)


def hair_colour_coordinates(colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where measured hair colours sit relative to each hair attribute's greying path.

    Each ``hair`` value's colours span a parallelogram in RGB: from its base (± the shade range) to
    ``HAIR_GREY``. A colour's greying is its position along that path (0 base, 1 grey) and its residual the
    distance (0-1 RGB units) from the parallelogram, widened on the side hair is pushed to when it is
    drawn next to a similar skin.

    Args:
        colours: ``(B, 3)`` RGB in ``[0, 1]``.

    Returns:
        ``(greying, residual)``, each ``(B, len(HAIR_COLOURS))`` in the order of ``HAIR_COLOURS``.
    """
    grey = np.asarray(HAIR_GREY, np.float64) / 255.0
    greyings, residuals = [], []
    for hair, base_rgb in HAIR_COLOURS.items():
        base = np.asarray(base_rgb, np.float64) / 255.0
        path = grey - base
        shade = hair_shade_direction(hair)
        offset = colours - base
        greying = np.clip(offset @ path / (path @ path), 0.0, 1.0)
        limit = HAIR_SHADE_RANGE[hair] / 255.0 * (1.0 - greying)
        # Hair drawn next to a similar skin is pushed along its push side (see ``hair_rgb``).
        pushed = 2.0 * HAIR_SKIN_CONTRAST / 255.0
        low, high = (-limit, limit + pushed) if HAIR_PUSH_SIDE[hair] > 0 else (-limit - pushed, limit)
        across = np.clip(offset @ shade, low, high)
        nearest = base + greying[:, None] * path[None] + across[:, None] * shade[None]
        greyings.append(greying)
        residuals.append(np.linalg.norm(colours - nearest, axis=1))
    return np.stack(greyings, axis=1), np.stack(residuals, axis=1)


def hair_greying(colours: np.ndarray) -> np.ndarray:
    """``(B,)`` greying (0-1) of measured hair colours, weighted towards the hair colours they fit best."""
    greying, residual = hair_colour_coordinates(colours)
    # Soft weights keep the reading continuous where two paths meet (near grey they all agree).
    weights = np.exp(-(((residual - residual.min(axis=1, keepdims=True)) / 0.02) ** 2))
    return (greying * weights).sum(axis=1) / weights.sum(axis=1)


def age_cue_features(images: torch.Tensor | Sequence[Image.Image]) -> np.ndarray:
    """Measure the raw age-cue features of synthetic faces from pixels only.

    Args:
        images: RGB PIL images (any size) or a ``(B, 3, H, W)`` tensor in ``[-1, 1]``; resampled to 64².

    Returns:
        ``(B, 2)`` array: hair greying (0 base colour … 1 grey, whatever the hair colour; see
        :func:`hair_colour_coordinates`) and forehead line energy (relative contrast).
    """
    pixels = as_measure_batch(images).pixels
    greying = hair_greying(hair_colour(pixels))
    luma = np.einsum("bchw,c->bhw", pixels, _LUMA)
    top, bottom, left, right = (round(edge * MEASURE_SIZE) for edge in FOREHEAD_BOX)
    # Horizontal lines show as a vertical second difference; relative to skin brightness, so dark and
    # light skin give the same reading.
    region = luma[:, top - 1 : bottom + 1, left:right]
    curvature = np.abs(region[:, :-2] - 2.0 * region[:, 1:-1] + region[:, 2:])
    energy = curvature.mean(axis=(1, 2)) / np.maximum(region.mean(axis=(1, 2)), 0.05)
    return np.stack([greying, energy], axis=1)


def measure_age_cue(images: torch.Tensor | Sequence[Image.Image]) -> np.ndarray:
    """Estimate the apparent age (years) of synthetic faces from their hair greying and forehead lines.

    Monotonic in the renderer's age between ``CUE_START_AGE`` and ``CUE_FULL_AGE`` and robust to identity
    and attributes (blond hair is light but not grey); a translator that ages faces must raise it. Reads
    pixels only.

    Args:
        images: RGB PIL images (any size) or a ``(B, 3, H, W)`` tensor in ``[-1, 1]``.

    Returns:
        ``(B,)`` float array of apparent ages in years.
    """
    features = age_cue_features(images)
    intercept, *weights = CUE_CALIBRATION
    return intercept + features @ np.asarray(weights)


# ---- eyes ------------------------------------------------------------------------------------------


def _whiteness(pixels: np.ndarray) -> np.ndarray:
    """``(B, H, W)`` how clearly each pixel is eye white: bright and neutral."""
    low, high = pixels.min(axis=1), pixels.max(axis=1)
    return np.clip((low - 2.0 * (high - low) - 0.7) / 0.2, 0.0, 1.0)


def _white_cover(pixels: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``(B, H, W)`` share of each pixel covered by eye white, on the line from skin to white colour.

    Linear in coverage, so centroids of it are area centroids whatever the skin's lightness.
    """
    white = np.asarray(EYE_WHITE, np.float64) / 255.0
    towards = white[None] - skin
    offset = pixels - skin[:, :, None, None]
    cover = np.einsum("bchw,bc->bhw", offset, towards) / (towards**2).sum(axis=1)[:, None, None]
    return np.clip(cover, 0.0, 1.0)


def locate_eyes(pixels: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Find both eyes from their whites (reliable from ``DETAIL_SIDE``-pixel inputs).

    Args:
        pixels: ``(B, 3, S, S)`` in ``[0, 1]`` at ``MEASURE_SIZE``.
        skin: ``(B, 3)`` skin colour (see :func:`skin_colour`).

    Returns:
        ``(B, 2, 3)``: per eye (left, right as seen) centre row and column (pixels, centres at +0.5) and
        white area (pixels).
    """
    whiteness = _whiteness(pixels)
    cover = _white_cover(pixels, skin)
    rows, columns = np.mgrid[0:MEASURE_SIZE, 0:MEASURE_SIZE].astype(np.float64) + 0.5
    found = np.zeros((pixels.shape[0], 2, 3))
    for side, (top, bottom, left, right) in enumerate(EYE_WINDOWS):
        window = np.zeros((MEASURE_SIZE, MEASURE_SIZE), dtype=bool)
        window[
            round(top * MEASURE_SIZE) : round(bottom * MEASURE_SIZE),
            round(left * MEASURE_SIZE) : round(right * MEASURE_SIZE),
        ] = True
        start = np.array([(top + bottom) / 2, (left + right) / 2]) * MEASURE_SIZE
        for index in range(pixels.shape[0]):
            # Start from the centroid of clearly white pixels, then take the centroid of coverage in a
            # window the size of an eye white, where brows, lashes and grey hair cannot reach.
            weights = whiteness[index] * window
            area = weights.sum()
            centre = (
                start if area < 0.5 else np.array([(weights * rows).sum(), (weights * columns).sum()]) / area
            )
            for _ in range(3):
                near = window & (np.abs(rows - centre[0]) <= 2.5) & (np.abs(columns - centre[1]) <= 6.0)
                weights = cover[index] * near
                area = weights.sum()
                if area < 0.5:
                    break
                centre = np.array([(weights * rows).sum(), (weights * columns).sum()]) / area
            found[index, side] = (*centre, area)
    return found


def sample_pixels(pixels: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Bilinear samples ``(B, 3, …)`` of ``pixels`` at per-image pixel positions ``(B, …)`` (pixel centres at +0.5)."""
    rows = np.clip(rows - 0.5, 0.0, MEASURE_SIZE - 1.001)
    columns = np.clip(columns - 0.5, 0.0, MEASURE_SIZE - 1.001)
    top, left = np.floor(rows).astype(int), np.floor(columns).astype(int)
    down, across = rows - top, columns - left
    index = np.arange(pixels.shape[0]).reshape((-1,) + (1,) * (rows.ndim - 1))

    def corner(row_index: np.ndarray, column_index: np.ndarray) -> np.ndarray:
        return pixels[index, :, row_index, column_index]  # (B, …, 3)

    value = (
        corner(top, left) * ((1 - down) * (1 - across))[..., None]
        + corner(top, left + 1) * ((1 - down) * across)[..., None]
        + corner(top + 1, left) * (down * (1 - across))[..., None]
        + corner(top + 1, left + 1) * (down * across)[..., None]
    )
    return np.moveaxis(value, -1, 1)


def _eye_radius(eyes: np.ndarray) -> np.ndarray:
    # The white is an ellipse of 1.3 × 0.75 eye radii less the iris disc of 0.6: 1.93 r².
    return np.sqrt(np.maximum(eyes[..., 2], 1.0) / 1.93)


def _glasses_score(pixels: np.ndarray, eyes: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``(B,)`` how much frame colour lies where the lower rims and the bridge would be (0 none, 1 frame).

    Each part (left rim, right rim, bridge) scores its darkest sample as a share of the way from skin to
    frame lightness; the median of the three parts ignores one wrinkle or a pair of meeting brows.
    """
    weights = np.array([0.299, 0.587, 0.114])
    radius = _eye_radius(eyes)
    down = np.linspace(1.0, 1.8, 9)
    spread = np.array([-0.5, 0.0, 0.5])
    parts = []
    for side in range(2):
        rows = eyes[:, side, 0, None, None] + radius[:, side, None, None] * down[None, :, None]
        columns = eyes[:, side, 1, None, None] + radius[:, side, None, None] * spread[None, None, :]
        rows, columns = np.broadcast_arrays(rows, columns)
        parts.append(sample_pixels(pixels, rows.reshape(len(pixels), -1), columns.reshape(len(pixels), -1)))
    middle = eyes[:, :, :2].mean(axis=1)
    across = np.linspace(-0.9, 0.3, 7)
    rows = middle[:, 0, None, None] + radius.mean(axis=1)[:, None, None] * across[None, :, None]
    columns = middle[:, 1, None, None] + np.array([-1.0, 0.0, 1.0])[None, None, :]
    rows, columns = np.broadcast_arrays(rows, columns)
    parts.append(sample_pixels(pixels, rows.reshape(len(pixels), -1), columns.reshape(len(pixels), -1)))
    skin_luma = skin @ weights
    frame_luma = np.asarray(FRAME_COLOUR) @ weights / 255.0
    contrast = np.maximum(skin_luma - frame_luma, 0.05)
    scores = [
        np.clip((skin_luma - np.einsum("bcn,c->bn", part, weights).min(axis=1)) / contrast, 0.0, 1.0)
        for part in parts
    ]
    return np.median(np.stack(scores, axis=1), axis=1)


def _glasses_band_score(pixels: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``(B,)`` mean frame coverage of the band below the eyes (for images too small to find the eyes)."""
    skin_luma = skin @ _LUMA
    frame_luma = np.asarray(FRAME_COLOUR) @ _LUMA / 255.0
    luma = np.einsum("bchw,c->bhw", _box(pixels, GLASSES_BAND), _LUMA)
    cover = (skin_luma[:, None, None] - luma) / np.maximum(skin_luma - frame_luma, 0.05)[:, None, None]
    return np.clip(cover, 0.0, 1.0).mean(axis=(1, 2))


def _beard_score(pixels: np.ndarray, skin: np.ndarray, hair: np.ndarray) -> np.ndarray:
    """``(B,)`` where the chin's colour sits between skin (0) and hair (1)."""
    chin = region_colour(pixels, CHIN_BOX)
    to_skin, to_hair = colour_distance(chin, skin), colour_distance(chin, hair)
    return to_skin / np.maximum(to_skin + to_hair, 1e-6)


def _long_hair_score(pixels: np.ndarray, hair: np.ndarray) -> np.ndarray:
    """``(B,)`` share of the pixels beside the jaw that have the hair's colour (the more covered side)."""
    shares = []
    for box in JAW_SIDE_BOXES:
        near = colour_distance(_box(pixels, box), hair) < 0.06
        shares.append(near.reshape(near.shape[0], -1).mean(axis=1))
    return np.maximum(*shares)


def attribute_scores(images: torch.Tensor | Sequence[Image.Image]) -> dict[str, np.ndarray]:
    """Continuous evidence for each attribute, read from pixels only.

    Args:
        images: RGB PIL images or a ``(B, 3, H, W)`` tensor in ``[-1, 1]``, sides of at least 32 pixels.

    Returns:
        ``{"hair": (B, 3) residual (0-1 RGB) to each hair colour in the order of ``ATTRIBUTES["hair"]``
        (the smallest wins), "beard": (B,), "hair_length": (B,), "glasses": (B,)}``; a value above
        ``BEARD_THRESHOLD``, ``LONG_HAIR_THRESHOLD`` or ``GLASSES_THRESHOLD`` means "beard", "long",
        "glasses". Images smaller than ``DETAIL_SIDE`` get a glasses score from the band below the eyes,
        shifted so that the same threshold applies.
    """
    batch = as_measure_batch(images, "attribute_scores", MIN_SIDE)
    pixels = batch.pixels
    skin, hair = skin_colour(pixels), hair_colour(pixels)
    _, residual = hair_colour_coordinates(hair)
    order = [list(HAIR_COLOURS).index(name) for name in ATTRIBUTES["hair"]]
    glasses = _glasses_band_score(pixels, skin) - GLASSES_BAND_THRESHOLD + GLASSES_THRESHOLD
    detailed = batch.detailed
    if detailed.any():
        eyes = locate_eyes(pixels[detailed], skin[detailed])
        glasses[detailed] = _glasses_score(pixels[detailed], eyes, skin[detailed])
    return {
        "hair": residual[:, order],
        "beard": _beard_score(pixels, skin, hair),
        "hair_length": _long_hair_score(pixels, hair),
        "glasses": glasses,
    }


def measure_attributes(images: torch.Tensor | Sequence[Image.Image]) -> dict[str, list[str]]:
    """Read hair colour, beard, hair length and glasses of synthetic faces from pixels only.

    Hair colour is reliable up to ``HAIR_COLOUR_MAX_AGE``; older hair is nearly grey whatever its colour.

    Args:
        images: RGB PIL images or a ``(B, 3, H, W)`` tensor in ``[-1, 1]``, sides of at least 32 pixels.

    Returns:
        ``{"hair": [...], "beard": [...], "hair_length": [...], "glasses": [...]}``, ``B`` values each from
        ``ATTRIBUTES``.
    """
    scores = attribute_scores(images)
    hair_names = ATTRIBUTES["hair"]
    return {
        "hair": [hair_names[index] for index in scores["hair"].argmin(axis=1)],
        "beard": ["beard" if value > BEARD_THRESHOLD else "none" for value in scores["beard"]],
        "hair_length": [
            "long" if value > LONG_HAIR_THRESHOLD else "short" for value in scores["hair_length"]
        ],
        "glasses": ["glasses" if value > GLASSES_THRESHOLD else "none" for value in scores["glasses"]],
    }


def measure_hair_colour(images: torch.Tensor | Sequence[Image.Image]) -> list[str]:
    """``"black"``, ``"blond"`` or ``"brown"`` per image (see :func:`measure_attributes`)."""
    return measure_attributes(images)["hair"]


def measure_beard(images: torch.Tensor | Sequence[Image.Image]) -> list[str]:
    """``"none"`` or ``"beard"`` per image (see :func:`measure_attributes`)."""
    return measure_attributes(images)["beard"]


def measure_hair_length(images: torch.Tensor | Sequence[Image.Image]) -> list[str]:
    """``"short"`` or ``"long"`` per image (see :func:`measure_attributes`)."""
    return measure_attributes(images)["hair_length"]


def measure_glasses(images: torch.Tensor | Sequence[Image.Image]) -> list[str]:
    """``"none"`` or ``"glasses"`` per image (see :func:`measure_attributes`)."""
    return measure_attributes(images)["glasses"]
