"""The super-resolution training model: SRResNet pre-training (L1/MSE) and SRGAN fine-tuning (perceptual +
adversarial), as phases of the shared trainer."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...evaluation.image_metrics import psnr, ssim
from ...image import make_grid
from ..family import Batch, Phase, PhaseOutput, StepContext, TrainingModel
from .config import SuperResConfig
from .data import degrade
from .networks import Discriminator
from .perceptual import FrozenFeatures, perceptual_network
from .resolver import build_generator


class SuperResTraining(TrainingModel):
    """Generator (and discriminator when ``adversarial_weight > 0``) of a super-resolution run.

    Each batch holds high-resolution crops (``images``); their low-resolution inputs are made on the fly by
    :func:`~ageshift.models.superres.data.degrade` with the trainer's generator. Logged terms: ``pixel``,
    ``psnr`` (training batch), ``val_psnr``/``val_ssim`` (held-out crops, plain bicubic inputs, eval mode),
    ``perceptual``, ``adversarial``, ``g_total``, ``d_total``.
    """

    def __init__(self, config: SuperResConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = build_generator(config)
        self.discriminator = (
            Discriminator(config.discriminator_channels) if config.adversarial_weight > 0 else None
        )
        # Kept out of the module tree: frozen third-party weights are neither trained nor checkpointed.
        self._perceptual: list[FrozenFeatures] = []
        if config.perceptual_weight > 0:
            network = perceptual_network(config.perceptual)
            self._perceptual = [network] if network is not None else []

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"generator": list(self.generator.parameters())}
        if self.discriminator is not None:
            groups["discriminator"] = list(self.discriminator.parameters())
        return groups

    def phases(self) -> list[Phase]:
        phases = [Phase("generator", "generator")]
        if self.discriminator is not None:
            phases.append(Phase("discriminator", "discriminator"))
        return phases

    def _pixel_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.config.pixel_loss == "mse":
            return F.mse_loss(output, target)
        return F.l1_loss(output, target)

    def run_phase(
        self, phase: Phase, batch: Batch, carry: dict[str, Any], context: StepContext
    ) -> PhaseOutput:
        high = batch["images"]
        if phase.name == "discriminator":
            assert self.discriminator is not None
            with context.autocast():
                real, fake = self.discriminator(high), self.discriminator(carry["output"])
                loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                loss = loss + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            return PhaseOutput(loss, {"d_total": loss.detach()})
        low = degrade(high, self.config.scale, self.config.degradation, context.random)
        terms: dict[str, torch.Tensor] = {}
        with context.autocast():
            output = self.generator(low)
            pixel = self._pixel_loss(output.float(), high)
            loss = pixel
            if self._perceptual:
                features = self._perceptual[0].to(high.device)
                perceptual = F.mse_loss(features(output), features(high))
                loss = loss + self.config.perceptual_weight * perceptual
                terms["perceptual"] = perceptual.detach()
            if self.discriminator is not None:
                logits = self.discriminator(output)
                adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                loss = loss + self.config.adversarial_weight * adversarial
                terms["adversarial"] = adversarial.detach()
        terms.update(pixel=pixel.detach(), g_total=loss.detach())
        terms["psnr"] = psnr(output.detach().float().clamp(-1, 1), high).mean().float()
        if "validation" in batch:
            terms.update(self.validation_metrics(batch["validation"][0]))
        return PhaseOutput(loss, terms, {"output": output.detach()})

    @torch.no_grad()
    def validation_metrics(self, high: torch.Tensor) -> dict[str, torch.Tensor]:
        """``val_psnr``, ``val_ssim`` (and ``val_bicubic_psnr``) of held-out ``(B, 3, H, W)`` crops, eval mode."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            low = degrade(high, self.config.scale, None)
            output = self.generator(low).float().clamp(-1, 1)
        finally:
            self.generator.train(was_training)
        bicubic = F.interpolate(low, size=high.shape[-2:], mode="bicubic").clamp(-1, 1)
        metrics = {"val_psnr": psnr(output, high).mean(), "val_bicubic_psnr": psnr(bicubic, high).mean()}
        if min(high.shape[-2:]) >= 11:
            metrics["val_ssim"] = ssim(output, high).mean()
        return {name: value.float() for name, value in metrics.items()}

    def sample_grid(self, samples: Batch) -> torch.Tensor:
        high = samples["images"]
        low = degrade(high, self.config.scale, None)
        output = self.generator(low).float().clamp(-1, 1)
        nearest = F.interpolate(low, size=high.shape[-2:], mode="nearest")
        bicubic = F.interpolate(low, size=high.shape[-2:], mode="bicubic").clamp(-1, 1)
        rows = [torch.cat(list(images), dim=-1) for images in (nearest, bicubic, output, high)]
        return make_grid([row.cpu() for row in rows])
