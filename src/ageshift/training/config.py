"""Training configuration: the model preset plus the schedule, optimiser, precision and bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import from_dict, load_yaml, merge, parse_overrides
from ..errors import ConfigError
from ..models.cyclegan import CycleGANConfig, cyclegan_config

Precision = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass
class StageConfig:
    """One stage of a progressive-resizing schedule: ``steps`` optimiser steps at ``size²`` images."""

    size: int = 64
    batch_size: int = 1
    steps: int = 1000

    def __post_init__(self) -> None:
        for name in ("size", "batch_size", "steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"stages[].{name} must be > 0, got {getattr(self, name)}")


@dataclass
class TrainConfig:
    """Everything that decides a CycleGAN training run (data and output folders are passed separately)."""

    #: the training preset this config started from (recorded for the exported model's summary).
    preset: str = "custom"
    #: model preset (``fast`` or ``paper``, see ``ageshift.models.cyclegan.PRESETS``) and nested overrides.
    model_preset: str = "fast"
    model: dict[str, Any] = field(default_factory=dict)
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    #: fraction of all steps at the full learning rate; it then falls linearly to 0 at the last step.
    constant_fraction: float = 0.5
    seed: int = 0
    device: str = "auto"
    #: ``auto``: bf16 autocast on CUDA/CPUs with native bf16, fp32 elsewhere (fp32 is bit-exact on resume).
    precision: Precision = "auto"
    compile: bool = False
    flip_probability: float = 0.5
    #: memory cap for decoded training images (both domains); above it images are decoded per batch.
    cache_mb: float = 1024.0
    data_workers: int = 0
    sample_every: int = 500
    sample_count: int = 4
    checkpoint_every: int = 1000
    log_every: int = 50
    keep_checkpoints: int = 3

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError("stages must list at least one {size, batch_size, steps} stage")
        if not 0.0 <= self.constant_fraction <= 1.0:
            raise ConfigError(f"constant_fraction must be in [0, 1], got {self.constant_fraction}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        for name in ("sample_every", "checkpoint_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.flip_probability <= 1.0:
            raise ConfigError(f"flip_probability must be in [0, 1], got {self.flip_probability}")
        model = self.model_config()  # fails now, not hours later, on a bad preset or model key
        for stage in self.stages:
            check_stage_size(stage.size, model)

    @property
    def total_steps(self) -> int:
        """Steps over all stages."""
        return sum(stage.steps for stage in self.stages)

    @property
    def final_size(self) -> int:
        """The image side of the last stage: the size the exported model works at."""
        return self.stages[-1].size

    def model_config(self) -> CycleGANConfig:
        """The model's config: preset + overrides, with ``image_size`` set to the last stage's size."""
        return cyclegan_config(self.model_preset, merge(self.model, {"image_size": self.final_size}))

    def stage_at(self, step: int) -> tuple[int, StageConfig]:
        """The stage index and stage that step number ``step`` (0-based) belongs to."""
        end = 0
        for index, stage in enumerate(self.stages):
            end += stage.steps
            if step < end:
                return index, stage
        return len(self.stages) - 1, self.stages[-1]


def check_stage_size(size: int, model: CycleGANConfig) -> None:
    """Refuse image sizes the networks cannot take: the generator's stride and the PatchGAN's depth."""
    multiple = 2**model.generator.num_downsamples
    if size % multiple:
        raise ConfigError(f"stage size {size} must be divisible by 2**num_downsamples = {multiple}")
    side = size
    for _ in range(model.discriminator.num_layers):
        side = (side - 2) // 2 + 1  # 4×4 convolutions, stride 2, padding 1
    if side - 1 < 2:  # the stride-1 layer must leave more than one pixel for its instance norm
        raise ConfigError(
            f"stage size {size} is too small for a {model.discriminator.num_layers}-layer PatchGAN "
            f"discriminator (use at least {3 * 2**model.discriminator.num_layers} or fewer layers)"
        )


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
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


def train_config(
    preset: str = "fast",
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] | dict[str, Any] = (),
) -> TrainConfig:
    """Build a :class:`TrainConfig`: preset, then a YAML file, then ``key=value`` overrides.

    Args:
        preset: ``"fast"`` or ``"paper"``.
        config_file: optional YAML mapping with any :class:`TrainConfig` keys.
        overrides: dotted ``["stages=[{size: 32, batch_size: 2, steps: 10}]", "model.generator.channels=8"]``
            or an already nested dict.

    Returns:
        The resolved config; unknown keys raise :class:`ConfigError` naming them.
    """
    if preset not in TRAIN_PRESETS:
        raise ConfigError(f"unknown training preset {preset!r}; choose one of {', '.join(TRAIN_PRESETS)}")
    data = {"preset": preset, **TRAIN_PRESETS[preset]}
    if config_file is not None:
        data = merge(data, load_yaml(config_file))
    extra = overrides if isinstance(overrides, dict) else parse_overrides(list(overrides))
    return from_dict(TrainConfig, merge(data, extra))


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a config saved with ``to_dict`` (a run's ``config.yaml`` or a checkpoint)."""
    return from_dict(TrainConfig, data)
