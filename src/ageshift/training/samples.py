"""Sample grids written during training (each family draws its own grid; this writes it)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..image import tensor_to_pil, tensor_to_uint8
from ..io import save_image


def write_sample_grid(grid: torch.Tensor, path: Path) -> torch.Tensor:
    """Save a ``(3, H, W)`` grid in ``[-1, 1]`` as PNG; returns it as a ``(3, H, W)`` uint8 tensor for TensorBoard."""
    save_image(tensor_to_pil(grid), path)
    return torch.from_numpy(tensor_to_uint8(grid)).permute(2, 0, 1)
