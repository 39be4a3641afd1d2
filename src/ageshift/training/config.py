"""Training configuration for every family: the family and its model preset, plus the schedule, optimiser,
precision and bookkeeping. Training presets belong to the family (``ModelFamily.train_presets``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import MAX_IMAGE_SIZE, from_dict, load_yaml, merge, parse_overrides, validate_fields, within
from ..errors import ConfigError
from ..models.family import check_model_size
from ..registry import get_family

Precision = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass
class StageConfig:
    """One stage of a progressive-resizing schedule: ``steps`` optimiser steps at ``size²`` images."""

    size: int = field(default=64, metadata=within(1, MAX_IMAGE_SIZE))
    #: the global batch: with N processes (``--devices N``, torchrun) each trains on ``batch_size / N``.
    batch_size: int = field(default=1, metadata=within(1, 65536))
    steps: int = field(default=1000, metadata=within(1))

    def __post_init__(self) -> None:
        validate_fields(self, "stages[]")


@dataclass
class OptimizerSettings:
    """What ``optimizers.<group>`` may override (checked like the top-level keys of the same name)."""

    learning_rate: float = field(default=2e-4, metadata=within(above=0.0))
    betas: tuple[float, float] = field(default=(0.5, 0.999), metadata=within(0.0, below=1.0))


@dataclass
class TrainConfig:
    """Everything that decides a training run (data and output folders are passed separately)."""

    #: the model family (``ageshift.list_models()``).
    family: str = "cyclegan"
    #: the training preset this config started from (recorded for the exported model's summary).
    preset: str = "custom"
    #: the family's model preset (e.g. ``fast`` or ``paper``) and nested overrides of its config.
    model_preset: str = "fast"
    model: dict[str, Any] = field(default_factory=dict)
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    learning_rate: float = field(default=2e-4, metadata=within(above=0.0))
    #: Adam's (β1, β2), each in [0, 1).
    betas: tuple[float, float] = field(default=(0.5, 0.999), metadata=within(0.0, below=1.0))
    #: per-optimiser overrides of ``learning_rate``/``betas``, e.g. ``{"discriminator": {"learning_rate": 4e-4}}``.
    optimizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: fraction of all steps at the full learning rate; it then falls linearly to 0 at the last step.
    constant_fraction: float = field(default=0.5, metadata=within(0.0, 1.0))
    seed: int = 0
    device: str = "auto"
    #: ``auto``: bf16 autocast on CUDA/CPUs with native bf16, fp32 elsewhere (fp32 is bit-exact on resume).
    precision: Precision = "auto"
    compile: bool = False
    flip_probability: float = field(default=0.5, metadata=within(0.0, 1.0))
    #: memory cap for decoded training images (both domains); above it images are decoded per batch.
    cache_mb: float = field(default=1024.0, metadata=within(0.0))
    data_workers: int = field(default=0, metadata=within(0, 256))
    sample_every: int = field(default=500, metadata=within(1))
    sample_count: int = field(default=4, metadata=within(1, 256))
    checkpoint_every: int = field(default=1000, metadata=within(1))
    log_every: int = field(default=50, metadata=within(1))
    keep_checkpoints: int = field(default=3, metadata=within(1))
    #: FID/KID of ``metrics_images`` generated images against as many training images every this many steps
    #: (0: never; only families with ``realism_samples``, e.g. stylegan); logged as ``fid``/``kid``.
    metrics_every: int = field(default=0, metadata=within(0))
    metrics_images: int = field(default=64, metadata=within(2, 50000))
    #: TorchScript feature network for those metrics ("": the packaged TF-Inception FID network).
    metrics_features: str = ""

    def __post_init__(self) -> None:
        validate_fields(self)
        if not self.stages:
            raise ConfigError("stages must list at least one {size, batch_size, steps} stage")
        family = get_family(self.family)  # fails now, not hours later, on a bad family, preset or key
        model = self.model_config()
        check_model_size(family, model, "model")
        for stage in self.stages:
            family.check_stage_size(model, stage.size)
        for name, settings in self.optimizers.items():
            # The same types and ranges as the top-level learning_rate and betas, named by their full key.
            from_dict(OptimizerSettings, settings, where=f"optimizers.{name}")

    @property
    def total_steps(self) -> int:
        """Steps over all stages."""
        return sum(stage.steps for stage in self.stages)

    @property
    def final_size(self) -> int:
        """The image side of the last stage: the size the exported model works at."""
        return self.stages[-1].size

    def model_config(self) -> Any:
        """The family's model config: preset + overrides, with ``image_size`` set to the last stage's size."""
        family = get_family(self.family)
        overrides = self.model
        if "image_size" in {f.name for f in dataclasses.fields(family.config_class)}:
            overrides = merge(self.model, {"image_size": self.final_size})
        return family.model_config(self.model_preset, overrides)

    def optimizer_settings(self, group: str) -> dict[str, Any]:
        """``{"lr", "betas"}`` for one optimiser group."""
        settings = self.optimizers.get(group, {})
        return {
            "lr": float(settings.get("learning_rate", self.learning_rate)),
            "betas": tuple(settings.get("betas", self.betas)),
        }

    def stage_at(self, step: int) -> tuple[int, StageConfig]:
        """The stage index and stage that step number ``step`` (0-based) belongs to."""
        end = 0
        for index, stage in enumerate(self.stages):
            end += stage.steps
            if step < end:
                return index, stage
        return len(self.stages) - 1, self.stages[-1]


def train_config(
    preset: str = "fast",
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] | dict[str, Any] = (),
    family: str = "cyclegan",
) -> TrainConfig:
    """Build a :class:`TrainConfig`: the family's training preset, then a YAML file, then ``key=value`` overrides.

    Args:
        preset: a training preset of the family (``"fast"``, ``"paper"``, …).
        config_file: optional YAML mapping with any :class:`TrainConfig` keys.
        overrides: dotted ``["stages=[{size: 32, batch_size: 2, steps: 10}]", "model.generator.channels=8"]``
            or an already nested dict.
        family: the model family (a YAML file or override may also set ``family``).

    Returns:
        The resolved config; unknown keys raise :class:`ConfigError` naming them.
    """
    presets = get_family(family).train_presets
    if preset not in presets:
        raise ConfigError(
            f"unknown training preset {preset!r} for {family}; choose one of {', '.join(presets) or 'none'}"
        )
    data = {"family": family, "preset": preset, **presets[preset]}
    if config_file is not None:
        data = merge(data, load_yaml(config_file))
    extra = overrides if isinstance(overrides, dict) else parse_overrides(list(overrides))
    return from_dict(TrainConfig, merge(data, extra))


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a config saved with ``to_dict`` (a run's ``config.yaml`` or a checkpoint)."""
    return from_dict(TrainConfig, data)
