"""StyleGAN2 with adaptive discriminator augmentation (``stylegan``), written from the papers.

Read in this order: ``config.py`` (what defines a model and its presets), ``networks.py`` (mapping network,
modulated convolutions, skip generator, residual discriminator), ``augment.py`` (ADA), ``model.py`` (the
losses and the four phases of a step), ``family.py`` (how ageshift trains, exports and loads it),
``blend.py`` (layer swapping between a base and a fine-tuned generator: toonify).
"""

from .augment import AdaptiveAugment, adjust_p, augment
from .config import PRESETS, StyleGANConfig
from .family import StyleGANFamily
from .model import StyleGAN, r1_penalty
from .networks import Discriminator, Generator, MappingNetwork, SynthesisNetwork, mix_styles, modulated_conv2d

__all__ = [
    "PRESETS",
    "AdaptiveAugment",
    "Discriminator",
    "Generator",
    "MappingNetwork",
    "StyleGAN",
    "StyleGANConfig",
    "StyleGANFamily",
    "SynthesisNetwork",
    "adjust_p",
    "augment",
    "mix_styles",
    "modulated_conv2d",
    "r1_penalty",
]
