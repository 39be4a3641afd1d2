"""A history of generated images for the discriminator (Shrivastava et al. 2017, used by CycleGAN).

Showing the discriminator a mix of current and older fakes damps oscillation between the generators and
discriminators. The pool's randomness comes from a passed ``torch.Generator`` and its state is plain
tensors, so a resumed run draws exactly what an uninterrupted run would.
"""

from __future__ import annotations

import torch

from ..errors import AgeshiftError


class ImagePool:
    """Stores up to ``capacity`` generated images and swaps them in and out of each batch.

    Args:
        capacity: number of images kept (50 in CycleGAN); 0 disables the pool (batches pass through).
    """

    def __init__(self, capacity: int = 50) -> None:
        if capacity < 0:
            raise AgeshiftError(f"image pool capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def query(self, fakes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return a batch for the discriminator: each image is either the new fake or an older one.

        While the pool is filling, every new image is stored and returned. Once full, each new image is,
        with probability 1/2, swapped for a random stored one (which is returned instead).

        Args:
            fakes: ``(B, 3, H, W)`` generated images in ``[-1, 1]``; stored detached.
            generator: the source of randomness (a CPU ``torch.Generator``).

        Returns:
            ``(B, 3, H, W)`` detached tensor of the same dtype and device.
        """
        fakes = fakes.detach()
        if self.capacity == 0:
            return fakes
        if self.images and self.images[0].shape != fakes.shape[1:]:
            # A new resolution stage: old fakes no longer fit the discriminator's input.
            self.images.clear()
        chosen = []
        for image in fakes:
            if len(self.images) < self.capacity:
                self.images.append(image.clone())
                chosen.append(image)
                continue
            swap = torch.rand((), generator=generator).item() < 0.5
            if swap:
                slot = int(torch.randint(self.capacity, (), generator=generator).item())
                chosen.append(self.images[slot].clone())
                self.images[slot] = image.clone()
            else:
                chosen.append(image)
        return torch.stack(chosen)

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """The pool's contents as one ``(N, 3, H, W)`` CPU tensor plus its capacity (``weights_only``-safe)."""
        stored = torch.stack(self.images).cpu() if self.images else torch.zeros(0)
        return {"capacity": self.capacity, "images": stored}

    def load_state_dict(
        self, state: dict[str, torch.Tensor | int], device: torch.device | str = "cpu"
    ) -> None:
        """Restore what :meth:`state_dict` returned, onto ``device``."""
        stored = state["images"]
        assert isinstance(stored, torch.Tensor)
        self.capacity = int(state["capacity"])
        self.images = [image.to(device) for image in stored] if stored.numel() else []
