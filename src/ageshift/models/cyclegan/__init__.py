"""CycleGAN (Zhu et al. 2017): unpaired translation with adversarial, cycle and identity losses."""

from .config import PRESETS, CycleGANConfig, DiscriminatorConfig, GeneratorConfig, cyclegan_config
from .family import CycleGANFamily
from .model import CycleGAN
from .networks import PatchDiscriminator, ResnetGenerator

__all__ = [
    "PRESETS",
    "CycleGAN",
    "CycleGANConfig",
    "CycleGANFamily",
    "DiscriminatorConfig",
    "GeneratorConfig",
    "PatchDiscriminator",
    "ResnetGenerator",
    "cyclegan_config",
]
