"""The one image convention of ageshift, and the only place that converts to and from it.

Inside the library an image batch is a ``torch.Tensor`` of shape ``(B, 3, H, W)``, RGB, float32,
values in ``[-1, 1]``. A single image is ``(3, H, W)`` with the same range. PIL images and uint8
arrays are converted here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import AgeshiftError


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """Convert an RGB PIL image to a tensor.

    Args:
        image: a PIL image; converted to RGB if it is in another mode.

    Returns:
        ``(3, H, W)`` float32 RGB tensor in ``[-1, 1]``.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    array = np.asarray(image, dtype=np.uint8)
    return uint8_to_tensor(array)


def uint8_to_tensor(array: np.ndarray) -> torch.Tensor:
    """Convert an ``(H, W, 3)`` uint8 RGB array to a ``(3, H, W)`` float32 tensor in ``[-1, 1]``."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise AgeshiftError(f"expected an (H, W, 3) uint8 RGB array, got {array.dtype} {tuple(array.shape)}")
    tensor = torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1).float()
    return tensor.div_(127.5).sub_(1.0)


def tensor_to_uint8(image: torch.Tensor) -> np.ndarray:
    """Convert a ``(3, H, W)`` tensor in ``[-1, 1]`` to an ``(H, W, 3)`` uint8 RGB array (rounded, clipped)."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise AgeshiftError(f"expected a (3, H, W) image tensor, got shape {tuple(image.shape)}")
    scaled = (image.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5
    return scaled.round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """Convert a ``(3, H, W)`` tensor in ``[-1, 1]`` to an RGB PIL image."""
    return Image.fromarray(tensor_to_uint8(image))


def check_batch(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Validate that ``images`` follows the convention: ``(B, 3, H, W)`` floating point.

    Args:
        images: the tensor to check.
        name: how to call it in the error message.

    Returns:
        The same tensor, for chaining.
    """
    if not isinstance(images, torch.Tensor):
        raise AgeshiftError(
            f"{name} must be a torch.Tensor of shape (B, 3, H, W), got {type(images).__name__}"
        )
    if images.ndim != 4 or images.shape[1] != 3:
        raise AgeshiftError(
            f"{name} must have shape (B, 3, H, W) with RGB channels, got {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise AgeshiftError(f"{name} must be floating point in [-1, 1], got dtype {images.dtype}")
    return images


def resize(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a batch with antialiased bilinear filtering (area-correct when shrinking).

    Args:
        images: ``(B, 3, H, W)`` in ``[-1, 1]``.
        size: target side, or ``(height, width)``.

    Returns:
        ``(B, 3, size_h, size_w)``; the input itself when it already has that size.
    """
    height, width = (size, size) if isinstance(size, int) else size
    if images.shape[-2:] == (height, width):
        return images
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def resize_pil(image: Image.Image, size: int) -> Image.Image:
    """Resize a square-cropped PIL image to ``size × size`` with Lanczos filtering; no-op when already there."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.LANCZOS)


def center_crop_square(image: Image.Image) -> Image.Image:
    """Crop the largest centred square from a PIL image."""
    width, height = image.size
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def make_grid(rows: Sequence[torch.Tensor], padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """Tile batches into one image: each tensor in ``rows`` is one row of the grid.

    Args:
        rows: tensors of shape ``(N, 3, H, W)`` in ``[-1, 1]``, all with the same ``H``, ``W``.
            Rows with fewer than the largest ``N`` are padded with ``pad_value``.
        padding: pixels between tiles.
        pad_value: fill value in ``[-1, 1]`` (1.0 is white).

    Returns:
        ``(3, rows * (H + p) + p, N * (W + p) + p)`` tensor in ``[-1, 1]``.
    """
    if not rows:
        raise AgeshiftError("make_grid needs at least one row")
    height, width = rows[0].shape[-2:]
    columns = max(row.shape[0] for row in rows)
    grid = torch.full(
        (3, len(rows) * (height + padding) + padding, columns * (width + padding) + padding), pad_value
    )
    for r, row in enumerate(rows):
        if row.shape[-2:] != (height, width):
            raise AgeshiftError(f"make_grid rows must share one tile size, got {tuple(row.shape[-2:])}")
        for c in range(row.shape[0]):
            top = padding + r * (height + padding)
            left = padding + c * (width + padding)
            grid[:, top : top + height, left : left + width] = row[c].detach().float().cpu()
    return grid
