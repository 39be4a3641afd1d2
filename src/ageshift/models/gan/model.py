"""The teaching GAN during training: a generator ``G``, a discriminator ``D`` and the two phases of a step.

The objective (Goodfellow et al. 2014) is a game: ``D`` learns to tell real images from ``G``'s, and ``G``
learns to fool it. With ``D`` returning a logit ``d`` and ``σ`` the sigmoid, a step is

1. the discriminator phase: minimise ``-log σ(D(x)) - log(1 - σ(D(G(z))))`` over ``D`` (binary cross-entropy:
   real images are labelled 1, generated ones 0);
2. the generator phase: minimise ``-log σ(D(G(z)))`` over ``G``, the "non-saturating" loss. The minimax form
   ``log(1 - σ(D(G(z))))`` has almost no gradient early on, when ``D`` rejects every fake with confidence;
   this one has the same fixed point and a strong gradient exactly then.

A conditional GAN (``cgan``, Mirza & Osindero 2014) gives both networks the class ``y`` as well: ``G(z, y)``
and ``D(x, y)``. ``D`` then judges "a real *7*", so ``G`` has to draw the digit it was asked for.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...image import make_grid
from ...nn.layers import init_weights
from ..family import Batch, Phase, PhaseOutput, StepContext, TrainingModel
from .config import GANConfig
from .networks import build_networks

#: Columns of the sample grid: the fixed noise vectors drawn for every grid.
GRID_COLUMNS = 10


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(-log σ(real) - log(1 - σ(fake)))``: binary cross-entropy with real → 1, fake → 0.

    Args:
        real_logits: ``(B,)`` discriminator logits on real images.
        fake_logits: ``(B,)`` logits on generated images.

    Returns:
        The scalar loss (``BCEWithLogits`` computes ``log σ`` stably, never ``log(0)``).
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss ``mean(-log σ(fake))``: generated images should be judged real.

    Args:
        fake_logits: ``(B,)`` discriminator logits on generated images.

    Returns:
        The scalar loss.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class GAN(TrainingModel):
    """Generator and discriminator of the ``gan`` and ``cgan`` families, with their two phases.

    Batches are ``{"images": (B, 3, H, W) in [-1, 1], <label column>: (B,) class ids}`` (labelled data).
    """

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        self.num_classes = len(config.classes)
        self.generator, self.discriminator = build_networks(config)
        # DCGAN's initialisation, N(0, 0.02), for both networks.
        init_weights(self.generator)
        init_weights(self.discriminator)

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "generator": list(self.generator.parameters()),
            "discriminator": list(self.discriminator.parameters()),
        }

    def phases(self) -> list[Phase]:
        return [Phase("discriminator", "discriminator"), Phase("generator", "generator")]

    def run_phase(
        self, phase: Phase, batch: Batch, carry: dict[str, Any], context: StepContext
    ) -> PhaseOutput:
        real, real_labels = self._real(batch)
        count = real.shape[0]
        noise = torch.randn(count, self.config.latent_dim, generator=context.random).to(real.device)
        labels = self._fake_labels(count, context, real.device)
        with context.autocast():
            if phase.name == "discriminator":
                fake = self.generator(noise, labels).detach()
                real_logits = self.discriminator(real, real_labels).float()
                fake_logits = self.discriminator(fake, labels).float()
                loss = discriminator_loss(real_logits, fake_logits)
                terms = {
                    "d_total": loss.detach(),
                    # How sure D is: the mean probability it gives real and generated images.
                    "d_real": torch.sigmoid(real_logits).mean().detach(),
                    "d_fake": torch.sigmoid(fake_logits).mean().detach(),
                }
                return PhaseOutput(loss, terms)
            loss = generator_loss(self.discriminator(self.generator(noise, labels), labels).float())
        return PhaseOutput(loss, {"g_total": loss.detach()})

    def _real(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batch's images in the networks' channels, and their class ids (conditional models)."""
        images = batch["images"]
        if self.config.image_channels == 1:
            images = images.mean(dim=1, keepdim=True)
        if not self.num_classes:
            return images, None
        assert self.config.label is not None
        labels = batch[self.config.label]
        known = labels >= 0  # images whose label is missing in manifest.csv cannot teach the label
        return images[known], labels[known]

    def _fake_labels(self, count: int, context: StepContext, device: torch.device) -> torch.Tensor | None:
        """Classes to draw, from the training data's own label distribution (conditional models)."""
        if not self.num_classes:
            return None
        assert context.sample_targets is not None and self.config.label is not None
        return context.sample_targets(count)[self.config.label].to(device)

    def sample_noise(self, count: int) -> torch.Tensor:
        """The fixed noise of the sample grids: ``(count, latent_dim)``, the same at every step and on resume."""
        return torch.randn(
            count, self.config.latent_dim, generator=torch.Generator().manual_seed(self.config.sample_seed)
        )

    @torch.no_grad()
    def sample_grid(self, samples: Batch) -> torch.Tensor:
        """Images from fixed noise: one row per class (the same noise in each column) or a 10×10 grid."""
        device = next(self.generator.parameters()).device
        rows = self.num_classes or GRID_COLUMNS
        noise = self.sample_noise(rows * GRID_COLUMNS).view(rows, GRID_COLUMNS, -1).to(device)
        drawn = []
        for row in range(rows):
            if self.num_classes:  # the same noise in every row: only the class changes down a column
                labels = torch.full((GRID_COLUMNS,), row, dtype=torch.long, device=device)
                images = self.generator(noise[0], labels)
            else:
                images = self.generator(noise[row])
            drawn.append(images.float().expand(-1, 3, -1, -1))
        # Tiny digits are shown at least 32 pixels wide (nearest neighbour: every pixel stays visible).
        scale = max(1, 32 // self.config.image_size)
        return make_grid(
            [F.interpolate(images, scale_factor=scale, mode="nearest").cpu() for images in drawn]
        )
