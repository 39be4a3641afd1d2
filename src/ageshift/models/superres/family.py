"""The super-resolution family as registered: presets, training presets, export and loading."""

from __future__ import annotations

from typing import Any

import torch

from ...config import to_dict
from ...errors import ConfigError, ModelLoadError
from ...pretrained import Pretrained
from ...registry import register_family
from ..family import ModelFamily, TrainingModel, load_networks
from . import data as _data  # noqa: F401  (registers the "photos" data kind)
from .config import PRESETS, SuperResConfig
from .model import SuperResTraining
from .resolver import SuperResolver, build_generator


def _initial_generator(spec: str, config: SuperResConfig) -> dict[str, torch.Tensor]:
    """Generator weights of a model folder or packaged name, checked against ``config``'s architecture."""
    from ..translator import load

    source = load(spec)
    if not isinstance(source, SuperResolver):
        raise ConfigError(f"model.initial_weights {spec!r} is a {source.family} model, not super-resolution")
    state = source.generator.state_dict()
    expected = build_generator(config).state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise ConfigError(
            f"model.initial_weights {spec!r} does not match this config's generator architecture"
        )
    return state


@register_family
class SuperResFamily(ModelFamily):
    """Super-resolution ×2/×4: SRResNet (L1/MSE) or SRGAN (perceptual + adversarial), trained on any photos."""

    name = "superres"
    summary = "super-resolution ×2/×4 (SRResNet/SRGAN, RRDBNet): trained on crops of any folder of photos"
    config_class = SuperResConfig
    presets = PRESETS
    data_kind = "photos"
    train_presets = {
        # A CPU trial: minutes on two cores.
        "fast": {
            "model_preset": "srresnet",
            "model": {"channels": 32, "num_blocks": 8},
            "stages": [{"size": 96, "batch_size": 8, "steps": 2000}],
            "learning_rate": 2e-4,
            "betas": [0.9, 0.999],
            "precision": "fp32",
            "sample_every": 250,
            "checkpoint_every": 500,
            "log_every": 25,
        },
        # SRResNet pre-training as in Ledig et al. (96² crops, batch 16, Adam 1e-4) at a CPU-sized length.
        "srresnet": {
            "model_preset": "srresnet",
            "stages": [{"size": 96, "batch_size": 16, "steps": 100000}],
            "learning_rate": 1e-4,
            "betas": [0.9, 0.999],
            "sample_every": 1000,
            "checkpoint_every": 5000,
            "log_every": 100,
        },
        # SRGAN fine-tuning from the packaged SRResNet (model.initial_weights), perceptual + adversarial.
        "srgan": {
            "model_preset": "srgan",
            "stages": [{"size": 96, "batch_size": 16, "steps": 20000}],
            "learning_rate": 1e-4,
            "betas": [0.9, 0.999],
            "sample_every": 1000,
            "checkpoint_every": 2000,
            "log_every": 100,
        },
    }

    @classmethod
    def check_stage_size(cls, config: SuperResConfig, size: int) -> None:
        if size % config.scale or size // config.scale < 8:
            raise ConfigError(
                f"stage size {size} must be divisible by the scale {config.scale} and give inputs of at least 8 px"
            )
        if config.adversarial_weight > 0 and size % 16:
            raise ConfigError(f"stage size {size} must be divisible by 16 for the discriminator")

    @classmethod
    def build(cls, config: SuperResConfig) -> SuperResTraining:
        model = SuperResTraining(config)
        if config.initial_weights and not next(model.generator.parameters()).is_meta:
            model.generator.load_state_dict(_initial_generator(config.initial_weights, config))
        return model

    @classmethod
    def export(
        cls, model: TrainingModel, image_size: int, metadata: dict[str, Any], card: dict[str, Any]
    ) -> SuperResolver:
        assert isinstance(model, SuperResTraining)
        return SuperResolver(model.generator.cpu().eval(), to_dict(model.config), metadata, card)

    @classmethod
    def load(cls, pretrained: Pretrained) -> SuperResolver:
        config = cls.config_from_dict(pretrained.config)
        generator = build_generator(config)
        load_networks({"generator": generator}, pretrained.tensors, pretrained.describe())
        if not isinstance(pretrained.fields.get("image_size"), int):
            raise ModelLoadError(f"{pretrained.describe()}: config.json has no integer image_size")
        return SuperResolver(generator, pretrained.config, pretrained.fields.get("metadata"), pretrained.card)
