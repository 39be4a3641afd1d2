"""BeautyGAN (Li et al., ACM MM 2018) building blocks: the makeup loss and the networks.

The family itself (config, training model, ``@register_family``) is not written yet, so nothing is registered.
"""

from .losses import histogram_distance, makeup_loss
from .networks import MakeupGenerator, PatchDiscriminator

__all__ = ["MakeupGenerator", "PatchDiscriminator", "histogram_distance", "makeup_loss"]
