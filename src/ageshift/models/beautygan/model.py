"""BeautyGAN during training: the dual generator, a discriminator per domain, and the two phases of a step.

Batches are ``{"source": bare faces, "reference": made-up faces, "source_masks", "reference_masks"}`` (images
``(B, 3, S, S)`` in ``[-1, 1]``, masks ``(B, 3, S, S)`` in :data:`~ageshift.faces.regions.REGIONS` order).
``G(source, reference) = (made_up, removed)``: the source wearing the reference's makeup and the reference
without it. A step is

1. the generator phase: adversarial (each output judged by its domain's critic) + cycle
   (``G(removed, made_up)`` returns ``(reference, source)``) + perceptual (each output keeps its input's
   content) + makeup (histogram matching per region: ``made_up`` against the reference's lips, eye shadow and
   skin, ``removed`` against the bare source's) + an L1 term outside lips and eyes;
2. the discriminator phase: made-up references real against ``made_up``; bare sources real against ``removed``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...image import make_grid
from ...losses import discriminator_loss, generator_loss
from ...nn.layers import init_weights
from ..cyclegan.config import DiscriminatorConfig
from ..family import Batch, Phase, PhaseOutput, StepContext, TrainingModel
from .config import BeautyGANConfig
from .losses import makeup_loss
from .networks import MakeupGenerator, PatchDiscriminator

GAN_LOSS = "lsgan"


class BeautyGAN(TrainingModel):
    """All networks of a makeup-transfer run."""

    def __init__(self, config: BeautyGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = MakeupGenerator(config.channels, config.num_res_blocks, config.norm)
        critic = DiscriminatorConfig(channels=config.disc_channels, num_layers=config.disc_layers)
        self.discriminator_makeup = PatchDiscriminator(critic)
        self.discriminator_bare = PatchDiscriminator(critic)
        init_weights(self)
        # A frozen feature network is not part of the model's weights (not saved, not optimised).
        self._features: list[nn.Module] = []
        if config.perceptual_weight > 0:
            from ..superres.perceptual import perceptual_network

            network = perceptual_network(config.perceptual)
            self._features = [network] if network is not None else []

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "generator": list(self.generator.parameters()),
            "discriminator": [
                *self.discriminator_makeup.parameters(),
                *self.discriminator_bare.parameters(),
            ],
        }

    def phases(self) -> list[Phase]:
        return [Phase("generator", "generator"), Phase("discriminator", "discriminator")]

    def run_phase(
        self, phase: Phase, batch: Batch, carry: dict[str, Any], context: StepContext
    ) -> PhaseOutput:
        source, reference = batch["source"], batch["reference"]
        if phase.name == "generator":
            return self._generator_phase(batch, context)
        with context.autocast():
            d_makeup = discriminator_loss(
                GAN_LOSS, self.discriminator_makeup(reference), self.discriminator_makeup(carry["made_up"])
            )
            d_bare = discriminator_loss(
                GAN_LOSS, self.discriminator_bare(source), self.discriminator_bare(carry["removed"])
            )
        total = d_makeup + d_bare
        terms = {"d_makeup": d_makeup.detach(), "d_bare": d_bare.detach(), "d_total": total.detach()}
        return PhaseOutput(total, terms)

    def _generator_phase(self, batch: Batch, context: StepContext) -> PhaseOutput:
        config = self.config
        source, reference = batch["source"], batch["reference"]
        source_masks, reference_masks = batch["source_masks"], batch["reference_masks"]
        with context.autocast():
            made_up, removed = self.generator(source, reference)
            back_reference, back_source = self.generator(removed, made_up)
            terms = {
                "g_adv_makeup": generator_loss(GAN_LOSS, self.discriminator_makeup(made_up)),
                "g_adv_bare": generator_loss(GAN_LOSS, self.discriminator_bare(removed)),
            }
            terms = {name: value * config.adversarial_weight for name, value in terms.items()}
            terms["cycle"] = config.cycle_weight * (
                (back_source - source).abs().mean() + (back_reference - reference).abs().mean()
            )
        made_up, removed = made_up.float(), removed.float()
        weights = tuple(config.region_weights)
        terms["makeup"] = config.makeup_weight * (
            makeup_loss(made_up, reference.float(), source_masks, reference_masks, weights)
            + makeup_loss(removed, source.float(), reference_masks, source_masks, weights)
        )
        if self._features and config.perceptual_weight > 0:
            features = self._features[0].to(source.device)
            terms["perceptual"] = config.perceptual_weight * (
                F.mse_loss(features(made_up), features(source))
                + F.mse_loss(features(removed), features(reference))
            )
        if config.outside_weight > 0:
            terms["outside"] = config.outside_weight * (
                outside_l1(made_up, source, source_masks) + outside_l1(removed, reference, reference_masks)
            )
        total = torch.stack(list(terms.values())).sum()
        detached = {name: value.detach() for name, value in terms.items()}
        detached["g_total"] = total.detach()
        carry = {"made_up": made_up.detach(), "removed": removed.detach()}
        return PhaseOutput(total, detached, carry)

    @torch.no_grad()
    def sample_grid(self, samples: Batch) -> torch.Tensor:
        """Rows: bare sources, references, sources wearing the makeup, references with it removed."""
        source, reference = samples["source"], samples["reference"]
        count = min(source.shape[0], reference.shape[0])
        source, reference = source[:count], reference[:count]
        made_up, removed = self.generator(source, reference)
        return make_grid([row.float().cpu() for row in (source, reference, made_up, removed)])


def outside_l1(output: torch.Tensor, image: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean absolute change of ``output`` from ``image`` outside lips and eye shadow (masks 0 and 1)."""
    outside = 1.0 - masks[:, :2].amax(1, keepdim=True)
    return ((output - image).abs() * outside).sum() / (3 * outside.sum()).clamp(min=1.0)
