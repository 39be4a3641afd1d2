"""Identity features of synthetic faces, read from pixels, and a distance between them.

Skin tone, head shape, iris colour and background stay the same when a person is drawn at another age
or with other attributes (hair colour, beard, hair length, glasses), and differ between people; a
translator that keeps the person keeps them. Inputs as in :mod:`ageshift.data.synthetic_measure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from .synthetic_attributes import SKIN_AGED, SKIN_AGEING
from .synthetic_measure import (
    MEASURE_SIZE,
    MIN_SIDE,
    as_measure_batch,
    colour_distance,
    hair_colour,
    hair_greying,
    locate_eyes,
    region_colour,
    sample_pixels,
    skin_colour,
)

#: Column names of :func:`measure_identity`, grouped: skin (young RGB), head widths, iris RGB, background.
IDENTITY_FEATURES = (
    "skin_r", "skin_g", "skin_b",
    "width_forehead", "width_cheeks",
    "iris_r", "iris_g", "iris_b",
    "background_high_r", "background_high_g", "background_high_b",
    "background_low_r", "background_low_g", "background_low_b",
)  # fmt: skip
#: Feature groups (column ranges); each weighs the same in :func:`identity_distance`.
IDENTITY_GROUPS = {"skin": (0, 3), "shape": (3, 5), "iris": (5, 8), "background": (8, 14)}
#: Spread (standard deviation) of each feature over random people, the unit of :func:`identity_distance`.
IDENTITY_SCALE = (0.21, 0.21, 0.19, 0.028, 0.028, 0.09, 0.09, 0.12, 0.21, 0.22, 0.22, 0.19, 0.21, 0.20)
#: Two images show the same person when :func:`identity_distance` is below this.
IDENTITY_TOLERANCE = 0.3
#: Rows (fractions of the side) where the head's width is read: forehead and cheeks.
WIDTH_ROWS = (0.44, 0.655)
#: Distance (0-1 RGB) to the skin colour below which a pixel counts as inside the face.
EDGE_INSIDE = 0.05
#: Radii (pixels at ``MEASURE_SIZE``) of the rings the iris colour is read on: between the smallest pupil
#: and the smallest iris edge.
IRIS_RADII = (0.8, 1.2)
#: Background strips at the image's sides, high and low (the gradient as the image shows it).
BACKGROUND_BOXES = (
    (0.03, 0.2, 0.0, 0.06),
    (0.03, 0.2, 0.94, 1.0),
    (0.62, 0.8, 0.0, 0.06),
    (0.62, 0.8, 0.94, 1.0),
)


def _edge(distance: np.ndarray) -> float:
    """Sub-pixel position of the first skin edge along a profile of distances to skin (outside first).

    The edge is where the distance falls halfway from the colour just outside to skin: the coverage of an
    anti-aliased edge pixel, and unmoved by a symmetric blur.
    """
    # Two pixels in a row: one anti-aliased pixel between two other colours can happen to match skin.
    close = distance < EDGE_INSIDE
    inside = np.flatnonzero(close[:-1] & close[1:])
    if len(inside) == 0 or inside[0] < 1:
        return float(len(distance) / 2 if len(inside) == 0 else 0.0)
    first = int(inside[0])
    start = max(first - 2, 0)
    half = distance[start] / 2
    for position in range(first, start, -1):
        if distance[position - 1] >= half:
            step = distance[position - 1] - distance[position]
            return position - 0.5 + (distance[position - 1] - half) / max(step, 1e-9)
    return float(first)


def head_widths(pixels: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``(B, len(WIDTH_ROWS))`` head width (fraction of the side) at each row, edges found from outside in."""
    widths = np.zeros((pixels.shape[0], len(WIDTH_ROWS)))
    for column, fraction in enumerate(WIDTH_ROWS):
        position = fraction * MEASURE_SIZE - 0.5
        top = int(np.floor(position))
        weight = position - top
        line = pixels[:, :, top] * (1 - weight) + pixels[:, :, top + 1] * weight  # (B, 3, W)
        distance = colour_distance(line, skin)
        half = MEASURE_SIZE // 2
        for index in range(pixels.shape[0]):
            left = _edge(distance[index, :half])
            right = _edge(distance[index, ::-1][:half])
            widths[index, column] = (MEASURE_SIZE - left - right) / MEASURE_SIZE
    return widths


