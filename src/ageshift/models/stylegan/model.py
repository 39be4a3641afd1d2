"""StyleGAN2-ADA during training: generator, discriminator, EMA generator, ADA, and the phases of a step.

The phases, in order (the trainer runs each on the steps it is due, every ``every`` steps):

1. ``generator``: non-saturating loss ``softplus(-D(A(G(z))))`` with style mixing (``A``: ADA's augment);
2. ``path_length`` (optional, every 4): ``(|J_wᵀ y| - a)²`` with ``y`` random image-space noise and ``a``
   the running mean of the lengths, which makes a fixed step in W a fixed change of image;
3. ``discriminator``: ``softplus(D(A(G(z)))) + softplus(-D(A(x)))``; it also feeds ADA's ``r_t``;
4. ``r1`` (lazy, every 16): ``γ/2 · |∇ₓ D(A(x))|²`` on real images, scaled by the interval so that
   regularising every 16th step weighs as much as every step would (Karras et al. 2020, §B "lazy").

After the phases, :meth:`end_step` updates the EMA generator and, every ``ada_interval`` steps, ``p``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...image import make_grid
from ..family import Batch, Phase, PhaseOutput, StepContext, TrainingModel
from .augment import AdaptiveAugment
from .config import StyleGANConfig
from .networks import Discriminator, Generator, mix_styles

GRID_SIDE = 8


def r1_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """Per-sample ``|∇ₓ D(x)|²`` at the real images ``x`` (Mescheder et al. 2018), differentiable in ``D``.

    Args:
        discriminator: maps ``(B, 3, H, W)`` to ``(B,)`` logits.
        real: ``(B, 3, H, W)`` images.

    Returns:
        ``(B,)`` squared gradient norms.
    """
    real = real.detach().requires_grad_(True)
    logits = discriminator(real)
    (gradient,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return gradient.square().sum(dim=(1, 2, 3))


class StyleGAN(TrainingModel):
    """All networks of a StyleGAN2-ADA run. Batches are ``{"images": (B, 3, S, S) in [-1, 1]}``."""

    path_length_mean: torch.Tensor

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)
        self.generator_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.augment = AdaptiveAugment(
            config.augment, config.augment_p, config.ada_target, config.ada_interval, config.ada_speed_images
        )
        self.register_buffer("path_length_mean", torch.zeros(()))
        # Images per step, for the EMA half-life: set by each step's generator phase, used in end_step.
        self._batch_images = 0

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "generator": list(self.generator.parameters()),
            "discriminator": list(self.discriminator.parameters()),
        }

    def optimizer_ratios(self) -> dict[str, float]:
        config = self.config
        ratios = {}
        if config.r1_gamma > 0 and config.r1_every > 1:
            ratios["discriminator"] = config.r1_every / (config.r1_every + 1)
        if config.path_length_weight > 0 and config.path_length_every > 1:
            ratios["generator"] = config.path_length_every / (config.path_length_every + 1)
        return ratios

    def phases(self) -> list[Phase]:
        config = self.config
        phases = [Phase("generator", "generator")]
        if config.path_length_weight > 0:
            phases.append(Phase("path_length", "generator", every=config.path_length_every))
        phases.append(Phase("discriminator", "discriminator"))
        if config.r1_gamma > 0:
            phases.append(Phase("r1", "discriminator", every=config.r1_every))
        return phases

    def _latents(self, count: int, context: StepContext, device: torch.device) -> torch.Tensor:
        """``ws`` for ``count`` fakes: with probability ``style_mixing`` two ``z`` crossed at a random layer."""
        z = torch.randn(count, self.config.latent_dim, generator=context.random).to(device)
        other = torch.randn(count, self.config.latent_dim, generator=context.random).to(device)
        num_ws = self.config.num_ws
        cutoffs = torch.randint(1, num_ws, (count,), generator=context.random)
        mixed = torch.rand(count, generator=context.random) < self.config.style_mixing
        cutoffs = torch.where(mixed, cutoffs, torch.full_like(cutoffs, num_ws))
        return mix_styles(self.generator.mapping, z, other, cutoffs)

    def run_phase(
        self, phase: Phase, batch: Batch, carry: dict[str, Any], context: StepContext
    ) -> PhaseOutput:
        real = batch["images"]
        count, device = real.shape[0], real.device
        config = self.config
        if phase.name == "r1":
            penalty = r1_penalty(lambda x: self.discriminator(self.augment(x)).float(), real)
            loss = penalty.mean() * (config.r1_gamma / 2) * phase.every
            return PhaseOutput(loss, {"r1_penalty": penalty.mean().detach()})
        if phase.name == "path_length":
            return self._path_length(max(1, count // 2), context, device, phase.every)
        ws = self._latents(count, context, device)
        with context.autocast():
            if phase.name == "generator":
                self._batch_images = count
                self.generator.mapping.track_w_avg(ws)
                fake_logits = self.discriminator(self.augment(self.generator.synthesis(ws))).float()
                loss = F.softplus(-fake_logits).mean()
                return PhaseOutput(loss, {"g_total": loss.detach()})
            with torch.no_grad():
                fake = self.generator.synthesis(ws)
            fake_logits = self.discriminator(self.augment(fake)).float()
            real_logits = self.discriminator(self.augment(real)).float()
        self.augment.observe(real_logits)
        loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        terms = {
            "d_total": loss.detach(),
            "d_real": torch.sigmoid(real_logits).mean().detach(),
            "d_fake": torch.sigmoid(fake_logits).mean().detach(),
            "ada_p": self.augment.p.detach().float(),
            "ada_r_t": self.augment.last_r_t.detach().float(),
        }
        return PhaseOutput(loss, terms)

    def _path_length(self, count: int, context: StepContext, device: torch.device, every: int) -> PhaseOutput:
        ws = self._latents(count, context, device).detach().requires_grad_(True)
        images = self.generator.synthesis(ws)
        side = images.shape[-1]
        noise = torch.randn(images.shape, generator=context.random).to(device) / side
        (gradient,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = gradient.square().sum(dim=2).mean(dim=1).sqrt()
        with torch.no_grad():
            self.path_length_mean.copy_(
                self.path_length_mean.lerp(lengths.mean(), self.config.path_length_decay)
            )
        penalty = (lengths - self.path_length_mean).square().mean()
        loss = penalty * self.config.path_length_weight * every
        return PhaseOutput(loss, {"path_length": lengths.mean().detach()})

    @torch.no_grad()
    def end_step(self, context: StepContext) -> None:
        half_life = self.config.ema_half_life_images
        if self.config.ema_rampup > 0:
            seen = (context.step + 1) * self._batch_images
            half_life = min(half_life, seen * self.config.ema_rampup)
        beta = ema_beta(self._batch_images, half_life)
        for ema, live in zip(self.generator_ema.parameters(), self.generator.parameters(), strict=True):
            ema.copy_(live.detach().lerp(ema, beta))
        for ema_buffer, buffer in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
            ema_buffer.copy_(buffer)
        self.augment.update(context.step)

    def sample_latents(self, count: int) -> torch.Tensor:
        """The fixed ``z`` of the sample grids, the same at every step and on resume."""
        return torch.randn(
            count, self.config.latent_dim, generator=torch.Generator().manual_seed(self.config.sample_seed)
        )

    @torch.no_grad()
    def realism_samples(self, count: int, random: torch.Generator) -> torch.Tensor:
        """``count`` images of the EMA generator (random noise maps, no truncation) for FID/KID in training."""
        device = next(self.generator_ema.parameters()).device
        batches = []
        for start in range(0, count, 64):
            z = torch.randn(min(64, count - start), self.config.latent_dim, generator=random)
            batches.append(self.generator_ema(z.to(device), noise="random").float().clamp(-1, 1).cpu())
        return torch.cat(batches)

    @torch.no_grad()
    def sample_grid(self, samples: Batch) -> torch.Tensor:
        """An 8×8 grid of the EMA generator's images of fixed latents, with the fixed noise maps."""
        device = next(self.generator_ema.parameters()).device
        z = self.sample_latents(GRID_SIDE * GRID_SIDE).to(device)
        images = self.generator_ema(z, noise="const").float().clamp(-1, 1).cpu()
        scale = max(1, 64 // self.config.image_size)
        if scale > 1:
            images = F.interpolate(images, scale_factor=scale, mode="nearest")
        return make_grid(list(images.split(GRID_SIDE)))


def ema_beta(batch: int, half_life_images: float) -> float:
    """The EMA decay per step whose half-life is ``half_life_images`` images."""
    return math.pow(0.5, batch / half_life_images) if half_life_images > 0 else 0.0
