"""BeautyGAN as a registered model family: presets, training presets, export and loading."""

from __future__ import annotations

from typing import Any

from ...config import to_dict
from ...errors import ConfigError
from ...pretrained import Pretrained
from ...registry import register_family
from ..family import ModelFamily, TrainingModel, load_networks
from . import data as _data  # noqa: F401  (registers the "makeup" data kind)
from .config import PRESETS, BeautyGANConfig
from .model import BeautyGAN
from .networks import MakeupGenerator
from .translator import MakeupTranslator


@register_family
class BeautyGANFamily(ModelFamily):
    """Makeup transfer (Li et al. 2018): a reference face's makeup onto a bare face, and makeup removal."""

    name = "beautygan"
    summary = "makeup transfer (BeautyGAN): a reference face's makeup onto every face, or makeup removed"
    config_class = BeautyGANConfig
    presets = PRESETS
    data_kind = "makeup"
    licences = [
        {
            "name": "dlib 68-point shape predictor (face_recognition_models)",
            "licence": "iBUG 300-W terms: research use, no commercial use",
            "origin": "pip install face_recognition_models",
            "used_for": "landmarks of real faces for the region masks (prepare makeup, evaluation)",
        }
    ]
    train_presets = {
        # Minutes on one CPU core at 64²: procedural faces (ageshift prepare makeup --synthetic).
        "fast": {
            "model_preset": "fast",
            "stages": [{"size": 64, "batch_size": 4, "steps": 600}],
            "learning_rate": 2e-4,
            "betas": [0.5, 0.999],
            "precision": "fp32",
            "sample_every": 200,
            "checkpoint_every": 200,
            "log_every": 25,
        },
        # The paper's schedule on MT at 256² (Adam 2e-4, β = 0.5, 0.999, batch 1): a GPU job.
        "paper": {
            "model_preset": "paper",
            "stages": [{"size": 256, "batch_size": 1, "steps": 200000}],
            "learning_rate": 2e-4,
            "betas": [0.5, 0.999],
            "sample_every": 1000,
            "checkpoint_every": 5000,
            "log_every": 100,
        },
    }

    @classmethod
    def check_stage_size(cls, config: BeautyGANConfig, size: int) -> None:
        side = size
        for _ in range(config.disc_layers):
            side = (side - 2) // 2 + 1
        if size % 2 or side - 1 < 2:
            raise ConfigError(
                f"stage size {size} must be even and at least {3 * 2**config.disc_layers} for a "
                f"{config.disc_layers}-layer PatchGAN"
            )

    @classmethod
    def build(cls, config: BeautyGANConfig) -> BeautyGAN:
        return BeautyGAN(config)

    @classmethod
    def export(
        cls, model: TrainingModel, image_size: int, metadata: dict[str, Any], card: dict[str, Any]
    ) -> MakeupTranslator:
        assert isinstance(model, BeautyGAN)
        return MakeupTranslator(
            model.generator.cpu().eval(), to_dict(model.config), image_size, metadata, card
        )

    @classmethod
    def load(cls, pretrained: Pretrained) -> MakeupTranslator:
        config = cls.config_from_dict(pretrained.config)
        generator = MakeupGenerator(config.channels, config.num_res_blocks, config.norm)
        load_networks({"generator": generator}, pretrained.tensors, pretrained.describe())
        return MakeupTranslator(
            generator,
            pretrained.config,
            int(pretrained.fields["image_size"]),
            pretrained.fields.get("metadata"),
            pretrained.card,
        )
