"""A latent generator walking its age direction as the student's teacher: FRAN's own set-up, where every training
pair is a generated face and the same face re-rendered older or younger.

Each batch samples latents with the trainer's generator, renders them (the inputs), reads their age with the
student's age estimator, and moves each latent along the age direction by ``(target − current) / years per unit
strength`` (clamped to ``max_strength``, so no latent leaves the region the generator was trained on) to render the
targets. The target age the student is told is the age that clamped step aims at, so pairs never claim more
change than the teacher made. The faces come from the generator, so no face folder is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...image import resize
from .config import ReagerConfig

#: Teachers that are latent generators: the packaged DCGAN, or an exported ``stylegan`` model folder.
LATENT_FAMILIES = ("stylegan",)


def is_latent_teacher(teacher: str) -> bool:
    """Whether ``teacher`` names a latent generator (``dcgan`` or a ``stylegan`` model folder)."""
    import json
    from pathlib import Path

    from ...latent.sources import PACKAGED

    if str(teacher) == PACKAGED:
        return True
    try:
        document = json.loads((Path(teacher) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get("family") in LATENT_FAMILIES


class LatentTeacher:
    """Makes ``(face, re-aged face)`` pairs from a latent generator and its age direction.

    Args:
        config: the student's config (``teacher``: ``dcgan`` or a stylegan folder; ``teacher_direction``: a
            direction folder or ``age``; ``age_range``, ``age_estimator``, ``identity_fraction``,
            ``max_strength``).
    """

    kind = "latent"

    def __init__(self, config: ReagerConfig, progress: bool = True) -> None:
        from ...latent.dataset import years_per_strength
        from ...latent.sources import load_generator, resolve_direction

        self.config = config
        self.generator = load_generator(config.teacher)
        self.direction = resolve_direction(config.teacher_direction or "age", self.generator, progress)
        slope = years_per_strength(self.direction)
        assert slope is not None
        self.years_per_strength = slope
        self.family = "stylegan" if str(config.teacher) != "dcgan" else "dcgan"
        self._score = _age_reader(config.age_estimator)

    def current_ages(self, images: torch.Tensor) -> torch.Tensor:
        """``(B,)`` ages in years of generated faces, read by the student's age estimator."""
        return self._score(images)

    @torch.inference_mode()
    def sample(self, count: int, size: int, random: torch.Generator) -> dict[str, torch.Tensor]:
        """``count`` generated pairs at ``size²``: ``images``, ``targets``, ``current_age``, ``target_age``."""
        latents = self.generator.sample_latents(count, random)
        low, high = self.config.age_range
        wanted = low + (high - low) * torch.rand(count, generator=random)
        identity = torch.rand(count, generator=random) < self.config.identity_fraction
        return self.pairs_at(latents, wanted, size, identity)

    @torch.inference_mode()
    def pairs_at(
        self,
        latents: torch.Tensor,
        target_age: torch.Tensor,
        size: int,
        identity: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Pairs for given latents ``(B, latent_dim)`` aimed at ``target_age`` ``(B,)`` years (``identity``: a
        ``(B,)`` mask of pairs kept unchanged)."""
        images = self._render(latents, size)
        current = self.current_ages(images)
        limit = self.config.max_strength
        strength = ((target_age - current) / self.years_per_strength).clamp(-limit, limit)
        if identity is not None:
            strength = torch.where(identity, torch.zeros_like(strength), strength)
        targets = self._render(self.direction.apply(latents, strength), size)
        if identity is not None:
            targets[identity] = images[identity]  # exactly the input: a zero age difference is the identity
        aimed = (current + strength * self.years_per_strength).clamp(0.0, 150.0)
        return {"images": images, "targets": targets, "current_age": current, "target_age": aimed}

    def _render(self, latents: torch.Tensor, size: int) -> torch.Tensor:
        images = self.generator.synthesize(latents).float().clamp(-1, 1)
        return resize(images, size) if images.shape[-1] != size else images

    def describe(self) -> dict[str, Any]:
        """For the run's log and the model card."""
        return {
            "model": str(self.config.teacher),
            "family": self.family,
            "kind": self.kind,
            "direction": self.config.teacher_direction or "age",
            "years_per_strength": round(self.years_per_strength, 3),
            "max_strength": self.config.max_strength,
        }


def _age_reader(spec: str) -> Any:
    """Ages of generated faces: the packaged estimator scores the crops as the direction was labelled (no face
    detection: a generated face is already a crop); any other estimator reads them as the student would."""
    if spec == "packaged":
        from ...latent.scoring import packaged_age_function

        score = packaged_age_function()
        return lambda images: torch.as_tensor(np.asarray(score(images), np.float32))
    from .translator import estimate_ages

    return lambda images: estimate_ages(images, spec)
