"""The conditional family as registered: presets, data adaptation, export, loading and its translator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...config import to_dict
from ...errors import ConfigError
from ...pretrained import Pretrained
from ...registry import register_family
from ..conditions import Condition, ConditionSpec
from ..family import ModelFamily, TrainingModel, load_networks
from ..translator import Translator
from .config import PRESETS, StarGANConfig
from .model import ConditionLayout, StarGAN
from .networks import ConditionalDiscriminator, ConditionalGenerator


class ConditionalTranslator(Translator):
    """Inference for conditional models: ``translate(images, target_age=70, attributes={"hair": "blond"})``.

    Whatever the request leaves out keeps the face's own value, as read by the discriminator's auxiliary
    heads (exported as the ``classifier`` network). ``strength`` moves the condition vector from the face's own
    condition towards the requested one (0: the input, 1: the full request).
    """

    strength_by_blending = False

    def __init__(
        self,
        generator: nn.Module,
        classifier: nn.Module,
        model_config: dict[str, Any],
        image_size: int,
        metadata: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
        family: str = "stargan",
    ) -> None:
        config = StarGANFamily.config_from_dict(model_config)
        self.layout = ConditionLayout.from_config(config)
        spec = ConditionSpec(age=self.layout.age_range, attributes=dict(self.layout.attributes))
        super().__init__(
            {"generator": generator, "classifier": classifier},
            family,
            model_config,
            image_size,
            spec,
            metadata,
            card,
        )

    @torch.inference_mode()
    def estimate(self, images: torch.Tensor) -> dict[str, Any]:
        """The model's own reading of faces: ``{"age": (B,) years, name: [value, ...]}`` (at the model's size)."""
        from ...image import check_batch, resize

        check_batch(images)
        auxiliary = self.networks["classifier"](resize(images.to(self.device).float(), self.image_size))[1]
        labels = self.layout.estimate(auxiliary.float())
        readable: dict[str, Any] = {}
        for name, value in labels.items():
            if name == "age":
                readable["age"] = value.cpu()
            else:
                readable[name] = [self.layout.attributes[name][int(i)] for i in value.cpu()]
        return readable

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        count = images.shape[0]
        own = self.layout.estimate(self.networks["classifier"](images)[1].float())
        target: dict[str, torch.Tensor] = dict(own)
        if condition.target_age is not None:
            target["age"] = torch.full((count,), condition.target_age, device=images.device)
        for name, value in condition.attributes.items():
            index = self.layout.attributes[name].index(value)
            target[name] = torch.full((count,), index, device=images.device, dtype=torch.long)
        source_vector = self.layout.encode(own, count, images.device)
        target_vector = self.layout.encode(target, count, images.device)
        vector = torch.lerp(source_vector, target_vector, condition.strength)
        return self.networks["generator"](images, vector, source_vector)


@register_family
class StarGANFamily(ModelFamily):
    """One generator for any target age and attributes (StarGAN, Choi et al. 2018), trained on labelled images."""

    name = "stargan"
    summary = "conditional translator (StarGAN-style): any target age in range, attribute values"
    config_class = StarGANConfig
    presets = PRESETS
    data_kind = "labelled"
    train_presets = {
        # Minutes on two CPU cores at 64².
        "fast": {
            "model_preset": "fast",
            "stages": [{"size": 64, "batch_size": 8, "steps": 800}],
            "learning_rate": 2e-4,
            "constant_fraction": 0.6,
            "sample_every": 300,
            "checkpoint_every": 300,
            "log_every": 25,
        },
        # StarGAN's schedule (lr 1e-4, β 0.5/0.999, batch 16, 200k iterations at 128²), grown from 64².
        "paper": {
            "model_preset": "paper",
            "stages": [
                {"size": 64, "batch_size": 16, "steps": 40000},
                {"size": 128, "batch_size": 16, "steps": 160000},
            ],
            "learning_rate": 1e-4,
            "constant_fraction": 0.5,
            "sample_every": 1000,
            "checkpoint_every": 5000,
            "log_every": 100,
        },
    }

    @classmethod
    def adapt_to_data(cls, config: StarGANConfig, data_description: dict[str, Any]) -> StarGANConfig:
        """Take the condition layout (age range, attribute values) from the data's labels when not set."""
        labels = data_description.get("labels") or {}
        values = to_dict(config)
        if config.use_age and config.age_range is None and labels.get("age"):
            values["age_range"] = [float(labels["age"]["min"]), float(labels["age"]["max"])]
        if not config.use_age:
            values["age_range"] = None
        if not config.attributes:
            available = labels.get("attributes") or {}
            chosen = config.use_attributes if config.use_attributes is not None else list(available)
            unknown = sorted(set(chosen) - set(available))
            if unknown:
                raise ConfigError(
                    f"model.use_attributes names {unknown}, which the data does not label "
                    f"(it has: {', '.join(available) or 'none'})"
                )
            values["attributes"] = {name: list(available[name]) for name in chosen}
        return cls.config_from_dict(values)

    @classmethod
    def check_stage_size(cls, config: StarGANConfig, size: int) -> None:
        multiple = 2**config.generator.num_downsamples
        if size % multiple:
            raise ConfigError(f"stage size {size} must be divisible by 2**num_downsamples = {multiple}")
        if size < 2**config.discriminator.num_layers:
            raise ConfigError(
                f"stage size {size} is too small for a {config.discriminator.num_layers}-layer discriminator "
                f"(needs at least {2**config.discriminator.num_layers})"
            )

    @classmethod
    def build(cls, config: StarGANConfig) -> StarGAN:
        return StarGAN(config)

    @classmethod
    def export(
        cls, model: TrainingModel, image_size: int, metadata: dict[str, Any], card: dict[str, Any]
    ) -> ConditionalTranslator:
        assert isinstance(model, StarGAN)
        return ConditionalTranslator(
            model.generator.cpu().eval(),
            model.discriminator.cpu().eval(),
            to_dict(model.config),
            image_size,
            metadata,
            card,
            cls.name,
        )

    @classmethod
    def load(cls, pretrained: Pretrained) -> ConditionalTranslator:
        config = cls.config_from_dict(pretrained.config)
        layout = ConditionLayout.from_config(config)
        networks: Mapping[str, nn.Module] = {
            "generator": ConditionalGenerator(config.generator, layout.dim),
            "classifier": ConditionalDiscriminator(config.discriminator, layout.dim),
        }
        load_networks(dict(networks), pretrained.tensors, pretrained.describe())
        return ConditionalTranslator(
            networks["generator"],
            networks["classifier"],
            pretrained.config,
            int(pretrained.fields["image_size"]),
            pretrained.fields.get("metadata"),
            pretrained.card,
            cls.name,
        )