def iris_colour(pixels: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """``(B, 3)`` mean colour of both irises, sampled on rings just outside the pupil."""
    # Fixed radii (pixels at MEASURE_SIZE): between the smallest pupil and the smallest iris edge, and
    # independent of the eye-white area, which frames and lines nearby perturb.
    angles = np.linspace(0.0, 2 * np.pi, 12, endpoint=False)
    rings = []
    for radius in IRIS_RADII:
        rows = eyes[..., 0, None] + radius * np.sin(angles)
        columns = eyes[..., 1, None] + radius * np.cos(angles)
        rings.append(sample_pixels(pixels, rows.reshape(len(pixels), -1), columns.reshape(len(pixels), -1)))
    return np.concatenate(rings, axis=2).mean(axis=2)


def background_colours(pixels: np.ndarray) -> np.ndarray:
    """``(B, 6)`` background colour (0-1) high and low at the image's sides."""
    high = (region_colour(pixels, BACKGROUND_BOXES[0]) + region_colour(pixels, BACKGROUND_BOXES[1])) / 2
    low = (region_colour(pixels, BACKGROUND_BOXES[2]) + region_colour(pixels, BACKGROUND_BOXES[3])) / 2
    return np.concatenate([high, low], axis=1)


def measure_identity(images: torch.Tensor | Sequence[Image.Image]) -> np.ndarray:
    """Read the identity features of synthetic faces from pixels only.

    Invariant to age and to the four attributes. Head widths and iris colour need images of at least
    ``DETAIL_SIDE`` pixels and are ``NaN`` for smaller ones.

    Args:
        images: RGB PIL images or a ``(B, 3, H, W)`` tensor in ``[-1, 1]``, sides of at least 32 pixels.

    Returns:
        ``(B, 14)`` array in the order of ``IDENTITY_FEATURES``: young skin RGB (0-1; the lightening of
        age undone with the measured hair greying), head width at forehead and cheeks (fractions of the
        side), iris RGB (0-1, mixed with the pupil as drawn), background RGB high and low (0-1).
    """
    batch = as_measure_batch(images, "measure_identity", MIN_SIDE)
    pixels = batch.pixels
    skin = skin_colour(pixels)
    # Age lightens skin (see ``aged_skin``); the hair's greying tracks age, so it undoes that.
    mix = SKIN_AGEING * hair_greying(hair_colour(pixels))[:, None]
    young_skin = (skin - mix * np.asarray(SKIN_AGED) / 255.0) / (1.0 - mix)
    shape = np.full((len(pixels), 2), np.nan)
    iris = np.full((len(pixels), 3), np.nan)
    detailed = batch.detailed
    if detailed.any():
        shape[detailed] = head_widths(pixels[detailed], skin[detailed])
        iris[detailed] = iris_colour(pixels[detailed], locate_eyes(pixels[detailed], skin[detailed]))
    return np.concatenate([young_skin, shape, iris, background_colours(pixels)], axis=1)


def identity_distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """How far apart two sets of identity features are, in units of the spread between random people.

    Each feature's difference is divided by its ``IDENTITY_SCALE``; the mean square within each group
    (skin, shape, iris, background) is averaged over the groups both sides have (``NaN`` groups, from
    small images, are left out) and square-rooted. Two random people are about 1.4 apart; the same person
    at other ages and attributes stays below ``IDENTITY_TOLERANCE``.

    Args:
        first: ``(..., 14)`` features from :func:`measure_identity`.
        second: ``(..., 14)`` features, broadcastable against ``first`` (``a[:, None]`` and ``b[None]``
            give all pairs).

    Returns:
        ``(...)`` distances.
    """
    scaled = (np.asarray(first, np.float64) - np.asarray(second, np.float64)) / np.asarray(IDENTITY_SCALE)
    group_means = np.stack(
        [np.mean(scaled[..., start:end] ** 2, axis=-1) for start, end in IDENTITY_GROUPS.values()], axis=-1
    )
    return np.sqrt(np.nanmean(group_means, axis=-1))
