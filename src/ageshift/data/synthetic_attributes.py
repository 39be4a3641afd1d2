"""The attributes of synthetic faces and the colours they are drawn in.

Shared by the renderer (:mod:`ageshift.data.synthetic`) and the measurements
(:mod:`ageshift.data.synthetic_measure`), so both read the same facts of the synthetic world: how age
greys hair and lightens skin, the base colour of each hair attribute, and each attribute's values.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ConfigError

#: Age (years) below which no cue shows and above which the cue is saturated.
CUE_START_AGE = 10.0
CUE_FULL_AGE = 85.0
#: The colour hair (and beard and eyebrows) reaches at full age.
HAIR_GREY = (222, 222, 226)
#: Base colour of each ``hair`` attribute value before greying. Each stays at least ~25 RGB units from
#: every skin tone at every age, so beard, hairline and face edges are always visible.
HAIR_COLOURS = {"black": (24, 22, 22), "blond": (226, 192, 96), "brown": (78, 44, 22)}
#: How far (RGB units) one person's shade may sit from the base colour. The shade moves along a direction
#: orthogonal to greying (see :func:`hair_shade_direction`), so it never reads as age.
HAIR_SHADE_RANGE = {"black": 8.0, "blond": 12.0, "brown": 10.0}
#: Skin mixes this far towards ``SKIN_AGED`` at full age.
SKIN_AGEING = 0.12
SKIN_AGED = (255, 240, 235)
#: Hair is never drawn closer than this (RGB units) to the skin of the same face (see :func:`hair_rgb`).
HAIR_SKIN_CONTRAST = 32.0
#: Which way along the shade direction a hair colour is pushed away from skin: brown warmer (cooler
#: would make it the neutral of greying black), black and blond cooler (away from brown and from skin).
HAIR_PUSH_SIDE = {"black": -1, "blond": -1, "brown": 1}
#: Colour of glasses frames.
FRAME_COLOUR = (28, 26, 32)

#: Every attribute and its values, in the fixed order of ``dataset.json`` ``"labels"``.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "hair": ("black", "blond", "brown"),
    "beard": ("none", "beard"),
    "hair_length": ("short", "long"),
    "glasses": ("none", "glasses"),
}
ATTRIBUTE_NAMES = tuple(ATTRIBUTES)


@dataclass(frozen=True)
class FaceAttributes:
    """What can be edited on a synthetic person besides age: hair colour, beard, hair length, glasses."""

    hair: str = "black"
    beard: str = "none"
    hair_length: str = "short"
    glasses: str = "none"

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if value not in ATTRIBUTES[name]:
                raise ConfigError(f"{name} '{value}' is not one of {', '.join(ATTRIBUTES[name])}")

    def as_dict(self) -> dict[str, str]:
        """``{"hair": …, "beard": …, "hair_length": …, "glasses": …}``."""
        return asdict(self)


def check_attribute_names(names: Sequence[str]) -> tuple[str, ...]:
    """Validate a choice of attribute names (order kept, duplicates dropped)."""
    chosen = tuple(dict.fromkeys(names))
    unknown = [name for name in chosen if name not in ATTRIBUTES]
    if unknown:
        raise ConfigError(f"unknown attribute '{unknown[0]}' (attributes: {', '.join(ATTRIBUTE_NAMES)})")
    return chosen


def attribute_probabilities(weights: Mapping[str, Mapping[str, float]] | None) -> dict[str, np.ndarray]:
    """Normalised probabilities per attribute value, uniform where ``weights`` says nothing.

    Args:
        weights: optional ``{attribute: {value: weight}}``; unlisted values of a listed attribute get 0.

    Returns:
        ``{attribute: (len(values),) probabilities}`` in the order of :data:`ATTRIBUTES`.
    """
    weights = dict(weights or {})
    check_attribute_names(list(weights))
    probabilities = {}
    for name, values in ATTRIBUTES.items():
        given = dict(weights.get(name, dict.fromkeys(values, 1.0)))
        unknown = [value for value in given if value not in values]
        if unknown:
            raise ConfigError(f"{name} '{unknown[0]}' is not one of {', '.join(values)}")
        chances = np.array([float(given.get(value, 0.0)) for value in values])
        if not (np.all(np.isfinite(chances)) and np.all(chances >= 0) and chances.sum() > 0):
            raise ConfigError(f"{name} weights must be non-negative with a positive sum, got {given}")
        probabilities[name] = chances / chances.sum()
    return probabilities


def random_attributes(
    rng: np.random.Generator,
    vary: Sequence[str] = ATTRIBUTE_NAMES,
    weights: Mapping[str, Mapping[str, float]] | None = None,
    fixed: FaceAttributes | None = None,
) -> FaceAttributes:
    """Draw attributes: the ``vary`` ones at random, the others from ``fixed``.

    Args:
        rng: the random generator (one draw per attribute, varied or not, so the stream is stable).
        vary: names of the attributes to draw.
        weights: optional ``{attribute: {value: weight}}``; uniform otherwise.
        fixed: values of the attributes that do not vary; default :class:`FaceAttributes`'s.

    Returns:
        A :class:`FaceAttributes`.
    """
    vary = check_attribute_names(vary)
    probabilities = attribute_probabilities(weights)
    values = (fixed or FaceAttributes()).as_dict()
    for name, options in ATTRIBUTES.items():
        draw = int(rng.choice(len(options), p=probabilities[name]))
        if name in vary:
            values[name] = options[draw]
    return FaceAttributes(**values)


def age_amount(age: float) -> float:
    """How far the age cue has progressed, 0 (young) to 1 (old), linear between the cue start and full ages."""
    return float(np.clip((age - CUE_START_AGE) / (CUE_FULL_AGE - CUE_START_AGE), 0.0, 1.0))


@functools.cache
def _shade_direction(hair: str) -> tuple[float, float, float]:
    greying = np.subtract(HAIR_GREY, HAIR_COLOURS[hair], dtype=np.float64)
    warm = np.array([1.0, 0.0, -1.0])
    warm -= greying * (warm @ greying) / (greying @ greying)
    red, green, blue = (float(value) for value in warm / np.linalg.norm(warm))
    return red, green, blue


def hair_shade_direction(hair: str) -> np.ndarray:
    """Unit RGB direction of a hair colour's shades (warm ↔ cool), orthogonal to its greying direction."""
    return np.array(_shade_direction(hair))


