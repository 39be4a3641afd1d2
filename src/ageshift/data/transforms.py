"""Image transforms for training: square crop + resize of decoded images, and batched horizontal flips."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..image import center_crop_square, resize_pil


def square_resize(image: Image.Image, size: int) -> np.ndarray:
    """Crop the largest centred square and resize it to ``size × size``.

    Args:
        image: an RGB PIL image of any size.
        size: output side in pixels.

    Returns:
        ``(size, size, 3)`` uint8 RGB array.
    """
    return np.asarray(resize_pil(center_crop_square(image), size), dtype=np.uint8)


def flip_horizontally(images: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images selected by ``flip`` left to right.

    Args:
        images: ``(B, 3, H, W)`` RGB in ``[-1, 1]``.
        flip: ``(B,)`` bool, which images to mirror.

    Returns:
        ``(B, 3, H, W)``; the input itself when nothing is flipped.
    """
    if not bool(flip.any()):
        return images
    mask = flip.to(images.device).view(-1, 1, 1, 1)
    return torch.where(mask, images.flip(-1), images)


def random_flip_mask(batch_size: int, generator: torch.Generator, probability: float = 0.5) -> torch.Tensor:
    """Draw which images of a batch to mirror.

    Args:
        batch_size: number of images.
        generator: CPU ``torch.Generator`` owned by the trainer (so resume replays the same flips).
        probability: chance of mirroring each image; 0 disables the augmentation without using randomness.

    Returns:
        ``(batch_size,)`` bool tensor.
    """
    if probability <= 0:
        return torch.zeros(batch_size, dtype=torch.bool)
    return torch.rand(batch_size, generator=generator) < probability
