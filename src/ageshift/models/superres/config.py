"""Super-resolution family: configuration and presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ARCHITECTURES = ("srresnet", "rrdbnet")


@dataclass
class DegradationConfig:
    """How a training crop is made low-resolution on the fly: blur → bicubic ×1/s → noise → JPEG.

    Each step happens with its probability; strengths are drawn uniformly up to the given maximum. All zero
    gives plain bicubic downscaling (the classic SRResNet setting, the one the benchmarks measure).
    """

    blur_probability: float = 0.5
    blur_sigma: tuple[float, float] = (0.2, 1.2)
    noise_probability: float = 0.3
    #: noise standard deviation in 8-bit levels.
    noise_max: float = 6.0
    jpeg_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (50, 95)


@dataclass
class SuperResConfig:
    """Everything that defines a super-resolution model: the generator, the losses and the degradations.

    ``adversarial_weight > 0`` adds SRGAN's discriminator phase; start such a run from a PSNR-trained model with
    ``initial_weights`` (a model folder or ``"srresnet-x4"``), as SRGAN does.
    """

    architecture: Literal["srresnet", "rrdbnet"] = "srresnet"
    scale: int = 4
    channels: int = 64
    num_blocks: int = 16
    #: RRDBNet only: channels each dense-block conv adds.
    growth: int = 32
    #: SRResNet only: BatchNorm in the residual blocks.
    batchnorm: bool = True
    #: side of the high-resolution training crops (the low-resolution input is ``image_size / scale``).
    image_size: int = 96
    pixel_loss: Literal["l1", "mse"] = "l1"
    #: ``none``, ``inception`` (the packaged FID Inception's features), ``age`` (the packaged age network's
    #: features), or the path of a VGG19 state dict (``.pth`` read with ``weights_only=True``, or ``.safetensors``).
    perceptual: str = "none"
    perceptual_weight: float = 0.0
    adversarial_weight: float = 0.0
    discriminator_channels: int = 64
    #: a model folder or packaged name (``srresnet-x4``) whose generator weights the run starts from.
    initial_weights: str | None = None
    degradation: DegradationConfig = field(default_factory=DegradationConfig)

    def __post_init__(self) -> None:
        from ...errors import ConfigError

        if self.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}"
            )
        if self.scale not in (2, 4):
            raise ConfigError(f"scale must be 2 or 4, got {self.scale}")
        for name in ("channels", "num_blocks", "growth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.perceptual_weight < 0 or self.adversarial_weight < 0:
            raise ConfigError("perceptual_weight and adversarial_weight must be >= 0")


#: Model presets: ``tiny`` for tests and CPU trials, ``srresnet`` (the paper's generator, PSNR training),
#: ``srgan`` (adversarial + perceptual fine-tuning of the packaged SRResNet).
PRESETS: dict[str, dict] = {
    "tiny": {"channels": 16, "num_blocks": 2, "image_size": 32, "batchnorm": False},
    "srresnet": {},
    "srgan": {
        "initial_weights": "srresnet-x4",
        "perceptual": "inception",
        "perceptual_weight": 1.0,
        "adversarial_weight": 1e-3,
        "degradation": {"blur_probability": 0.0, "noise_probability": 0.0, "jpeg_probability": 0.0},
    },
}
