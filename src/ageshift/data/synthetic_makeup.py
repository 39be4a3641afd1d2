"""Procedural synthetic faces wearing makeup (lipstick, eye shadow, blush in many colours), their 68 landmarks,
and the measurement of each region's colour from the pixels, so makeup transfer is tested without downloads.

A face is drawn by :func:`~ageshift.data.synthetic_render.render_face`; its 68 iBUG-order landmarks follow
from the same identity geometry (and the renderer's tilt and shift), and the makeup is painted through the
same :func:`~ageshift.faces.regions.region_masks` that training and use read, so the masks are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import AgeshiftError
from ..faces.blend import rgb_to_lab
from ..faces.regions import REGIONS, region_masks, soft_masks
from .synthetic_attributes import FaceAttributes
from .synthetic_render import SUPERSAMPLE, FaceIdentity, random_identity, render_face

#: Lipstick, eye-shadow and blush colours the generator draws from (sRGB): reds, pinks, plums, corals, browns,
#: and for eyes also blues, greens, golds and greys.
LIP_COLOURS = ((190, 20, 40), (220, 60, 110), (120, 20, 60), (235, 100, 80), (150, 70, 60), (200, 30, 150))
EYE_COLOURS = ((60, 90, 190), (40, 140, 80), (200, 160, 60), (120, 60, 150), (90, 90, 100), (170, 90, 60))
BLUSH_COLOURS = ((235, 120, 130), (225, 110, 90), (210, 100, 150))
#: Opacity of each product where its mask is fully on.
OPACITY = {"lips": 0.9, "eyes": 0.7, "blush": 0.35}


@dataclass(frozen=True)
class Makeup:
    """What one face wears: an sRGB colour per product, ``None`` for bare."""

    lips: tuple[int, int, int] | None = None
    eyes: tuple[int, int, int] | None = None
    blush: tuple[int, int, int] | None = None

    @property
    def bare(self) -> bool:
        """No product at all."""
        return self.lips is None and self.eyes is None and self.blush is None


def random_makeup(rng: np.random.Generator, jitter: float = 25.0) -> Makeup:
    """A full look: a lipstick, an eye shadow and a blush from the palettes, each shifted by up to ``jitter``."""

    def pick(palette: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int]:
        base = np.asarray(palette[int(rng.integers(len(palette)))], np.float64)
        return tuple(int(v) for v in np.clip(base + rng.uniform(-jitter, jitter, 3), 0, 255))  # type: ignore[return-value]

    return Makeup(pick(LIP_COLOURS), pick(EYE_COLOURS), pick(BLUSH_COLOURS))


def _ellipse(cx: float, cy: float, rx: float, ry: float, angles: np.ndarray) -> np.ndarray:
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], -1)


def synthetic_landmarks(identity: FaceIdentity, size: int) -> np.ndarray:
    """The 68 iBUG-order landmarks of ``identity``'s face as :func:`render_face` draws it at ``size``.

    Returns:
        ``(68, 2)`` float ``(x, y)`` in the rendered image's pixels.
    """
    px = float(size * SUPERSAMPLE)
    cx, cy = 0.5 * px, 0.56 * px
    rx, ry = identity.head_width * px, identity.head_height * px
    eye_y = cy - identity.eye_height * px
    eye_r = identity.eye_size * px
    start = math.asin(min(0.95, identity.eye_height * px / ry))
    jaw = _ellipse(cx, cy, rx, ry, np.linspace(math.pi + start, -start, 17))
    brows, eyes = [], []
    eye_angles = np.array([math.pi, 4 * math.pi / 3, 5 * math.pi / 3, 0.0, math.pi / 3, 2 * math.pi / 3])
    for side in (-1, 1):
        ex = cx + side * identity.eye_spacing * rx
        brow_y = eye_y - eye_r * 1.6
        xs = np.linspace(ex - eye_r * 1.5, ex + eye_r * 1.5, 5)
        ys = np.linspace(brow_y + eye_r * 0.2, brow_y - eye_r * 0.1 * side, 5)
        brows.append(np.stack([xs, ys], -1))
        eyes.append(_ellipse(ex, eye_y, eye_r * 1.3, eye_r * 0.75, eye_angles))
    nose_y = cy + 0.27 * ry
    bridge = np.stack([np.full(4, cx), np.linspace(eye_y + eye_r, nose_y - 0.02 * px, 4)], -1)
    nostrils = np.stack([np.linspace(cx - 0.03 * px, cx + 0.03 * px, 5), np.full(5, nose_y)], -1)
    mouth_y = cy + 0.58 * ry + 0.005 * px
    half = identity.mouth_width * rx
    outer_angles = np.concatenate([np.linspace(math.pi, 2 * math.pi, 7), np.linspace(0, math.pi, 7)[1:-1]])
    outer = _ellipse(cx, mouth_y, half, 0.05 * px, outer_angles)
    inner_angles = np.concatenate([np.linspace(math.pi, 2 * math.pi, 5), np.linspace(0, math.pi, 5)[1:-1]])
    inner = _ellipse(cx, mouth_y, 0.8 * half, 0.006 * px, inner_angles)
    points = np.concatenate([jaw, brows[0], brows[1], bridge, nostrils, eyes[0], eyes[1], outer, inner])
    # render_face rotates the face layer counter-clockwise by the tilt about (cx, cy), then shifts it.
    theta = math.radians(identity.tilt_degrees)
    dx, dy = points[:, 0] - cx, points[:, 1] - cy
    rotated = np.stack(
        [cx + dx * math.cos(theta) + dy * math.sin(theta), cy - dx * math.sin(theta) + dy * math.cos(theta)],
        -1,
    )
    rotated += [round(identity.shift_x * px), round(identity.shift_y * px)]
    return rotated / SUPERSAMPLE


def _blush_mask(points: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Two cheek ellipses (below the outer eye corners, beside the nose), kept on the skin."""
    height, width = skin.shape
    ys, xs = np.mgrid[0:height, 0:width]
    face_width = float(points[16, 0] - points[0, 0])
    mask = np.zeros_like(skin)
    for eye in (slice(36, 42), slice(42, 48)):
        centre = points[eye].mean(0) * 0.55 + np.array([points[eye].mean(0)[0], points[33, 1]]) * 0.45
        centre = centre + [0.0, 0.06 * face_width]
        radius_x, radius_y = 0.13 * face_width, 0.08 * face_width
        mask |= ((xs - centre[0]) / radius_x) ** 2 + ((ys - centre[1]) / radius_y) ** 2 <= 1.0
    return mask & skin


