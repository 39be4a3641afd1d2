"""The distillation model: the student U-Net and a PatchGAN critic, trained on the teacher's pairs.

Losses as in FRAN (Zoss et al. 2022): L1 between the student's and the teacher's re-aged faces, a perceptual
feature distance, and a conditional PatchGAN adversarial term.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...image import make_grid
from ..family import Batch, Phase, PhaseOutput, StepContext, TrainingModel
from .config import ReagerConfig
from .networks import AgePatchDiscriminator, ReagerUNet, student_input


def age_maps(ages: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """``(B,)`` years → ``(B, 1, H, W)`` constant maps at ``images``' size."""
    return ages.float().view(-1, 1, 1, 1).expand(-1, 1, *images.shape[-2:])


class ReagerTraining(TrainingModel):
    """Student (and critic when ``adversarial_weight > 0``) of a distillation run.

    Logged terms: ``pixel`` (student vs teacher L1), ``perceptual``, ``adversarial``, ``g_total``, ``d_total``.
    """

    def __init__(self, config: ReagerConfig) -> None:
        super().__init__()
        self.config = config
        self.student = ReagerUNet(config.channels)
        self.discriminator = (
            AgePatchDiscriminator(config.discriminator_channels) if config.adversarial_weight > 0 else None
        )
        # Frozen third-party features stay out of the module tree: neither trained nor checkpointed.
        self._perceptual: list[nn.Module] = []
        if config.perceptual_weight > 0 and config.perceptual != "none":
            from ..superres.perceptual import perceptual_network

            network = perceptual_network(config.perceptual)
            self._perceptual = [network] if network is not None else []

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"student": list(self.student.parameters())}
        if self.discriminator is not None:
            groups["discriminator"] = list(self.discriminator.parameters())
        return groups

    def phases(self) -> list[Phase]:
        phases = [Phase("student", "student")]
        if self.discriminator is not None:
            phases.append(Phase("discriminator", "discriminator"))
        return phases

    def reage(self, batch: Batch) -> torch.Tensor:
        """The student's re-aged faces for a batch (``images``, ``current_age``, ``target_age``)."""
        images = batch["images"]
        current, target = age_maps(batch["current_age"], images), age_maps(batch["target_age"], images)
        return images + self.student(student_input(images, current, target))

    def run_phase(
        self, phase: Phase, batch: Batch, carry: dict[str, Any], context: StepContext
    ) -> PhaseOutput:
        teacher = batch["targets"]
        if phase.name == "discriminator":
            assert self.discriminator is not None
            target = age_maps(batch["target_age"], teacher)
            with context.autocast():
                real = self.discriminator(teacher, target)
                fake = self.discriminator(carry["output"], target)
                loss = 0.5 * (
                    F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake))
                )
            return PhaseOutput(loss, {"d_total": loss.detach()})
        terms: dict[str, torch.Tensor] = {}
        with context.autocast():
            output = self.reage(batch)
            pixel = F.l1_loss(output.float(), teacher)
            loss = self.config.pixel_weight * pixel
            if self._perceptual:
                features = self._perceptual[0].to(teacher.device)
                perceptual = F.mse_loss(features(output), features(teacher))
                loss = loss + self.config.perceptual_weight * perceptual
                terms["perceptual"] = perceptual.detach()
            if self.discriminator is not None:
                logits = self.discriminator(output, age_maps(batch["target_age"], output))
                adversarial = F.mse_loss(logits, torch.ones_like(logits))
                loss = loss + self.config.adversarial_weight * adversarial
                terms["adversarial"] = adversarial.detach()
        terms.update(pixel=pixel.detach(), g_total=loss.detach())
        return PhaseOutput(loss, terms, {"output": output.detach()})

    def sample_grid(self, samples: Batch) -> torch.Tensor:
        """Rows: input faces, the teacher's re-aged faces, the student's."""
        output = self.reage(samples).float().clamp(-1, 1)
        rows = [torch.cat(list(images), dim=-1) for images in (samples["images"], samples["targets"], output)]
        return make_grid([row.cpu() for row in rows])
