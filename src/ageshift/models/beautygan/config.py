"""BeautyGAN (Li et al., ACM MM 2018): configuration and presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...config import validate_fields, within
from ...errors import ConfigError


@dataclass
class BeautyGANConfig:
    """Everything that defines a makeup-transfer model and its losses.

    Attributes:
        channels, num_res_blocks, norm: the dual-input generator (:class:`~.networks.MakeupGenerator`).
        disc_channels, disc_layers: each domain's PatchGAN discriminator (with makeup / without).
        adversarial_weight: least-squares GAN terms of both outputs.
        cycle_weight: transfer, then transfer back returns both inputs (L1).
        perceptual_weight, perceptual: the output keeps its input's content, measured by a frozen feature
            network: ``age`` (the packaged age network's first blocks, the default: VGG16, the paper's, has no
            offline weights), ``inception``, ``none`` or a VGG19 weights file.
        makeup_weight, region_weights: the histogram-matching makeup loss per region (lips, eyes, skin); the
            paper's 1, 1, 0.1.
        outside_weight: L1 between each output and its input outside lips and eye shadow (ours: keeps the
            person and background where no product goes; 0 switches it off).
    """

    channels: int = field(default=16, metadata=within(1, 512))
    num_res_blocks: int = field(default=3, metadata=within(0, 32))
    norm: str = "instance"
    disc_channels: int = field(default=32, metadata=within(1, 512))
    disc_layers: int = field(default=3, metadata=within(1, 6))
    adversarial_weight: float = field(default=1.0, metadata=within(0.0))
    cycle_weight: float = field(default=10.0, metadata=within(0.0))
    perceptual_weight: float = field(default=0.005, metadata=within(0.0))
    perceptual: str = "age"
    makeup_weight: float = field(default=1.0, metadata=within(0.0))
    region_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 0.1])
    outside_weight: float = field(default=5.0, metadata=within(0.0))

    def __post_init__(self) -> None:
        validate_fields(self, "model")
        if self.norm not in ("instance", "batch", "none"):
            raise ConfigError(f"model.norm must be instance, batch or none, got {self.norm!r}")
        if len(self.region_weights) != 3 or any(not weight >= 0 for weight in self.region_weights):
            raise ConfigError(
                f"model.region_weights: three weights >= 0 (lips, eyes, skin), got {self.region_weights}"
            )


PRESETS: dict[str, dict[str, Any]] = {
    # Minutes on a CPU core at 64²: synthetic faces.
    "fast": {},
    # The paper's widths (64 channels, 6 residual blocks, 64-channel PatchGANs) for MT at 256² on a GPU.
    "paper": {"channels": 64, "num_res_blocks": 6, "disc_channels": 64},
}
