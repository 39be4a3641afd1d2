"""CycleGAN configuration and its presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config import MAX_IMAGE_SIZE, from_dict, merge, to_dict, validate_fields, within
from ...errors import ConfigError


@dataclass
class GeneratorConfig:
    """ResNet generator (Johnson et al. 2016, as used by CycleGAN)."""

    channels: int = field(default=64, metadata=within(1, 1024))
    num_res_blocks: int = field(default=9, metadata=within(0, 64))
    num_downsamples: int = field(default=2, metadata=within(0, 6))
    norm: Literal["instance", "batch", "none"] = "instance"
    padding: Literal["reflect", "replicate", "zeros"] = "reflect"
    dropout: float = field(default=0.0, metadata=within(0.0, below=1.0))
    #: learned per-channel scale and shift on instance norms (some reference-layout checkpoints carry them).
    norm_affine: bool = False
    #: "transpose" is the reference layout (importable checkpoints); "resize" (nearest) and "bilinear"
    #: upsample then convolve, which avoids checkerboard artefacts.
    #: "conv_bilinear" convolves at the low resolution, then upsamples bilinearly (a transposed conv's cost).
    upsample: Literal["transpose", "resize", "bilinear", "conv_bilinear"] = "transpose"
    #: "image": the head's tanh is the output (the reference layout); "residual": the head predicts a change
    #: added to the input in tanh's pre-activation space, so a face is edited rather than redrawn (the
    #: demo's noise: cycle PSNR 19 → 35 dB, see docs/cyclegan.md). Saved configs without this key are "image".
    output: Literal["image", "residual"] = "image"


@dataclass
class DiscriminatorConfig:
    """PatchGAN discriminator: ``num_layers`` strided convs give a 70×70 receptive field at 3."""

    channels: int = field(default=64, metadata=within(1, 1024))
    num_layers: int = field(default=3, metadata=within(1, 8))
    norm: Literal["instance", "batch", "none"] = "instance"


@dataclass
class CycleGANConfig:
    """Everything that defines a CycleGAN model (networks and losses); training schedule lives elsewhere."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    image_size: int = field(default=256, metadata=within(1, MAX_IMAGE_SIZE))
    gan_loss: Literal["lsgan", "nonsaturating", "hinge"] = "lsgan"
    cycle_weight: float = field(default=10.0, metadata=within(0.0))
    #: identity loss weight as a fraction of ``cycle_weight`` (0.5 in the paper's photo tasks).
    identity_fraction: float = field(default=0.5, metadata=within(0.0))
    #: past fakes kept per discriminator (images at the training size, so bounded).
    pool_size: int = field(default=50, metadata=within(0, 10000))
    init_gain: float = field(default=0.02, metadata=within(0.0))

    def __post_init__(self) -> None:
        validate_fields(self, "model")  # directly built configs too; from_dict checked the values already
        if self.image_size % (2**self.generator.num_downsamples) != 0:
            raise ConfigError(
                f"model.image_size={self.image_size} must be divisible by 2**num_downsamples="
                f"{2**self.generator.num_downsamples}"
            )


PRESETS: dict[str, dict] = {
    # The paper's configuration: 64 channels, 9 residual blocks, 256² images.
    "paper": {},
    # Small enough to train in minutes on a laptop CPU; still the same architecture family. Three residual
    # blocks follow the paper's scaling (9 at 256², 6 at 128²) down to 64² and keep one 256² face under
    # 80 ms on 2 CPU cores (benchmarks/bench_inference.py).
    "fast": {
        "generator": {"channels": 16, "num_res_blocks": 3, "output": "residual", "upsample": "conv_bilinear"},
        "discriminator": {"channels": 16, "num_layers": 3},
        "image_size": 64,
    },
}


def cyclegan_config(preset: str = "paper", overrides: dict | None = None) -> CycleGANConfig:
    """Build a config from a preset name plus nested overrides (``{"generator": {"channels": 32}}``)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    data = merge(to_dict(CycleGANConfig()), PRESETS[preset])
    return from_dict(CycleGANConfig, merge(data, overrides or {}), where="model")