def apply_makeup(image: Image.Image, points: np.ndarray, makeup: Makeup) -> Image.Image:
    """Paint ``makeup`` onto a face through its region masks (soft edges); returns a new image.

    Args:
        image: RGB face.
        points: its ``(68, 2)`` landmarks in pixels.
        makeup: the colours.
    """
    masks = region_masks(points, image.size)
    soft = soft_masks(masks, radius=max(0.5, image.width / 128))
    pixels = np.asarray(image.convert("RGB"), np.float64)
    blush = soft_masks(type(masks)(_blush_mask(points, masks.skin), masks.eyes, masks.skin), 2.0)[0]
    layers = [(makeup.lips, soft[0], OPACITY["lips"]), (makeup.eyes, soft[1], OPACITY["eyes"])]
    layers.append((makeup.blush, blush, OPACITY["blush"]))
    for colour, alpha, opacity in layers:
        if colour is None:
            continue
        weight = (alpha * opacity)[..., None]
        # Multiply-then-mix keeps the face's own shading under the product, as real makeup does.
        tinted = 0.5 * np.asarray(colour, np.float64) + 0.5 * np.asarray(colour, np.float64) * pixels / 255.0
        pixels = pixels * (1 - weight) + tinted * weight
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def render_made_up_face(
    identity: FaceIdentity, makeup: Makeup, size: int = 64, age: float = 30.0
) -> tuple[Image.Image, np.ndarray]:
    """A synthetic face wearing ``makeup`` and its 68 landmarks (no beard, no glasses: they hide the regions).

    Returns:
        ``(image, points)``: an RGB ``size × size`` image and ``(68, 2)`` pixel landmarks.
    """
    if size < 32:
        raise AgeshiftError(f"synthetic makeup faces need at least 32 pixels, got {size}")
    attributes = FaceAttributes(hair=identity.hair_colour, hair_length="short")
    face = render_face(age, identity, size, attributes)
    points = synthetic_landmarks(identity, size)
    return (face if makeup.bare else apply_makeup(face, points, makeup)), points


def makeup_identity(rng: np.random.Generator) -> FaceIdentity:
    """A random person whose face is upright enough for makeup regions (tilt within ±6°)."""
    identity = random_identity(rng)
    return identity if abs(identity.tilt_degrees) <= 6 else makeup_identity(rng)


def region_colours(image: Image.Image | np.ndarray, points: np.ndarray) -> dict[str, np.ndarray | None]:
    """Each region's colour measured from the pixels: the median CIE L*a*b* of its pixels.

    Args:
        image: an RGB face (PIL or ``(H, W, 3)`` uint8).
        points: its ``(68, 2)`` landmarks in pixels.

    Returns:
        ``{"lips": (3,) Lab, "eyes": ..., "skin": ...}``; ``None`` for a region with no pixels.
    """
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    masks = region_masks(points, (pixels.shape[1], pixels.shape[0]))
    lab = rgb_to_lab(pixels)
    colours: dict[str, np.ndarray | None] = {}
    for name in REGIONS:
        mask = getattr(masks, name)
        colours[name] = np.median(lab[mask], axis=0) if mask.any() else None
    return colours


def delta_e(first: np.ndarray, second: np.ndarray) -> float:
    """CIE76 colour difference ΔE*ab between two L*a*b* colours."""
    return float(np.linalg.norm(np.asarray(first, np.float64) - np.asarray(second, np.float64)))
