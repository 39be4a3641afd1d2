"""CycleGAN as a registered model family: presets, stage-size checks, export and loading."""

from __future__ import annotations

from typing import Any

from ...config import to_dict
from ...errors import ConfigError
from ...pretrained import Pretrained
from ...registry import register_family
from ..family import ModelFamily, TrainingModel, load_networks
from ..translator import TwoDomainTranslator
from .config import PRESETS, CycleGANConfig, cyclegan_config
from .model import CycleGAN
from .networks import ResnetGenerator


@register_family
class CycleGANFamily(ModelFamily):
    """Unpaired two-domain translation (Zhu et al. 2017): ``older`` (A→B) and ``younger`` (B→A)."""

    name = "cyclegan"
    summary = "unpaired two-domain translator (CycleGAN): older A→B and younger B→A"
    config_class = CycleGANConfig
    presets = PRESETS
    data_kind = "unpaired"
    train_presets = {
        # Demo size: the small network at 64² only; a few minutes on two CPU cores.
        "fast": {
            "model_preset": "fast",
            "stages": [{"size": 64, "batch_size": 4, "steps": 800}],
            "sample_every": 200,
            "checkpoint_every": 200,
            "log_every": 20,
        },
        # The paper's network, grown 64² → 128² → 256² so the early epochs are cheap (Karras et al. 2018 idea).
        "paper": {
            "model_preset": "paper",
            "stages": [
                {"size": 64, "batch_size": 8, "steps": 20000},
                {"size": 128, "batch_size": 4, "steps": 40000},
                {"size": 256, "batch_size": 1, "steps": 140000},
            ],
            "sample_every": 1000,
            "checkpoint_every": 5000,
            "log_every": 100,
        },
    }

    @classmethod
    def model_config(cls, preset: str = "fast", overrides: dict[str, Any] | None = None) -> CycleGANConfig:
        return cyclegan_config(preset, overrides)

    @classmethod
    def check_stage_size(cls, config: CycleGANConfig, size: int) -> None:
        """Refuse image sizes the networks cannot take: the generator's stride and the PatchGAN's depth."""
        multiple = 2**config.generator.num_downsamples
        if size % multiple:
            raise ConfigError(f"stage size {size} must be divisible by 2**num_downsamples = {multiple}")
        side = size
        for _ in range(config.discriminator.num_layers):
            side = (side - 2) // 2 + 1  # 4×4 convolutions, stride 2, padding 1
        if side - 1 < 2:  # the stride-1 layer must leave more than one pixel for its instance norm
            raise ConfigError(
                f"stage size {size} is too small for a {config.discriminator.num_layers}-layer PatchGAN "
                f"discriminator (use at least {3 * 2**config.discriminator.num_layers} or fewer layers)"
            )

    @classmethod
    def build(cls, config: CycleGANConfig) -> CycleGAN:
        return CycleGAN(config)

    @classmethod
    def export(
        cls, model: TrainingModel, image_size: int, metadata: dict[str, Any], card: dict[str, Any]
    ) -> TwoDomainTranslator:
        assert isinstance(model, CycleGAN)
        generators = {name: generator.cpu().eval() for name, generator in model.generators().items()}
        return TwoDomainTranslator(generators, cls.name, to_dict(model.config), image_size, metadata, card)

    @classmethod
    def load(cls, pretrained: Pretrained) -> TwoDomainTranslator:
        # The saved config is complete for the code that wrote it; fields added later take their dataclass
        # defaults (never a preset's), so older model folders keep the architecture they were trained with.
        config = cls.config_from_dict(pretrained.config)
        names = pretrained.fields.get("networks") or pretrained.fields.get("conditions", {}).get("directions")
        names = [name for name in (names or ["older", "younger"]) if name in ("older", "younger")]
        generators = {name: ResnetGenerator(config.generator) for name in names}
        load_networks(generators, pretrained.tensors, pretrained.describe())
        return TwoDomainTranslator(
            generators,
            cls.name,
            pretrained.config,
            int(pretrained.fields["image_size"]),
            pretrained.fields.get("metadata"),
            pretrained.card,
        )
