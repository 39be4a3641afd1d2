"""The teaching GANs: a vanilla GAN (``gan``, Goodfellow et al. 2014) in an MLP and a DCGAN variant.

Read in this order: ``config.py`` (what defines a model), ``networks.py`` (the generator and discriminator),
``model.py`` (the objective and the two training phases), ``family.py`` (how ageshift trains, exports and
loads it). The conditional GAN (``cgan``) in :mod:`ageshift.models.cgan` reuses all of it.
"""

from .config import PRESETS, GANConfig
from .family import GANFamily
from .model import GAN, discriminator_loss, generator_loss
from .networks import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, build_networks

__all__ = [
    "GAN",
    "PRESETS",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANConfig",
    "GANFamily",
    "MLPDiscriminator",
    "MLPGenerator",
    "build_networks",
    "discriminator_loss",
    "generator_loss",
]
