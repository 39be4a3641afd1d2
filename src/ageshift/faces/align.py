"""Face alignment: a similarity transform from five landmarks to a template, and the warps that cut an
aligned crop out of a photo (and put one back).

Coordinates are continuous pixel coordinates (pixel ``i`` covers ``[i, i + 1)``), the convention of
``PIL.Image.transform``. A 2×3 ``matrix`` maps ``(x, y, 1)`` to ``(x', y')``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ..config import from_dict, to_dict
from ..errors import AgeshiftError, ConfigError
from .types import FaceDetection

#: Five-point templates in a unit square (left eye, right eye, nose, mouth left, mouth right).
#: "ffhq": loose crop with hair and chin, like FFHQ; "utkface": tighter crop, like UTKFace's aligned faces.
TEMPLATES: dict[str, np.ndarray] = {
    "ffhq": np.array([[0.375, 0.46], [0.625, 0.46], [0.5, 0.59], [0.405, 0.715], [0.595, 0.715]]),
    "utkface": np.array([[0.34, 0.41], [0.66, 0.41], [0.5, 0.57], [0.375, 0.73], [0.625, 0.73]]),
    # Where the packaged 64×64 DCGAN puts the landmarks (median MTCNN landmarks of its samples), so a model
    # trained on `prepare generated` data is fed photo crops framed like its training faces.
    "dcgan64": np.array([[0.35, 0.465], [0.655, 0.465], [0.502, 0.66], [0.37, 0.822], [0.635, 0.822]]),
}


@dataclass
class AlignmentSpec:
    """How a model's face crops are made.

    Attributes:
        template: ``"ffhq"``, ``"utkface"`` or ``"dcgan64"`` (see :data:`TEMPLATES`).
        size: crop side in pixels.
        padding: extra margin around the template square on each side, as a fraction of it
            (0.25 → the template square fills the middle 1/1.5 of the crop).
    """

    template: str = "ffhq"
    size: int = 256
    padding: float = 0.0

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ConfigError(
                f"unknown alignment template {self.template!r}; choose one of {', '.join(TEMPLATES)}"
            )
        if not 8 <= int(self.size) <= 4096:
            raise ConfigError(f"crop size must be between 8 and 4096 pixels, got {self.size}")
        if not 0.0 <= float(self.padding) <= 2.0:
            raise ConfigError(f"crop padding must be between 0 and 2, got {self.padding}")
        self.size, self.padding = int(self.size), float(self.padding)

    def points(self) -> np.ndarray:
        """Template landmarks in crop pixels: ``(5, 2)``."""
        unit = (TEMPLATES[self.template] + self.padding) / (1.0 + 2.0 * self.padding)
        return unit * self.size

    def to_dict(self) -> dict[str, Any]:
        """The ``crop`` entry of ``dataset.json`` / model metadata."""
        return to_dict(self)

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None, image_size: int | None = None) -> AlignmentSpec:
        """The spec a model was trained with, from ``translator.metadata["crop"]``.

        Args:
            metadata: a translator's metadata (``crop`` may be missing or ``None``).
            image_size: crop size to use when the metadata gives none (e.g. ``translator.image_size``).

        Returns:
            The stored spec; defaults (``ffhq``, padding 0) for models trained without crop information
            or on synthetic data.
        """
        crop = (metadata or {}).get("crop")
        default_size = int(image_size or 256)
        if not crop or crop.get("template") == "synthetic":
            return cls(size=int((crop or {}).get("size", default_size)))
        known = {key: crop[key] for key in ("template", "size", "padding") if key in crop}
        known.setdefault("size", default_size)
        return from_dict(cls, known, where="metadata.crop")


@dataclass
class AlignedFace:
    """An aligned crop and the transforms between it and the photo.

    Attributes:
        crop: RGB PIL image, ``size × size``.
        matrix: ``(2, 3)`` photo pixels → crop pixels.
        inverse: ``(2, 3)`` crop pixels → photo pixels.
    """

    crop: Image.Image
    matrix: np.ndarray = field(repr=False)
    inverse: np.ndarray = field(repr=False)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) from ``source`` to ``target`` (Umeyama 1991).

    Args:
        source: ``(N, 2)`` points, N ≥ 2.
        target: ``(N, 2)`` corresponding points.

    Returns:
        ``(2, 3)`` matrix ``M`` with ``target ≈ source @ M[:, :2].T + M[:, 2]``.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 2 or len(source) < 2:
        raise AgeshiftError(f"need matching (N>=2, 2) point sets, got {source.shape} and {target.shape}")
    source_mean, target_mean = source.mean(0), target.mean(0)
    source_centred, target_centred = source - source_mean, target - target_mean
    variance = (source_centred**2).sum() / len(source)
    if variance < 1e-12:
        raise AgeshiftError("landmarks are all at one point; cannot align")
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    # Umeyama's sign correction: never return a reflection.
    sign = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / variance
    translation = target_mean - scale * rotation @ source_mean
    return np.concatenate([scale * rotation, translation[:, None]], 1)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a ``(2, 3)`` affine matrix."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``(N, 2)`` points through a ``(2, 3)`` matrix."""
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def affine_scale(matrix: np.ndarray) -> float:
    """How many target pixels one source pixel spans under a similarity ``matrix`` (``2×3``): √|det| of its linear
    part."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(matrix, np.float64)[:2, :2]))))


def warp(source: Image.Image, inverse: np.ndarray, size: tuple[int, int], edge: bool = True) -> Image.Image:
    """Resample ``source`` into a ``size`` image where output pixel ``p`` takes ``source`` at ``inverse @ p``.

    Only the source window the output covers is touched (bounded memory on huge photos), shrunk first with a
    box filter when the warp downsamples by 2× or more, so faces from large photos do not alias.

    Args:
        source: an RGB or L PIL image.
        inverse: ``(2, 3)`` output pixels → source pixels.
        size: ``(width, height)`` of the output.
        edge: repeat border pixels outside the source (else fill with 0).

    Returns:
        The warped PIL image, same mode as ``source``.
    """
    width, height = size
    corners = apply_affine(inverse, np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float64))
    scale = affine_scale(inverse)
    margin = 2.0 + 2.0 * scale
    x0, y0 = np.floor(corners.min(0) - margin).astype(int)
    x1, y1 = np.ceil(corners.max(0) + margin).astype(int)
    window = _window(source, (int(x0), int(y0), int(x1), int(y1)), edge)
    shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]])
    local = shift @ np.vstack([inverse, [0.0, 0.0, 1.0]])
    factor = int(scale // 1.0) if scale >= 2.0 else 1
    if factor > 1:
        window = window.reduce(factor)
        local = local / factor
    elif scale <= 0.5:
        # Enlarging 2× or more (pasting a model's crop back): PIL's affine bicubic reads 16 taps per output pixel
        # (~5 ms for a 200² face); a separable bicubic enlargement of the small window by the integer part of the
        # factor, then a bilinear affine at about 1:1, looks the same for a third of the time.
        enlarge = int(1.0 / scale)
        window = window.resize((window.width * enlarge, window.height * enlarge), Image.Resampling.BICUBIC)
        return window.transform(
            size, Image.Transform.AFFINE, tuple((local * enlarge).ravel()), Image.Resampling.BILINEAR
        )
    return window.transform(size, Image.Transform.AFFINE, tuple(local.ravel()), Image.Resampling.BICUBIC)


def _window(image: Image.Image, box: tuple[int, int, int, int], edge: bool) -> Image.Image:
    """Crop ``box`` (may extend past the image); outside pixels repeat the border when ``edge``."""
    x0, y0, x1, y1 = box
    inside = (max(x0, 0), max(y0, 0), min(x1, image.width), min(y1, image.height))
    if not edge or inside == box or inside[0] >= inside[2] or inside[1] >= inside[3]:
        return image.crop(box)
    pixels = np.asarray(image.crop(inside))
    pads = ((inside[1] - y0, y1 - inside[3]), (inside[0] - x0, x1 - inside[2])) + ((0, 0),) * (
        pixels.ndim - 2
    )
    return Image.fromarray(np.pad(pixels, pads, mode="edge"))


def align_face(
    image: Image.Image, detection: FaceDetection, spec: AlignmentSpec | None = None
) -> AlignedFace:
    """Cut the aligned crop of one face, the way a model with ``spec`` was trained.

    Args:
        image: RGB PIL photo.
        detection: the face (its five landmarks are used).
        spec: template, crop size and padding (default ``AlignmentSpec()``).

    Returns:
        :class:`AlignedFace` with the ``spec.size²`` crop and both transforms.
    """
    spec = spec or AlignmentSpec()
    matrix = similarity_transform(detection.landmarks, spec.points())
    inverse = invert_affine(matrix)
    return AlignedFace(warp(image, inverse, (spec.size, spec.size)), matrix, inverse)


def align_box(
    image: Image.Image, box: tuple[float, float, float, float], size: int, padding: float = 0.0
) -> AlignedFace:
    """Cut an axis-aligned square crop around a user-given box (pets, or any region without landmarks).

    Args:
        image: RGB PIL photo.
        box: ``(x0, y0, x1, y1)`` in photo pixels.
        size: crop side in pixels.
        padding: margin around the box's enclosing square on each side, as a fraction of it.

    Returns:
        :class:`AlignedFace` whose crop is the square around ``box`` resized to ``size``.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise AgeshiftError(f"box {box} is empty: need x0 < x1 and y0 < y1")
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * padding)
    left, top = (x0 + x1 - side) / 2, (y0 + y1 - side) / 2
    inverse = np.array([[side / size, 0.0, left], [0.0, side / size, top]])
    return AlignedFace(warp(image, inverse, (size, size)), invert_affine(inverse), inverse)
