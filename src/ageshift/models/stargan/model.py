"""The conditional (StarGAN-style) training model: ``G(x, c)``, a discriminator with auxiliary heads, two phases.

A step is
1. every ``critic_steps`` steps, the generator phase: target conditions ``c'`` are drawn from the training
   data's own label distribution; ``G(x, c')`` should look real and be classified as ``c'`` by the auxiliary
   heads, and ``G(G(x, c'), c) ≈ x`` (reconstruction, Choi et al. 2018 eq. 4), optionally ``G(x, c) ≈ x``
   (identity) and an age-guidance term from the packaged differentiable age estimator;
2. the discriminator phase: real images are judged real and their labels regressed/classified by the
   auxiliary heads, ``G(x, c')`` is judged fake (WGAN-GP: plus the gradient penalty; LSGAN as an option).
   When the generator phase ran in this step its fakes are reused (one generator pass fewer per step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...image import make_grid
from ...losses import discriminator_loss, generator_loss, gradient_penalty
from ...nn.layers import init_weights
from ..family import Batch, Phase, PhaseOutput, StepContext, TrainingModel
from .config import StarGANConfig
from .networks import ConditionalDiscriminator, ConditionalGenerator


@dataclass(frozen=True)
class ConditionLayout:
    """How labels become the condition vector ``c``: ``[normalised age] + one-hot(attribute)`` per attribute,
    attributes in name order.

    Ages are mapped linearly from ``age_range`` to ``[-1, 1]``; attribute ids index ``attributes[name]``.
    """

    age_range: tuple[float, float] | None
    attributes: dict[str, tuple[str, ...]]

    @classmethod
    def from_config(cls, config: StarGANConfig) -> ConditionLayout:
        age = (float(config.age_range[0]), float(config.age_range[1])) if config.age_range else None
        # Attribute blocks in name order: a config that went through JSON or YAML may list them in another
        # order, and the layout must not depend on that.
        names = sorted(config.attributes)
        return cls(age, {name: tuple(config.attributes[name]) for name in names})

    @property
    def dim(self) -> int:
        return (1 if self.age_range is not None else 0) + sum(len(v) for v in self.attributes.values())

    def normalise_age(self, ages: torch.Tensor) -> torch.Tensor:
        assert self.age_range is not None
        low, high = self.age_range
        return (ages - low) / (high - low) * 2.0 - 1.0

    def years(self, normalised: torch.Tensor) -> torch.Tensor:
        assert self.age_range is not None
        low, high = self.age_range
        return (normalised + 1.0) / 2.0 * (high - low) + low

    def encode(self, labels: Batch, batch_size: int, device: torch.device) -> torch.Tensor:
        """``(B, dim)`` condition vectors from ``{"age": (B,) years, name: (B,) ids}`` (all known)."""
        parts = []
        if self.age_range is not None:
            parts.append(self.normalise_age(labels["age"].to(device).float())[:, None])
        for name, values in self.attributes.items():
            parts.append(F.one_hot(labels[name].to(device).long(), len(values)).float())
        return torch.cat(parts, dim=1) if parts else torch.zeros(batch_size, 0, device=device)

    def split(self, auxiliary: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """The discriminator's auxiliary output as (normalised age ``(B,)`` or None, attribute logits by name)."""
        offset = 0
        age = None
        if self.age_range is not None:
            age, offset = auxiliary[:, 0], 1
        logits = {}
        for name, values in self.attributes.items():
            logits[name] = auxiliary[:, offset : offset + len(values)]
            offset += len(values)
        return age, logits

    def estimate(self, auxiliary: torch.Tensor) -> Batch:
        """Labels read from the auxiliary output: ages in years and the most likely attribute ids."""
        age, logits = self.split(auxiliary)
        labels: Batch = {name: value.argmax(dim=1) for name, value in logits.items()}
        if age is not None:
            labels["age"] = self.years(age.clamp(-1.0, 1.0))
        return labels


