"""The re-aging student (FRAN-style U-Net): configuration and presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...config import MAX_IMAGE_SIZE, validate_fields, within
from ...errors import ConfigError


@dataclass
class ReagerConfig:
    """Everything that defines a re-aging student and its distillation.

    The network reads RGB + a current-age map + a target-age map (ages / 100) and predicts an RGB change that is
    added to the input (Zoss et al. 2022, "Production-Ready Face Re-Aging for Visual Effects", FRAN).

    Attributes:
        channels: feature channels per U-Net level (each level below the first halves the resolution with an
            anti-aliased blur pool).
        image_size: the side the change is predicted at (set from the last training stage).
        age_range: ``[min, max]`` target ages the student accepts (the ages it was distilled over).
        teacher: the model folder that makes the training pairs (a conditional model, or a two-domain model).
        domain_ages: for a two-domain teacher: the ages its two domains stand for ``[young, old]``.
        age_estimator: how a face's current age is read when the caller gives none (``cue`` for the synthetic
            faces, ``packaged`` for photos, or a ``train-age-estimator`` folder); for a two-domain teacher it also
            decides which direction a training face goes.
        identity_fraction: share of training pairs whose target is the face's own age (output = input), so a
            zero target-minus-current age learns the identity.
        pixel_weight, perceptual_weight, adversarial_weight: the loss terms (L1, feature distance, PatchGAN).
        perceptual: feature network of the perceptual term (``age``, ``inception``, ``none`` or a VGG19 file).
    """

    channels: list[int] = field(default_factory=lambda: [8, 16, 32, 64])
    image_size: int = field(default=128, metadata=within(8, MAX_IMAGE_SIZE))
    age_range: list[float] = field(default_factory=lambda: [20.0, 80.0])
    teacher: str = ""
    domain_ages: list[float] = field(default_factory=lambda: [25.0, 65.0])
    age_estimator: str = "packaged"
    identity_fraction: float = field(default=0.1, metadata=within(0.0, 1.0))
    pixel_weight: float = field(default=1.0, metadata=within(0.0, 1000.0))
    perceptual_weight: float = field(default=0.1, metadata=within(0.0, 1000.0))
    adversarial_weight: float = field(default=0.01, metadata=within(0.0, 1000.0))
    perceptual: str = "age"
    discriminator_channels: int = field(default=32, metadata=within(1, 512))

    def __post_init__(self) -> None:
        validate_fields(self, "model")
        if not 1 <= len(self.channels) <= 6 or any(not 1 <= c <= 1024 for c in self.channels):
            raise ConfigError(f"model.channels must be 1 to 6 counts in 1..1024, got {self.channels}")
        if self.image_size % (2 ** (len(self.channels) - 1)):
            raise ConfigError(
                f"model.image_size={self.image_size} must be divisible by 2**(levels-1)="
                f"{2 ** (len(self.channels) - 1)}"
            )
        for name in ("age_range", "domain_ages"):
            value = getattr(self, name)
            if len(value) != 2 or not 0 <= value[0] < value[1] <= 150:
                raise ConfigError(f"model.{name} must be [min, max] with 0 <= min < max <= 150, got {value}")


PRESETS: dict[str, dict[str, Any]] = {
    # ~87 M multiply-accumulates per face at 128² (the paper CycleGAN: ~56 G at 256²).
    "fast": {},
    # FRAN's width at a larger size, for a GPU.
    "paper": {"channels": [32, 64, 128, 256, 512], "image_size": 512, "discriminator_channels": 64},
}
