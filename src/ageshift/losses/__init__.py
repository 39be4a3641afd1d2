"""Losses for image-to-image GANs: adversarial objectives, cycle/identity reconstruction, the image pool."""

from .adversarial import GAN_LOSSES, discriminator_loss, generator_loss, gradient_penalty
from .image_pool import ImagePool
from .reconstruction import cycle_loss, identity_loss

__all__ = [
    "GAN_LOSSES",
    "ImagePool",
    "cycle_loss",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "identity_loss",
]
