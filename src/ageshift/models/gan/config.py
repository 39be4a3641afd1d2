"""The teaching GANs' configuration: one dataclass for the vanilla (``gan``) and the conditional (``cgan``) family."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ...errors import ConfigError

ARCHITECTURES = ("mlp", "dcgan")


@dataclass
class GANConfig:
    """Everything that defines a teaching GAN.

    ``classes`` makes it conditional: the label values, in class-id order (``cgan`` fills them from the
    training data's labels; ``gan`` leaves them empty).
    """

    #: ``mlp``: fully connected layers (Goodfellow et al. 2014, as in every course's first GAN);
    #: ``dcgan``: strided (transposed) convolutions with batch norm (Radford et al. 2016).
    architecture: Literal["mlp", "dcgan"] = "mlp"
    #: length of the noise vector ``z ~ N(0, I)``.
    latent_dim: int = 64
    #: MLP: width of the first hidden layer (the generator doubles it twice; the discriminator halves it).
    hidden: int = 128
    #: DCGAN: channels of the finest feature maps (the coarsest have 4×).
    channels: int = 32
    #: 1 for grey images such as digits (RGB input is averaged), 3 for colour.
    image_channels: int = 1
    image_size: int = 16
    classes: list[str] = field(default_factory=list)
    #: the data's label column to condition on (``None``: the data's only one).
    label: str | None = None
    #: negative slope of the LeakyReLUs.
    leaky_slope: float = 0.2
    #: the seed of the fixed noise drawn for every sample grid (the same images through the whole run).
    sample_seed: int = 1234

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"model.architecture {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}"
            )
        if self.image_channels not in (1, 3):
            raise ConfigError(f"model.image_channels must be 1 or 3, got {self.image_channels}")
        for name in ("latent_dim", "hidden", "channels", "image_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.architecture == "dcgan" and self.image_size % 4:
            raise ConfigError(
                f"model.image_size={self.image_size}: a DCGAN needs a multiple of 4 (two ×2 upsamplings)"
            )
        if self.classes and (len(self.classes) < 2 or len(set(self.classes)) != len(self.classes)):
            raise ConfigError(f"model.classes needs at least two distinct values, got {self.classes}")


PRESETS: dict[str, dict[str, Any]] = {
    # The seed's network: noise → 128 → 256 → 512 → pixels, BatchNorm1d and LeakyReLU; a fully connected
    # discriminator. About 0.3 M parameters each at 16²: a minute or two on a CPU.
    "mlp": {},
    # Radford et al. 2016 scaled down: 4×4×128 → 8×8×64 → 16×16 for the generator, the mirror image for
    # the discriminator.
    "dcgan": {"architecture": "dcgan"},
}
