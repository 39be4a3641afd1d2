"""StyleGAN2-ADA configuration: one dataclass for the networks, the regularisers and adaptive augmentation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...config import validate_fields, within
from ...errors import ConfigError


@dataclass
class StyleGANConfig:
    """Everything that defines a StyleGAN2-ADA model (Karras et al. 2020a, 2020b).

    Channels per resolution are ``min(channel_base // resolution, channel_max)`` for both networks (the
    paper's ``channel_base = 32768, channel_max = 512`` at 1024²).
    """

    image_size: int = field(default=32, metadata=within(4, 1024))
    #: length of ``z ~ N(0, I)``.
    latent_dim: int = field(default=64, metadata=within(1, 4096))
    #: length of the intermediate latent ``w`` (one per synthesis layer in W+).
    w_dim: int = field(default=64, metadata=within(1, 4096))
    #: fully connected layers of the mapping network z → w (8 in the paper).
    mapping_layers: int = field(default=2, metadata=within(1, 16))
    #: the mapping network learns 100× slower than the synthesis network (equalised-LR multiplier).
    mapping_lr_multiplier: float = field(default=0.01, metadata=within(above=0.0))
    channel_base: int = field(default=1024, metadata=within(1))
    channel_max: int = field(default=32, metadata=within(1))
    #: minibatch standard deviation: group size and number of statistics channels (Karras et al. 2018).
    mbstd_group: int = field(default=4, metadata=within(1))
    mbstd_channels: int = field(default=1, metadata=within(1))
    #: R1 weight γ (penalty γ/2 · |∇D(x)|²) and the lazy-regularisation interval (every 16 steps).
    r1_gamma: float = field(default=1.0, metadata=within(0.0))
    r1_every: int = field(default=16, metadata=within(1))
    #: probability that a training image mixes two latents at a random layer.
    style_mixing: float = field(default=0.9, metadata=within(0.0, 1.0))
    #: path-length regularisation weight (0 switches it off) and its lazy interval.
    path_length_weight: float = field(default=0.0, metadata=within(0.0))
    path_length_every: int = field(default=4, metadata=within(1))
    path_length_decay: float = field(default=0.01, metadata=within(0.0, 1.0))
    #: EMA generator: half-life of the weights in training images (10k in the paper).
    ema_half_life_images: float = field(default=10_000.0, metadata=within(0.0))
    #: ... but never longer than this fraction of the images seen so far (the paper's ramp-up), so a short
    #: run's EMA generator is not still mostly its initialisation.
    ema_rampup: float = field(default=0.05, metadata=within(0.0))
    #: ADA: ``"ada"`` adapts p, ``"fixed"`` keeps ``augment_p``, ``"none"`` shows D the images as they are.
    augment: str = "ada"
    augment_p: float = field(default=0.0, metadata=within(0.0, 1.0))
    #: the overfitting target of r_t = E[sign(D(real))]; p moves 0 → 1 in ``ada_speed_images`` images.
    ada_target: float = field(default=0.6, metadata=within(0.0, 1.0))
    ada_interval: int = field(default=4, metadata=within(1))
    ada_speed_images: float = field(default=500_000.0, metadata=within(above=0.0))
    #: the w_avg tracking rate (truncation's centre).
    w_avg_beta: float = field(default=0.995, metadata=within(0.0, 1.0))
    #: the seed of the fixed latents of every sample grid.
    sample_seed: int = 1234
    #: fine-tuning (transfer learning, e.g. toonify): an exported stylegan model folder whose generator
    #: starts this run (same architecture); the discriminator starts fresh. "" trains from scratch.
    init_from: str = ""
    #: 2× up- and downsampling: ``bilinear`` (interpolation and 2×2 average pooling, the CPU presets) or ``fir``
    #: (the paper's separable [1, 3, 3, 1] low-pass filter, applied around zero insertion and decimation).
    resample: str = "bilinear"

    def __post_init__(self) -> None:
        validate_fields(self, "model")
        if self.resample not in RESAMPLE_MODES:
            raise ConfigError(f"model.resample {self.resample!r} is not one of {', '.join(RESAMPLE_MODES)}")
        if self.image_size & (self.image_size - 1):
            raise ConfigError(f"model.image_size must be a power of two >= 4, got {self.image_size}")
        if self.augment not in AUGMENT_MODES:
            raise ConfigError(f"model.augment {self.augment!r} is not one of {', '.join(AUGMENT_MODES)}")

    def channels(self, resolution: int) -> int:
        """Feature maps at ``resolution``²."""
        return max(1, min(self.channel_base // resolution, self.channel_max))

    @property
    def resolutions(self) -> list[int]:
        """4, 8, …, image_size."""
        return [2**i for i in range(2, self.image_size.bit_length())]

    @property
    def num_ws(self) -> int:
        """Style vectors one image takes (W+): one per modulated convolution plus the last toRGB."""
        return 2 * len(self.resolutions)


AUGMENT_MODES = ("ada", "fixed", "none")
RESAMPLE_MODES = ("bilinear", "fir")

PRESETS: dict[str, dict[str, Any]] = {
    # A CPU model: 32², 64-d z and w, two mapping layers, 32 channels at most (~0.1 M parameters per network).
    "fast": {},
    # 64² on a CPU: the packaged DCGAN's resolution, for projection and the `age` direction at full size.
    "cpu64": {"image_size": 64, "channel_base": 4096, "channel_max": 128, "w_dim": 128, "latent_dim": 128},
    # 256² for a GPU: the paper's 8 × 512 mapping network and its 256² channel widths (config F scaled).
    "paper256": {
        "image_size": 256,
        "latent_dim": 512,
        "w_dim": 512,
        "mapping_layers": 8,
        "channel_base": 16384,
        "channel_max": 512,
        "r1_gamma": 1.0,
        "path_length_weight": 2.0,
        "resample": "fir",
    },
}
