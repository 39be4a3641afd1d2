"""The ``beautygan`` family: makeup transfer (Li et al., ACM MM 2018) and removal.

Importing the package registers the family and the ``makeup`` data kind.
"""

from .family import BeautyGANFamily
from .losses import histogram_distance, makeup_loss
from .networks import MakeupGenerator, PatchDiscriminator
from .translator import MAKEUP_DIRECTIONS, MakeupTranslator

__all__ = [
    "MAKEUP_DIRECTIONS",
    "BeautyGANFamily",
    "MakeupGenerator",
    "MakeupTranslator",
    "PatchDiscriminator",
    "histogram_distance",
    "makeup_loss",
]
