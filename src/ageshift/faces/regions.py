"""Makeup regions of a face from dlib's 68 landmarks: lips, eye-shadow rings and face skin.

The same function serves training data (synthetic faces give their 68 points analytically, prepared photos
store dlib's) and use (each aligned crop's points), so a model is trained on exactly the masks it is used with.
Datasets that come with face-parsing maps (MT's ``segs/``) can give their training masks from the maps instead
(:func:`parsing_masks`): exact lip and skin outlines, with the eye-shadow reach still taken from the landmarks.

Points follow the iBUG 300-W order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, outer lips 48-59, inner
lips 60-67. (dlib's 68-point predictor was trained on iBUG 300-W, whose terms exclude commercial use.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..errors import AgeshiftError

#: Region names, in the order of :meth:`RegionMasks.stack`.
REGIONS = ("lips", "eyes", "skin")
_JAW, _BROWS, _LEFT_EYE, _RIGHT_EYE = slice(0, 17), slice(17, 27), slice(36, 42), slice(42, 48)
_OUTER_LIPS, _INNER_LIPS = slice(48, 60), slice(60, 68)
#: How far the eye-shadow ring reaches around each eye, as a multiple of the eye's own radii.
SHADOW_REACH = 1.9


@dataclass(frozen=True)
class RegionMasks:
    """Boolean ``(H, W)`` masks of one face; lips, eyes (the two eye-shadow rings) and skin never overlap."""

    lips: np.ndarray
    eyes: np.ndarray
    skin: np.ndarray

    def stack(self) -> np.ndarray:
        """``(3, H, W)`` float32 masks in :data:`REGIONS` order (what batches carry)."""
        return np.stack([self.lips, self.eyes, self.skin]).astype(np.float32)

    def areas(self) -> dict[str, int]:
        """Pixels per region."""
        return {name: int(getattr(self, name).sum()) for name in REGIONS}


def _polygon(size: tuple[int, int], points: np.ndarray) -> np.ndarray:
    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in points], fill=255)
    return np.asarray(canvas) > 127


def _scaled(points: np.ndarray, factor: float) -> np.ndarray:
    centre = points.mean(0)
    return centre + (points - centre) * factor


def region_masks(landmarks: np.ndarray, size: int | tuple[int, int]) -> RegionMasks:
    """Lips, eye-shadow rings and skin masks of one face.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` pixel coordinates in iBUG 300-W order.
        size: mask side, or ``(width, height)``.

    Returns:
        :class:`RegionMasks`: lips = outer lip contour minus the inner mouth; eyes = each eye's contour grown
        :data:`SHADOW_REACH` times (up to the brows) minus the eye and brow; skin = the face (jaw line closed
        over the brows) minus lips, mouth, eyes, rings and brows.

    Raises:
        AgeshiftError: landmarks not of shape ``(68, 2)`` or not finite.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise AgeshiftError(f"region masks need (68, 2) finite landmarks, got shape {points.shape}")
    shape = (int(size), int(size)) if isinstance(size, int | np.integer) else (int(size[0]), int(size[1]))
    mouth = _polygon(shape, points[_OUTER_LIPS])
    inner = _polygon(shape, points[_INNER_LIPS])
    lips = mouth & ~inner
    brows = np.zeros_like(mouth)
    for brow in (points[17:22], points[22:27]):
        # A brow is a line of 5 points: give it a thickness of a tenth of its length.
        thickness = 0.1 * float(np.linalg.norm(brow[-1] - brow[0]))
        brows |= _polygon(shape, np.concatenate([brow + [0, -thickness], brow[::-1] + [0, thickness]]))
    eyes_open = _polygon(shape, points[_LEFT_EYE]) | _polygon(shape, points[_RIGHT_EYE])
    rings = np.zeros_like(mouth)
    for eye in (points[_LEFT_EYE], points[_RIGHT_EYE]):
        rings |= _polygon(shape, _scaled(eye, SHADOW_REACH))
    rings &= ~eyes_open & ~brows
    # The face: the jaw from ear to ear, closed over the brows raised by a third of the brow-to-chin-top gap.
    lift = 0.25 * float(points[8, 1] - points[_BROWS, 1].mean())
    top = points[_BROWS][::-1] - [0, lift]
    face = _polygon(shape, np.concatenate([points[_JAW], top]))
    skin = face & ~mouth & ~eyes_open & ~rings & ~brows
    return RegionMasks(lips, rings & ~mouth, skin)


#: MT's face-parsing labels (its ``segs/`` maps, the labelling BeautyGAN trained with): region → label values.
#: 0 background, 1 right eye, 2 right brow, 3 right ear, 4 face, 5 left ear, 6 left eye, 7 left brow, 8 nose,
#: 9 upper lip, 10 neck, 11 teeth, 12 hair, 13 lower lip. The skin is face and nose (not the neck), as in
#: :func:`region_masks`; the eye-shadow rings are cut from it, so they never cover a parsed eye or brow.
MT_PARSING_LABELS: dict[str, tuple[int, ...]] = {"lips": (9, 13), "skin": (4, 8)}


def parse_label_spec(spec: str) -> dict[str, tuple[int, ...]]:
    """``"lips=9,13 skin=4,8"`` → a label table like :data:`MT_PARSING_LABELS`.

    Regions not named keep MT's labels. Raises:
        AgeshiftError: an unknown region or a value that is not a list of integers.
    """
    table = dict(MT_PARSING_LABELS)
    for item in spec.replace(";", " ").split():
        name, _, values = item.partition("=")
        if name not in table:
            raise AgeshiftError(f"parsing labels: unknown region {name!r}; use {', '.join(table)}")
        try:
            table[name] = tuple(int(value) for value in values.split(",") if value.strip())
        except ValueError:
            raise AgeshiftError(f"parsing labels: {item!r} is not REGION=N[,N...]") from None
        if not table[name]:
            raise AgeshiftError(f"parsing labels: {item!r} names no label")
    return table


def parsing_masks(
    parsing: np.ndarray, landmarks: np.ndarray, labels: dict[str, tuple[int, ...]] | None = None
) -> RegionMasks:
    """Lips, eye-shadow rings and skin of one face from its face-parsing map.

    Args:
        parsing: ``(H, W)`` integer label map (MT's ``segs/``).
        landmarks: the face's ``(68, 2)`` points in the same pixels: parsing maps have no eye-shadow class, so
            each ring reaches as far as :func:`region_masks` draws it, limited to pixels parsed as skin.
        labels: region → label values (default :data:`MT_PARSING_LABELS`).

    Returns:
        :class:`RegionMasks`: lips = the lip labels; eyes = the landmark rings on skin-labelled pixels (so never
        on a parsed eye or brow); skin = the skin labels minus rings and lips.

    Raises:
        AgeshiftError: a map that is not 2-D, or one without any lip or skin pixel (another labelling: pass
            ``labels``).
    """
    table = labels or MT_PARSING_LABELS
    parsing = np.asarray(parsing)
    if parsing.ndim != 2:
        raise AgeshiftError(f"a face-parsing map must be one channel of labels, got shape {parsing.shape}")
    height, width = parsing.shape
    lips = np.isin(parsing, table["lips"])
    skin_labels = np.isin(parsing, table["skin"])
    missing = [name for name, mask in (("lips", lips), ("skin", skin_labels)) if not mask.any()]
    if missing:
        found = sorted(int(value) for value in np.unique(parsing))
        raise AgeshiftError(
            f"the parsing map has no {' or '.join(missing)} pixels (labels {table['lips']} / {table['skin']}; "
            f"the map holds {found}): not MT's labelling? give the labels (--parsing-labels)"
        )
    rings = region_masks(landmarks, (width, height)).eyes & skin_labels & ~lips
    return RegionMasks(lips, rings, skin_labels & ~rings & ~lips)


def soft_masks(masks: RegionMasks, radius: float = 1.0) -> np.ndarray:
    """:meth:`RegionMasks.stack` with edges feathered by a Gaussian of ``radius`` pixels (for painting makeup)."""
    layers = []
    for mask in masks.stack():
        image = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
        layers.append(np.asarray(image, dtype=np.float32) / 255.0)
    return np.stack(layers)


def crop_landmarks(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Photo-pixel landmarks ``(N, 2)`` mapped into an aligned crop by its ``2x3`` image→crop ``matrix``."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return np.asarray(points, dtype=np.float64) @ matrix[:, :2].T + matrix[:, 2]


def face_regions(crop: Image.Image, points: np.ndarray | None = None) -> tuple[np.ndarray, RegionMasks]:
    """The 68 landmarks and region masks of an aligned face crop (dlib's predictor when ``points`` is None).

    Args:
        crop: the aligned RGB crop (the face fills most of it).
        points: ``(68, 2)`` crop-pixel landmarks when already known (synthetic faces, prepared data).

    Returns:
        ``(points, masks)``.

    Raises:
        AgeshiftError: dlib finds no landmarks (the crop holds no face).
    """
    if points is None:
        from .dlib_backend import faces_in_boxes, find_faces, largest_face, upscale_crop

        large = upscale_crop(crop)
        factor = large.shape[1] / crop.width
        face = largest_face(find_faces(large, points="68"))
        if face is None:  # aligned crops: the face fills the frame even when HOG misses it
            margin = 0.12 * large.shape[1]
            box = (margin, margin, large.shape[1] - margin, large.shape[0] - margin * 0.5)
            face = faces_in_boxes(large, [box], points="68")[0]
        points = face.dlib_points / factor
    return np.asarray(points, np.float64), region_masks(points, (crop.width, crop.height))
