"""The re-aging family as registered: presets, training presets, export and loading."""

from __future__ import annotations

from typing import Any

from ...config import to_dict
from ...errors import ConfigError
from ...pretrained import Pretrained
from ...registry import register_family
from ..family import ModelFamily, TrainingModel, load_networks
from . import data as _data  # noqa: F401  (registers the "distill" data kind)
from .config import PRESETS, ReagerConfig
from .model import ReagerTraining
from .networks import ReagerUNet
from .translator import ReagerTranslator


@register_family
class ReagerFamily(ModelFamily):
    """A small U-Net that predicts the change ageing makes (FRAN), distilled from any ageshift re-ager."""

    name = "reager"
    summary = (
        "fast re-aging U-Net (FRAN-style): RGB + current/target age maps → a change, distilled from a teacher"
    )
    config_class = ReagerConfig
    presets = PRESETS
    data_kind = "distill"
    train_presets = {
        # Minutes on one CPU core at 64² (a synthetic-face teacher).
        "fast": {
            "model_preset": "fast",
            "stages": [{"size": 64, "batch_size": 8, "steps": 600}],
            "learning_rate": 1e-3,
            "betas": [0.9, 0.999],
            "precision": "fp32",
            "sample_every": 200,
            "checkpoint_every": 200,
            "log_every": 25,
        },
        # FRAN's schedule scaled to a GPU: 512² pairs, Adam 1e-4.
        "paper": {
            "model_preset": "paper",
            "stages": [{"size": 512, "batch_size": 8, "steps": 100000}],
            "learning_rate": 1e-4,
            "betas": [0.9, 0.999],
            "sample_every": 1000,
            "checkpoint_every": 5000,
            "log_every": 100,
        },
    }

    @classmethod
    def check_stage_size(cls, config: ReagerConfig, size: int) -> None:
        multiple = 2 ** max(len(config.channels) - 1, 3 if config.adversarial_weight > 0 else 0)
        if size % multiple:
            raise ConfigError(
                f"stage size {size} must be divisible by {multiple} for this student and critic"
            )

    @classmethod
    def build(cls, config: ReagerConfig) -> ReagerTraining:
        return ReagerTraining(config)

    @classmethod
    def export(
        cls, model: TrainingModel, image_size: int, metadata: dict[str, Any], card: dict[str, Any]
    ) -> ReagerTranslator:
        assert isinstance(model, ReagerTraining)
        return ReagerTranslator(model.student.cpu().eval(), to_dict(model.config), image_size, metadata, card)

    @classmethod
    def load(cls, pretrained: Pretrained) -> ReagerTranslator:
        config = cls.config_from_dict(pretrained.config)
        network = ReagerUNet(config.channels)
        load_networks({"student": network}, pretrained.tensors, pretrained.describe())
        return ReagerTranslator(
            network,
            pretrained.config,
            int(pretrained.fields["image_size"]),
            pretrained.fields.get("metadata"),
            pretrained.card,
        )
