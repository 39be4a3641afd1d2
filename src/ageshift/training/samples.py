"""Sample grids written during training: input | translated | reconstructed, for both directions."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from ..data import DomainImages, square_resize
from ..errors import ImageLoadError
from ..image import make_grid, tensor_to_pil, tensor_to_uint8, uint8_to_tensor
from ..io import list_images, load_image, save_image
from ..models.cyclegan import CycleGAN


def load_held_out(folder: Path, count: int, size: int) -> torch.Tensor | None:
    """The first ``count`` readable images of ``folder`` as a batch, or None when it has none.

    Args:
        folder: a held-out folder such as ``DATA/testA``.
        count: how many images.
        size: square side.

    Returns:
        ``(N, 3, size, size)`` in ``[-1, 1]`` with ``N <= count``, or None.
    """
    if not folder.is_dir():
        return None
    images = []
    for path in list_images(folder):
        with contextlib.suppress(ImageLoadError):
            images.append(uint8_to_tensor(square_resize(load_image(path), size)))
        if len(images) == count:
            break
    return torch.stack(images) if images else None


def sample_batches(
    held_out: dict[str, Path | None], training: dict[str, DomainImages], count: int, size: int
) -> dict[str, torch.Tensor]:
    """Fixed images per domain for sample grids: the held-out folder's, else the first training images."""
    batches = {}
    for name, domain in training.items():
        folder = held_out.get(name)
        batch = load_held_out(folder, count, size) if folder is not None else None
        if batch is None:
            batch = domain.load(range(min(count, len(domain))))
        batches[name] = batch
    return batches


@torch.no_grad()
def translation_grid(
    model: CycleGAN, young: torch.Tensor, old: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """Rows: young inputs, made older, back to young; old inputs, made younger, back to old.

    Args:
        model: the CycleGAN (put in eval mode here and back in train mode after).
        young: ``(N, 3, H, W)`` domain-A images in ``[-1, 1]``.
        old: ``(M, 3, H, W)`` domain-B images in ``[-1, 1]``.
        device: the model's device.

    Returns:
        ``(3, rows, cols)`` grid tensor in ``[-1, 1]`` on the CPU.
    """
    was_training = model.training
    model.eval()
    try:
        young, old = young.to(device), old.to(device)
        made_older = model.generator_older(young)
        made_younger = model.generator_younger(old)
        rows = [
            young,
            made_older,
            model.generator_younger(made_older),
            old,
            made_younger,
            model.generator_older(made_younger),
        ]
    finally:
        model.train(was_training)
    return make_grid([row.float().cpu() for row in rows])


def write_sample_grid(grid: torch.Tensor, path: Path) -> torch.Tensor:
    """Save the grid as PNG; returns it as a ``(3, H, W)`` uint8 tensor for TensorBoard."""
    save_image(tensor_to_pil(grid), path)
    return torch.from_numpy(tensor_to_uint8(grid)).permute(2, 0, 1)
