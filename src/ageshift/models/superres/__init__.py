"""Super-resolution family: SRResNet/SRGAN and RRDBNet (Real-ESRGAN) generators, the packaged pretrained
weights (``ageshift.load("srgan-x4")``, ``"srresnet-x4"``, ``"realesrgan-x4"``), tiled inference and training."""

from .config import PRESETS, DegradationConfig, SuperResConfig
from .family import SuperResFamily
from .inference import MAX_OUTPUT_PIXELS, UpscaleError, upscale_array, upscale_tensor
from .networks import RRDBNet, SRResNet, fuse_batchnorm
from .resolver import PACKAGED, SuperResolver, load_packaged

__all__ = [
    "MAX_OUTPUT_PIXELS",
    "PACKAGED",
    "PRESETS",
    "RRDBNet",
    "SRResNet",
    "DegradationConfig",
    "SuperResConfig",
    "SuperResFamily",
    "SuperResolver",
    "UpscaleError",
    "fuse_batchnorm",
    "load_packaged",
    "upscale_array",
    "upscale_tensor",
]
