"""The ``reager`` family: a FRAN-style U-Net that predicts the change ageing makes, distilled from a teacher.

Importing the package registers the family and the ``distill`` data kind.
"""

from .family import ReagerFamily
from .networks import BlurPool, ReagerUNet, count_macs
from .translator import ReagerTranslator, estimate_ages, upscale_delta

__all__ = [
    "BlurPool",
    "ReagerFamily",
    "ReagerTranslator",
    "ReagerUNet",
    "count_macs",
    "estimate_ages",
    "upscale_delta",
]
