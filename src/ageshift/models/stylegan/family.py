"""StyleGAN2-ADA as a registered family (``stylegan``): trains on one folder of images, exports a generator."""

from __future__ import annotations

from typing import Any

from ...config import to_dict
from ...errors import ConfigError, ModelLoadError
from ...pretrained import Pretrained
from ...registry import register_family
from ..family import ModelFamily, TrainingModel, load_networks
from ..generator import ImageGenerator
from . import data as _data  # noqa: F401  (registers the "images" data kind)
from .config import PRESETS, StyleGANConfig
from .model import StyleGAN
from .networks import Generator


def _train_preset(model_preset: str, size: int, batch: int, steps: int, **extra: Any) -> dict[str, Any]:
    return {
        "model_preset": model_preset,
        "stages": [{"size": size, "batch_size": batch, "steps": steps}],
        # The paper's Adam settings for both networks at these sizes: lr 0.0025, β = (0, 0.99), constant.
        "learning_rate": 0.0025,
        "betas": (0.0, 0.99),
        "constant_fraction": 1.0,
        "flip_probability": 0.5,  # dataset x-flips (pets and faces are mirror-symmetric on average)
        "sample_every": 250,
        "checkpoint_every": 500,
        "log_every": 50,
        **extra,
    }


def start_from(model: StyleGAN, folder: str) -> None:
    """Load an exported generator into the live and EMA generators of ``model`` (fine-tuning).

    Raises:
        ModelLoadError: the folder is not a stylegan model or its architecture differs.
    """
    from ...pretrained import read_pretrained

    if any(parameter.is_meta for parameter in model.generator.parameters()):
        return  # counting parameters (shapes only): nothing to load
    pretrained = read_pretrained(folder)
    if pretrained.family != StyleGANFamily.name:
        raise ModelLoadError(f"{folder}: model.init_from needs a stylegan model, found {pretrained.family}")
    source = f"{pretrained.describe()} (model.init_from)"
    load_networks({"generator": model.generator}, pretrained.tensors, source)
    load_networks({"generator": model.generator_ema}, pretrained.tensors, source)


@register_family
class StyleGANFamily(ModelFamily):
    """A style-based generator (StyleGAN2) trained with adaptive discriminator augmentation, on any folder."""

    name = "stylegan"
    summary = "StyleGAN2-ADA: a style-based generator of new images like one folder (faces, pets, anything)"
    config_class = StyleGANConfig
    presets = PRESETS
    data_kind = "images"
    train_presets = {
        # 32² on one CPU thread: recognisable blobs of the data's colours in ~10 min, structure in ~30.
        "fast": _train_preset("fast", 32, 16, 3000, precision="fp32"),
        # 64² on a CPU (the packaged DCGAN's size): an hour or more.
        "cpu64": _train_preset("cpu64", 64, 16, 10000, precision="fp32"),
        # 256² on a GPU (configured, not run here): the paper's 256² settings, batch 32, 25M images.
        "paper256": _train_preset(
            "paper256", 256, 32, 780_000, sample_every=2000, checkpoint_every=10000, log_every=200
        ),
    }

    @classmethod
    def check_stage_size(cls, config: StyleGANConfig, size: int) -> None:
        if size != config.image_size:
            raise ConfigError(
                f"stage size {size}: a stylegan model trains at one size, its image_size {config.image_size}"
            )

    @classmethod
    def build(cls, config: StyleGANConfig) -> StyleGAN:
        model = StyleGAN(config)
        if config.init_from:
            start_from(model, config.init_from)
        return model

    @classmethod
    def export(
        cls, model: TrainingModel, image_size: int, metadata: dict[str, Any], card: dict[str, Any]
    ) -> ImageGenerator:
        assert isinstance(model, StyleGAN)
        metadata = {**metadata, "ada_p": float(model.augment.p)}
        return cls._generator(model.generator_ema.cpu(), to_dict(model.config), image_size, metadata, card)

    @classmethod
    def load(cls, pretrained: Pretrained) -> ImageGenerator:
        generator = Generator(cls.config_from_dict(pretrained.config))
        load_networks({"generator": generator}, pretrained.tensors, pretrained.describe())
        fields = pretrained.fields
        return cls._generator(
            generator, pretrained.config, int(fields["image_size"]), fields.get("metadata"), pretrained.card
        )

    @classmethod
    def _generator(
        cls,
        generator: Generator,
        config: dict[str, Any],
        image_size: int,
        metadata: dict[str, Any] | None,
        card: dict[str, Any] | None,
    ) -> ImageGenerator:
        """The inference object: the (EMA) generator, unconditional, in eval mode (fixed noise maps)."""
        return ImageGenerator(
            generator.eval(), (), generator.latent_dim, cls.name, config, image_size, metadata, card
        )
