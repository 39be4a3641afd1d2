"""The CycleGAN model: two generators (older A→B, younger B→A) and two PatchGAN discriminators."""

from __future__ import annotations

from typing import Any

from torch import nn

from ...nn.layers import init_weights
from ...registry import register_model
from .config import CycleGANConfig, cyclegan_config
from .networks import PatchDiscriminator, ResnetGenerator


@register_model("cyclegan")
class CycleGAN(nn.Module):
    """Holds the four networks. Domain A is the young domain, domain B the old one.

    ``generator_older`` maps A→B, ``generator_younger`` maps B→A; ``discriminator_old`` judges images of
    domain B and ``discriminator_young`` images of domain A. All images: ``(B, 3, H, W)`` RGB in ``[-1, 1]``.
    """

    def __init__(self, config: CycleGANConfig | None = None, preset: str = "paper", **overrides: Any) -> None:
        super().__init__()
        if config is None:
            config = cyclegan_config(preset, overrides)
        elif overrides:
            raise TypeError("pass either a config or preset/overrides, not both")
        self.config = config
        self.generator_older = ResnetGenerator(config.generator)
        self.generator_younger = ResnetGenerator(config.generator)
        self.discriminator_old = PatchDiscriminator(config.discriminator)
        self.discriminator_young = PatchDiscriminator(config.discriminator)
        init_weights(self, config.init_gain)

    def generators(self) -> dict[str, nn.Module]:
        """The inference networks by direction name."""
        return {"older": self.generator_older, "younger": self.generator_younger}

    def discriminators(self) -> nn.ModuleList:
        return nn.ModuleList([self.discriminator_old, self.discriminator_young])


def build_generators(model_config: dict[str, Any]) -> dict[str, nn.Module]:
    """Rebuild untrained generators from a saved model config dict (used when loading an exported model)."""
    config = cyclegan_config("paper", model_config)
    return {"older": ResnetGenerator(config.generator), "younger": ResnetGenerator(config.generator)}