class StarGAN(TrainingModel):
    """Generator ``G(x, c)`` and discriminator ``D(x) → (real/fake patches, age, attribute logits)``.

    Batches are ``{"images": (B, 3, H, W) in [-1, 1], "age": (B,) years (NaN unknown), name: (B,) ids (-1)}``.
    """

    def __init__(self, config: StarGANConfig) -> None:
        super().__init__()
        if config.condition_dim == 0:
            raise ConfigError(
                "the conditional model has nothing to condition on: the data has no age and no attributes "
                "(give labels in manifest.csv and dataset.json, or set model.age_range / model.attributes)"
            )
        self.config = config
        self.layout = ConditionLayout.from_config(config)
        self.generator = ConditionalGenerator(config.generator, self.layout.dim)
        self.discriminator = ConditionalDiscriminator(config.discriminator, self.layout.dim)
        # N(0, 0.02) suits the instance-normalised generator; the norm-free discriminator keeps PyTorch's
        # fan-in scaled default, under which its signal (and its age regression) survives all its layers.
        # Not a zero head: at exactly zero change the condition has no gradient path (FiLM and the features only
        # get gradients through the head), and the average change over random target ages is nothing.
        init_weights(self.generator, config.init_gain)
        self._age_judge: nn.Module | None = None

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "generator": list(self.generator.parameters()),
            "discriminator": list(self.discriminator.parameters()),
        }

    def phases(self) -> list[Phase]:
        return [
            Phase("generator", "generator", self.config.critic_steps),
            Phase("discriminator", "discriminator"),
        ]

    def run_phase(
        self, phase: Phase, batch: Batch, carry: dict[str, Any], context: StepContext
    ) -> PhaseOutput:
        if phase.name == "discriminator":
            return self._discriminator_phase(batch, carry, context)
        return self._generator_phase(batch, context)

    def _targets(self, batch_size: int, context: StepContext) -> Batch:
        if context.sample_targets is None:
            raise ConfigError(
                "the conditional model trains on labelled data (it samples target labels from it)"
            )
        return context.sample_targets(batch_size)

    def _auxiliary_losses(self, auxiliary: torch.Tensor, labels: Batch) -> dict[str, torch.Tensor]:
        """Age L1 (normalised) and attribute cross-entropy against known labels (unknown ones are skipped)."""
        age, logits = self.layout.split(auxiliary.float())
        terms = {}
        if age is not None:
            years = labels["age"].to(age.device).float()
            known = ~torch.isnan(years)
            target = self.layout.normalise_age(torch.where(known, years, torch.zeros_like(years)))
            error = (age - target).abs() * known
            terms["age"] = error.sum() / known.sum().clamp(min=1)
        for name, values in logits.items():
            ids = labels[name].to(values.device).long()
            terms[name] = (
                F.cross_entropy(values, ids, ignore_index=-1) if bool((ids >= 0).any()) else values.sum() * 0
            )
        return terms

    def _discriminator_phase(self, batch: Batch, carry: dict[str, Any], context: StepContext) -> PhaseOutput:
        config, real = self.config, batch["images"]
        needs_source = self.discriminator.projection is not None or self.generator.directed
        # The generator phase of this step already encoded the real images' own condition (the
        # discriminator it read unknown labels with has not changed since): reuse it.
        source_condition = carry.get("source_condition")
        if source_condition is None and needs_source:
            source_condition = self._source_condition(batch)
        if "fake" in carry:
            fake, target_condition = carry["fake"], carry["target_condition"]
        else:
            targets = self._targets(real.shape[0], context)
            target_condition = self.layout.encode(targets, real.shape[0], real.device)
            with torch.no_grad(), context.autocast():
                fake = self.generator(real, target_condition, source_condition)
        smooth = config.auxiliary_penalty_weight > 0
        if smooth:
            real = real.detach().requires_grad_(True)
        with context.autocast():
            real_patch, real_aux = self.discriminator(real, source_condition)
            fake_patch, _ = self.discriminator(fake.detach(), target_condition)
        terms: dict[str, torch.Tensor] = {}
        if smooth:
            terms["d_aux_penalty"] = config.auxiliary_penalty_weight * _input_gradient_penalty(
                real_aux, real, context.random
            )
        if config.gan_loss == "wgan-gp":
            terms["d_adv"] = discriminator_loss("wgan", real_patch, fake_patch)
            # The same condition for the real and fake end of every mix: the critic's slope along the line.
            penalty = gradient_penalty(
                lambda x: self.discriminator(x, target_condition)[0], real, fake, context.random
            )
            terms["d_gp"] = config.gradient_penalty_weight * penalty
        else:
            terms["d_adv"] = discriminator_loss("lsgan", real_patch, fake_patch)
        for name, value in self._auxiliary_losses(real_aux, batch).items():
            weight = config.age_weight if name == "age" else config.classification_weight
            terms[f"d_{name}"] = weight * value
        total = torch.stack(list(terms.values())).sum()
        detached = {name: value.detach() for name, value in terms.items()} | {"d_total": total.detach()}
        return PhaseOutput(total, detached)

    def _source_condition(self, batch: Batch) -> torch.Tensor:
        """The real images' own condition; unknown labels are filled with the discriminator's reading."""
        real = batch["images"]
        labels = {name: batch[name] for name in ("age", *self.layout.attributes) if name in batch}
        unknown = [
            name
            for name, value in labels.items()
            if bool((torch.isnan(value) if name == "age" else value < 0).any())
        ]
        if unknown or len(labels) < len(self.layout.attributes) + (self.layout.age_range is not None):
            with torch.no_grad():
                estimate = self.layout.estimate(self.discriminator(real)[1].float())
            for name, value in estimate.items():
                given = labels.get(name)
                if given is None:
                    labels[name] = value
                else:
                    missing = torch.isnan(given) if name == "age" else given < 0
                    labels[name] = torch.where(
                        missing.to(value.device), value.to(given.dtype), given.to(value.device)
                    )
        return self.layout.encode(labels, real.shape[0], real.device)

    def _generator_phase(self, batch: Batch, context: StepContext) -> PhaseOutput:
        config, real = self.config, batch["images"]
        targets = self._targets(real.shape[0], context)
        target_condition = self.layout.encode(targets, real.shape[0], real.device)
        source_condition = self._source_condition(batch)
        with context.autocast():
            fake = self.generator(real, target_condition, source_condition)
            fake_patch, fake_aux = self.discriminator(fake, target_condition)
            # The fake's own condition is the target it was made for.
            reconstructed = self.generator(fake, source_condition, target_condition)
            terms: dict[str, torch.Tensor] = {
                "g_adv": generator_loss("hinge" if config.gan_loss == "wgan-gp" else "lsgan", fake_patch),
                "g_reconstruction": config.reconstruction_weight
                * (reconstructed.float() - real.float()).abs().mean(),
            }
            for name, value in self._auxiliary_losses(fake_aux, targets).items():
                weight = config.age_weight if name == "age" else config.classification_weight
                terms[f"g_{name}"] = config.generator_auxiliary_weight * weight * value
            if config.change_weight > 0:
                # Edit only what the condition needs: hair colour lives in the hair, not on the skin.
                terms["g_change"] = config.change_weight * (fake.float() - real.float()).abs().mean()
            if config.identity_weight > 0:
                same = self.generator(real, source_condition, source_condition)
                terms["g_identity"] = config.identity_weight * (same.float() - real.float()).abs().mean()
        if config.age_guidance_weight > 0 and self.layout.age_range is not None:
            judged = self._judge(real.device)(fake.float())
            terms["g_age_guidance"] = (
                config.age_guidance_weight * ((judged - targets["age"].to(judged)).abs() / 10).mean()
            )
        total = torch.stack([value.float() for value in terms.values()]).sum()
        detached = {name: value.detach() for name, value in terms.items()} | {"g_total": total.detach()}
        carry = {
            "fake": fake.detach(),
            "target_condition": target_condition,
            "source_condition": source_condition,
        }
        return PhaseOutput(total, detached, carry)

    def _judge(self, device: torch.device) -> nn.Module:
        """The packaged differentiable age estimator, frozen, built on first use (not part of the weights)."""
        if self._age_judge is None:
            from ...evaluation.age import TorchAgeEstimator

            self._age_judge = TorchAgeEstimator().eval().requires_grad_(False)
        return self._age_judge.to(device)

    def sample_ages(self, count: int = 5) -> list[float]:
        """Evenly spaced target ages over the model's range (for grids and demos)."""
        if self.layout.age_range is None:
            return []
        low, high = self.layout.age_range
        return [low + (high - low) * i / max(1, count - 1) for i in range(count)]

    @torch.no_grad()
    def sample_grid(self, samples: Batch) -> torch.Tensor:
        """One row per sample: the input, then the same face at evenly spaced ages, then each value of the first
        attribute (the rest of the condition is the face's own, as read by the discriminator)."""
        real = samples["images"]
        count = real.shape[0]
        own = self.layout.estimate(self.discriminator(real)[1].float())
        source = self.layout.encode(own, count, real.device)
        columns = [real]
        for age in self.sample_ages(5):
            labels = own | {"age": torch.full((count,), age, device=real.device)}
            columns.append(self.generator(real, self.layout.encode(labels, count, real.device), source))
        for name, values in list(self.layout.attributes.items())[:1]:
            for index in range(len(values)):
                labels = own | {name: torch.full((count,), index, device=real.device, dtype=torch.long)}
                columns.append(self.generator(real, self.layout.encode(labels, count, real.device), source))
        rows = [torch.stack([column[i] for column in columns]) for i in range(count)]
        return make_grid([row.float().cpu() for row in rows])


def _input_gradient_penalty(
    outputs: torch.Tensor, inputs: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """``E ||∇_x (v · f(x))||²`` for a random direction ``v`` per image: a one-sample estimate of the squared
    Frobenius norm of the auxiliary head's input Jacobian (Hutchinson's trick).

    Why: the generator learns to reach a target age through the auxiliary head's gradients. Without this,
    a residual generator finds small perturbations that move the head's reading (an adversarial example)
    instead of greying hair and drawing lines; a head whose reading cannot change much under a small
    change of the pixels leaves the generator only the real edit.
    """
    directions = torch.randn(outputs.shape, generator=generator).to(outputs.device, outputs.dtype)
    (gradients,) = torch.autograd.grad((outputs * directions).sum(), inputs, create_graph=True)
    return gradients.float().flatten(1).square().sum(dim=1).mean()
