"""The vanilla GAN as a registered family (``gan``); the conditional one (``cgan``) subclasses it."""

from __future__ import annotations

from typing import Any

from ...config import to_dict
from ...errors import ConfigError
from ...pretrained import Pretrained
from ...registry import register_family
from ..family import ModelFamily, TrainingModel, load_networks
from ..generator import ImageGenerator
from .config import PRESETS, GANConfig
from .model import GAN
from .networks import build_networks


def _train_preset(model_preset: str, size: int, steps: int) -> dict[str, Any]:
    return {
        "model_preset": model_preset,
        "stages": [{"size": size, "batch_size": 64, "steps": steps}],
        "learning_rate": 2e-4,  # with Adam's β₁ = 0.5 (the trainer's default): DCGAN's settings
        "constant_fraction": 0.75,
        "flip_probability": 0.0,  # a mirrored 7 is not a 7
        "sample_every": 250,
        "checkpoint_every": 1000,
        "log_every": 50,
    }


@register_family
class GANFamily(ModelFamily):
    """Noise → image (Goodfellow et al. 2014): the first GAN of every course, MLP or DCGAN, on labelled images
    whose labels it ignores."""

    name = "gan"
    summary = "unconditional GAN (MLP or DCGAN): noise → new images like the training set"
    config_class = GANConfig
    presets = PRESETS
    data_kind = "labelled"
    train_presets = {
        # The 16² scikit-learn digits (`ageshift prepare digits`): a couple of minutes on a CPU.
        "fast": _train_preset("mlp", 16, 4000),
        "dcgan": _train_preset("dcgan", 16, 3000),
        # MNIST or Fashion-MNIST at their own 28² (`prepare digits --source PATH|fashion`).
        "mnist": _train_preset("mlp", 28, 20000),
        "mnist-dcgan": _train_preset("dcgan", 28, 10000),
    }

    @classmethod
    def model_config(cls, preset: str = "mlp", overrides: dict[str, Any] | None = None) -> GANConfig:
        """The config of a model preset (``mlp`` or ``dcgan``) with nested overrides."""
        return super().model_config(preset, overrides)

    @classmethod
    def adapt_to_data(cls, config: GANConfig, data_description: dict[str, Any]) -> GANConfig:
        """``gan``: no classes. ``cgan``: the classes of the data's label column (see :class:`CGANFamily`)."""
        if config.classes:
            raise ConfigError("the gan family is unconditional; train --family cgan to condition on labels")
        return config

    @classmethod
    def check_stage_size(cls, config: GANConfig, size: int) -> None:
        if size != config.image_size:
            raise ConfigError(
                f"stage size {size}: a {cls.name} model trains at one size, its image_size {config.image_size}"
            )
        if config.architecture == "dcgan" and size % 4:
            raise ConfigError(f"stage size {size}: a DCGAN needs a multiple of 4 (two ×2 upsamplings)")

    @classmethod
    def build(cls, config: GANConfig) -> GAN:
        return GAN(config)

    @classmethod
    def export(
        cls, model: TrainingModel, image_size: int, metadata: dict[str, Any], card: dict[str, Any]
    ) -> ImageGenerator:
        assert isinstance(model, GAN)
        config = model.config
        generator = model.generator.cpu().eval()
        return ImageGenerator(
            generator,
            config.classes,
            config.latent_dim,
            cls.name,
            to_dict(config),
            image_size,
            metadata,
            card,
        )

    @classmethod
    def load(cls, pretrained: Pretrained) -> ImageGenerator:
        config = cls.config_from_dict(pretrained.config)
        generator = build_networks(config)[0]
        load_networks({"generator": generator}, pretrained.tensors, pretrained.describe())
        return ImageGenerator(
            generator,
            config.classes,
            config.latent_dim,
            cls.name,
            pretrained.config,
            int(pretrained.fields["image_size"]),
            pretrained.fields.get("metadata"),
            pretrained.card,
        )
