"""Drawing procedural synthetic faces: a random person, at an age, with attributes.

Each face has random identity features (head shape, skin tone, eyes, hair style and shade, background,
pose jitter), :class:`~ageshift.data.synthetic_attributes.FaceAttributes` (hair colour, beard, hair
length, glasses) and an age that drives two cues: hair, beard and eyebrows turn grey, and forehead, eye
and mouth lines deepen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..errors import AgeshiftError
from .synthetic_attributes import (
    ATTRIBUTES,
    FRAME_COLOUR,
    HAIR_COLOURS,
    FaceAttributes,
    age_amount,
    aged_skin,
    as_rgb,
    hair_colours,
    hair_rgb,
)

#: Supersampling factor: shapes are drawn this many times larger and downsampled, for anti-aliasing.
SUPERSAMPLE = 3
SKIN_TONES = ((244, 208, 180), (230, 188, 150), (205, 155, 115), (170, 120, 85), (125, 85, 60), (96, 64, 46))
IRIS_COLOURS = ((70, 45, 25), (40, 90, 150), (60, 110, 70), (110, 90, 60), (30, 30, 30))
#: Backgrounds are redrawn until every row is this far (RGB units) from the person's skin and from every
#: hair colour at every age, so the face's silhouette and long hair always show.
BACKGROUND_CONTRAST = 40.0


@dataclass(frozen=True)
class FaceIdentity:
    """The age- and attribute-independent look of one synthetic person; lengths are fractions of the side.

    ``hair_colour`` and the hair length of ``hair_style`` are only the person's natural attributes (used
    when :func:`render_face` gets no :class:`FaceAttributes`); ``hair_shade`` in ``[-1, 1]`` tints every
    hair colour the same way.
    """

    head_width: float
    head_height: float
    skin: tuple[int, int, int]
    eye_height: float
    eye_spacing: float
    eye_size: float
    iris: tuple[int, int, int]
    hair_colour: str
    hair_shade: float
    hair_style: int
    hair_volume: float
    hairline: float
    mouth_width: float
    background_top: tuple[int, int, int]
    background_bottom: tuple[int, int, int]
    clothes: tuple[int, int, int]
    shift_x: float
    shift_y: float
    tilt_degrees: float
    wrinkle_seed: int


#: Hair styles the renderer knows (``FaceIdentity.hair_style`` indexes this); "bun" and "side_part" are
#: short styles (no hair beside the cheeks), "long" is the natural ``hair_length="long"``.
HAIR_STYLES = ("short", "long", "bun", "side_part")


def _background_is_clear(top: np.ndarray, bottom: np.ndarray, skin: tuple[int, int, int]) -> bool:
    rows = top + (bottom - top) * np.linspace(0.0, 1.0, 5)[:, None]
    amounts = np.linspace(0.0, 1.0, 11)
    others = [aged_skin(skin, np.array([0.0, 1.0]))]
    others += [
        hair_colours(hair, np.array([[-1.0], [0.0], [1.0]]), amounts, skin).reshape(-1, 3)
        for hair in HAIR_COLOURS
    ]
    distances = np.linalg.norm(rows[:, None] - np.concatenate(others)[None], axis=2)
    return bool(distances.min() >= BACKGROUND_CONTRAST)


def random_identity(rng: np.random.Generator) -> FaceIdentity:
    """Draw a random synthetic person.

    Args:
        rng: the random generator; the same state gives the same identity.

    Returns:
        A :class:`FaceIdentity`.
    """

    def pick(options: Sequence[tuple[int, int, int]], jitter: int) -> tuple[int, int, int]:
        base = np.array(options[int(rng.integers(len(options)))])
        return as_rgb(np.clip(base + rng.integers(-jitter, jitter + 1, 3), 0, 255))

    skin = pick(SKIN_TONES, 10)
    # Drawn before the background, in this order: the same seed must keep giving the same person.
    fields: dict[str, Any] = dict(
        head_width=float(rng.uniform(0.25, 0.30)),
        head_height=float(rng.uniform(0.32, 0.36)),
        eye_height=float(rng.uniform(-0.04, 0.0)),
        eye_spacing=float(rng.uniform(0.36, 0.46)),
        eye_size=float(rng.uniform(0.035, 0.05)),
        iris=pick(IRIS_COLOURS, 15),
        hair_colour=ATTRIBUTES["hair"][rng.integers(len(ATTRIBUTES["hair"]))],
        hair_shade=float(rng.uniform(-1.0, 1.0)),
        hair_style=int(rng.integers(len(HAIR_STYLES))),
        hair_volume=float(rng.uniform(0.04, 0.08)),
        hairline=float(rng.uniform(0.31, 0.34)),
        mouth_width=float(rng.uniform(0.22, 0.34)),
    )
    # About a third of random gradients are clear of skin and hair, so this takes ~3 draws.
    while True:
        top, bottom = rng.integers(40, 240, 3), rng.integers(40, 240, 3)
        if _background_is_clear(top.astype(np.float64), bottom.astype(np.float64), skin):
            break
    return FaceIdentity(
        skin=skin,
        background_top=as_rgb(top),
        background_bottom=as_rgb(bottom),
        clothes=as_rgb(rng.integers(20, 230, 3)),
        shift_x=float(rng.uniform(-0.03, 0.03)),
        shift_y=float(rng.uniform(-0.01, 0.01)),
        tilt_degrees=float(rng.uniform(-6.0, 6.0)),
        wrinkle_seed=int(rng.integers(2**31)),
        **fields,
    )


def natural_attributes(identity: FaceIdentity) -> FaceAttributes:
    """The attributes ``identity`` is drawn with when none are given: own hair colour and length, no extras."""
    length = "long" if HAIR_STYLES[identity.hair_style] == "long" else "short"
    return FaceAttributes(hair=identity.hair_colour, hair_length=length)


def _mix(colour: Sequence[int], target: Sequence[int], amount: float) -> tuple[int, int, int]:
    return as_rgb(round(c + (t - c) * amount) for c, t in zip(colour, target, strict=True))


def _ellipse_points(cx: float, cy: float, rx: float, ry: float, count: int = 64) -> np.ndarray:
    angles = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def _background(identity: FaceIdentity, side: int) -> Image.Image:
    ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)[:, None, None]
    top = np.array(identity.background_top, dtype=np.float32)
    bottom = np.array(identity.background_bottom, dtype=np.float32)
    column = (top + (bottom - top) * ramp + 0.5).astype(np.uint8)
    return Image.fromarray(column).resize((side, side), Image.Resampling.NEAREST)


def _draw_hair_back(
    draw: ImageDraw.ImageDraw, identity: FaceIdentity, hair: tuple, long: bool, px: float
) -> None:
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    volume = identity.hair_volume * px
    draw.ellipse((cx - rx - volume, cy - ry - volume, cx + rx + volume, cy + ry * 0.4), fill=hair)
    if long:
        draw.rectangle((cx - rx - volume, cy - ry * 0.2, cx + rx + volume, cy + ry * 1.15), fill=hair)
    if HAIR_STYLES[identity.hair_style] == "bun":
        bun = 0.11 * px
        draw.ellipse(
            (cx - bun, cy - ry - volume - bun * 1.3, cx + bun, cy - ry - volume + bun * 0.6), fill=hair
        )


def _draw_head(
    draw: ImageDraw.ImageDraw, identity: FaceIdentity, skin: tuple, hair: tuple, px: float
) -> None:
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    neck = rx * 0.45
    draw.rectangle((cx - neck, cy + ry * 0.6, cx + neck, px), fill=skin)
    draw.ellipse((cx - rx * 2.2, cy + ry * 1.25, cx + rx * 2.2, cy + ry * 3.5), fill=identity.clothes)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    for side in (-1, 1):
        draw.ellipse(
            (cx + side * rx - 0.03 * px, cy - 0.02 * px, cx + side * rx + 0.03 * px, cy + 0.07 * px),
            fill=skin,
        )
    # The fringe: the part of the head ellipse above the hairline, bulging down a little in the middle.
    hairline_y = identity.hairline * px
    outline = _ellipse_points(cx, cy, rx + 0.004 * px, ry + 0.004 * px, 96)
    upper = outline[outline[:, 1] < hairline_y]
    upper = upper[np.argsort(np.arctan2(upper[:, 1] - cy, upper[:, 0] - cx))]
    dip = 0.03 * px if HAIR_STYLES[identity.hair_style] == "side_part" else 0.02 * px
    tip_x = cx + (0.35 * rx if HAIR_STYLES[identity.hair_style] == "side_part" else 0.0)
    fringe = [(float(x), float(y)) for x, y in upper] + [(tip_x, hairline_y + dip)]
    draw.polygon(fringe, fill=hair)


def _draw_features(
    draw: ImageDraw.ImageDraw, identity: FaceIdentity, skin: tuple, brow: tuple, px: float
) -> None:
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    eye_y = cy - identity.eye_height * px
    eye_r = identity.eye_size * px
    line = max(1, round(0.012 * px))
    for side in (-1, 1):
        ex = cx + side * identity.eye_spacing * rx
        draw.ellipse(
            (ex - eye_r * 1.3, eye_y - eye_r * 0.75, ex + eye_r * 1.3, eye_y + eye_r * 0.75),
            fill=(245, 245, 240),
        )
        draw.ellipse(
            (ex - eye_r * 0.6, eye_y - eye_r * 0.6, ex + eye_r * 0.6, eye_y + eye_r * 0.6), fill=identity.iris
        )
        draw.ellipse(
            (ex - eye_r * 0.25, eye_y - eye_r * 0.25, ex + eye_r * 0.25, eye_y + eye_r * 0.25),
            fill=(10, 10, 10),
        )
        brow_y = eye_y - eye_r * 1.6
        draw.line(
            (ex - eye_r * 1.5, brow_y + eye_r * 0.2, ex + eye_r * 1.5, brow_y - eye_r * 0.1 * side),
            fill=brow,
            width=line * 2,
        )
    nose_y = cy + 0.27 * ry
    shade = _mix(skin, (0, 0, 0), 0.25)
    draw.line((cx, eye_y + eye_r, cx - 0.02 * px, nose_y, cx + 0.015 * px, nose_y), fill=shade, width=line)
    mouth_y = cy + 0.58 * ry
    half = identity.mouth_width * rx
    draw.chord((cx - half, mouth_y - 0.04 * px, cx + half, mouth_y + 0.04 * px), 10, 170, fill=(150, 60, 60))


def _draw_wrinkles(
    draw: ImageDraw.ImageDraw, identity: FaceIdentity, skin: tuple, amount: float, px: float
) -> None:
    if amount <= 0.0:
        return
    rng = np.random.default_rng(identity.wrinkle_seed)
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    eye_y = cy - identity.eye_height * px
    # Lines deepen (contrast) and multiply (count) with age; both are what the measurement picks up.
    colour = _mix(skin, (40, 20, 15), 0.15 + 0.45 * amount)
    width = max(1, round(0.011 * px))
    top = identity.hairline * px + 0.035 * px
    bottom = eye_y - identity.eye_size * px * 1.6 - 0.02 * px
    count = 1 + int(round(4 * amount))
    for index in range(count):
        y = top + (bottom - top) * (index + 0.5) / count + rng.uniform(-0.003, 0.003) * px
        half = rx * rng.uniform(0.45, 0.6)
        bend = rng.uniform(0.004, 0.01) * px
        draw.arc((cx - half, y - bend, cx + half, y + bend * 3), 200, 340, fill=colour, width=width)
    mouth_y = cy + 0.58 * ry
    for side in (-1, 1):
        corner = cx + side * (identity.eye_spacing * rx + identity.eye_size * px * 1.4)
        for spread in (-0.6, 0.0, 0.6)[: 1 + int(amount * 3)]:
            draw.line(
                (corner, eye_y, corner + side * 0.03 * px, eye_y + spread * 0.02 * px),
                fill=colour,
                width=width,
            )
        fold_x = cx + side * (identity.mouth_width * rx + 0.02 * px)
        box = (fold_x - 0.03 * px, mouth_y - 0.1 * px, fold_x + 0.03 * px, mouth_y + 0.04 * px)
        draw.arc(box, *((110, 250) if side < 0 else (-70, 70)), fill=colour, width=width)


def _draw_beard(draw: ImageDraw.ImageDraw, identity: FaceIdentity, beard: tuple, px: float) -> None:
    # The lower face from just above the mouth down past the chin; the mouth is drawn over it later.
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px + 0.004 * px, identity.head_height * px + 0.012 * px
    centre_y = cy + 0.01 * px
    top = cy + 0.58 * identity.head_height * px - 0.035 * px
    outline = _ellipse_points(cx, centre_y, rx, ry, 128)
    lower = outline[outline[:, 1] > top]
    lower = lower[np.argsort(np.arctan2(lower[:, 1] - centre_y, lower[:, 0] - cx))]
    half = rx * math.sqrt(max(0.0, 1.0 - ((top - centre_y) / ry) ** 2))
    points = [(cx + half, top), *((float(x), float(y)) for x, y in lower), (cx - half, top)]
    draw.polygon(points, fill=beard)


def _draw_glasses(draw: ImageDraw.ImageDraw, identity: FaceIdentity, px: float) -> None:
    cx, cy = 0.5 * px, 0.56 * px
    rx = identity.head_width * px
    eye_y = cy - identity.eye_height * px
    eye_r = identity.eye_size * px
    offset = identity.eye_spacing * rx
    width = max(1, round(0.018 * px))
    # The frame's inner edge clears the eye white (1.3 × 0.75 radii) so eyes stay measurable, and the
    # lenses never touch in the middle, so the bridge always shows as its own line.
    half_width = min(1.45 * eye_r, offset - 0.012 * px - width) + width
    half_height = 0.95 * eye_r + width
    hinge_y = eye_y - 0.3 * eye_r
    for side in (-1, 1):
        ex = cx + side * offset
        box = (ex - half_width, eye_y - half_height, ex + half_width, eye_y + half_height)
        draw.rounded_rectangle(box, radius=0.6 * half_height, outline=FRAME_COLOUR, width=width)
        draw.line(
            (ex + side * half_width, hinge_y, cx + side * rx * 0.96, hinge_y - 0.1 * eye_r),
            fill=FRAME_COLOUR,
            width=width,
        )
    inner = offset - half_width
    draw.line((cx - inner, hinge_y, cx + inner, hinge_y), fill=FRAME_COLOUR, width=width)


def render_face(
    age: float, identity: FaceIdentity, size: int = 64, attributes: FaceAttributes | None = None
) -> Image.Image:
    """Draw one synthetic face of ``identity`` at ``age`` with ``attributes``.

    Args:
        age: age in years; the cue grows linearly between ``CUE_START_AGE`` and ``CUE_FULL_AGE``.
        identity: the person (see :func:`random_identity`).
        size: output side in pixels.
        attributes: hair colour, beard, hair length and glasses; default :func:`natural_attributes`.

    Returns:
        An RGB ``PIL.Image`` of ``size × size``.
    """
    if size < 16:
        raise AgeshiftError(f"synthetic face size must be at least 16 pixels, got {size}")
    attributes = natural_attributes(identity) if attributes is None else attributes
    amount = age_amount(age)
    px = size * SUPERSAMPLE
    hair = hair_rgb(attributes.hair, identity.hair_shade, amount, identity.skin)
    skin = tuple(int(round(v)) for v in aged_skin(identity.skin, amount))
    layer = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    _draw_hair_back(draw, identity, hair, attributes.hair_length == "long", px)
    _draw_head(draw, identity, skin, hair, px)
    _draw_wrinkles(draw, identity, skin, amount, px)
    if attributes.beard == "beard":
        _draw_beard(draw, identity, hair, px)
    _draw_features(draw, identity, skin, _mix(hair, (0, 0, 0), 0.2), px)
    if attributes.glasses == "glasses":
        _draw_glasses(draw, identity, px)
    centre = (0.5 * px, 0.56 * px)
    # Nearest is enough: the box downsampling below anti-aliases the rotated edges anyway.
    layer = layer.rotate(identity.tilt_degrees, resample=Image.Resampling.NEAREST, center=centre)
    offset = (round(identity.shift_x * px), round(identity.shift_y * px))
    canvas = _background(identity, px)
    canvas.paste(layer, offset, layer)
    return canvas.resize((size, size), Image.Resampling.BOX)
