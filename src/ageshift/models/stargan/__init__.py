"""StarGAN-style conditional model (Choi et al. 2018): one generator for any target age and attribute values."""

from .config import PRESETS, ConditionalDiscriminatorConfig, ConditionalGeneratorConfig, StarGANConfig
from .family import ConditionalTranslator, StarGANFamily
from .model import ConditionLayout, StarGAN
from .networks import ConditionalDiscriminator, ConditionalGenerator

__all__ = [
    "PRESETS",
    "ConditionLayout",
    "ConditionalDiscriminator",
    "ConditionalDiscriminatorConfig",
    "ConditionalGenerator",
    "ConditionalGeneratorConfig",
    "ConditionalTranslator",
    "StarGAN",
    "StarGANConfig",
    "StarGANFamily",
]