def hair_colours(
    hair: str, shades: np.ndarray | float, amounts: np.ndarray | float, skin: Sequence[int] | None = None
) -> np.ndarray:
    """Hair colours (float RGB 0-255) for broadcastable arrays of shades and age amounts.

    Args:
        hair: a ``hair`` attribute value.
        shades: the person's shade in ``[-1, 1]``.
        amounts: :func:`age_amount` of the ages.
        skin: the person's young skin colour; when given, the hair is pushed at least
            ``HAIR_SKIN_CONTRAST`` away from the skin aged by the same amount.

    Returns:
        ``(..., 3)`` colours, unrounded.
    """
    shades, amounts = np.broadcast_arrays(np.asarray(shades, np.float64), np.asarray(amounts, np.float64))
    direction = hair_shade_direction(hair)
    base = (
        np.asarray(HAIR_COLOURS[hair], np.float64) + (shades * HAIR_SHADE_RANGE[hair])[..., None] * direction
    )
    colour = base + (np.asarray(HAIR_GREY, np.float64) - base) * amounts[..., None]
    if skin is None:
        return colour
    # Greying from any warm colour to light grey passes through some skin tone, and a beard or hairline
    # drawn in skin colour is invisible. The push runs along the shade direction (warmer or cooler, never
    # greener), which is orthogonal to greying, so the greying coordinate the age cue reads is unchanged.
    difference = colour - aged_skin(skin, amounts)
    distance_sq = (difference**2).sum(axis=-1)
    projection = difference @ direction
    # |difference + t·direction| = contrast: t = -p ± sqrt(p² - |d|² + contrast²), on the push side.
    root = np.sqrt(np.maximum(projection**2 - distance_sq + HAIR_SKIN_CONTRAST**2, 0.0))
    if HAIR_PUSH_SIDE[hair] > 0:
        push = np.maximum(0.0, -projection + root)
    else:
        push = np.minimum(0.0, -projection - root)
    push = np.where(distance_sq < HAIR_SKIN_CONTRAST**2, push, 0.0)
    return colour + push[..., None] * direction


def hair_rgb(
    hair: str, shade: float, amount: float, skin: Sequence[int] | None = None
) -> tuple[int, int, int]:
    """The hair colour of one person at one age as drawn (see :func:`hair_colours`); RGB 0-255."""
    colour = hair_colours(hair, shade, amount, skin)
    return as_rgb(np.clip(np.round(colour), 0, 255))


def as_rgb(values: Iterable[float]) -> tuple[int, int, int]:
    """Three channel values as an ``(r, g, b)`` tuple of ints (each truncated by ``int``)."""
    red, green, blue = (int(value) for value in values)
    return red, green, blue


def aged_skin(skin: Sequence[float], amount: np.ndarray | float) -> np.ndarray:
    """Skin colour (RGB 0-255) lightened for ``amount`` of age; ``(..., 3)`` for an array of amounts."""
    mix = SKIN_AGEING * np.asarray(amount, np.float64)[..., None]
    return np.asarray(skin, np.float64) * (1.0 - mix) + np.asarray(SKIN_AGED, np.float64) * mix


def parse_attribute_names(text: str) -> tuple[str, ...]:
    """Parse a comma-separated attribute list such as ``"hair,beard"``; ``"none"`` or ``""`` is no attribute."""
    names = [name.strip() for name in str(text).split(",") if name.strip()]
    return () if names in ([], ["none"]) else check_attribute_names(names)


def parse_attribute_values(text: str) -> FaceAttributes:
    """Parse fixed attribute values such as ``"hair=blond,glasses=glasses"`` (others keep their defaults)."""
    values = {}
    for item in (part.strip() for part in str(text).split(",")):
        if not item:
            continue
        name, separator, value = item.partition("=")
        if not separator:
            raise ConfigError(f"'{item}' is not name=value (e.g. hair=blond)")
        check_attribute_names([name.strip()])
        values[name.strip()] = value.strip()
    return FaceAttributes(**values)
