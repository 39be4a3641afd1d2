"""Training: the phase-based CycleGAN trainer, its config, run directory, checkpoints and export."""

from .checkpoint import list_checkpoints, load_checkpoint, load_latest_checkpoint
from .config import TRAIN_PRESETS, StageConfig, TrainConfig, train_config
from .export import export_run
from .phases import discriminator_phase, generator_phase, resolve_precision
from .state import TrainingState, build_state
from .trainer import TrainingInterrupted, train, train_step

__all__ = [
    "TRAIN_PRESETS",
    "StageConfig",
    "TrainConfig",
    "TrainingInterrupted",
    "TrainingState",
    "build_state",
    "discriminator_phase",
    "export_run",
    "generator_phase",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest_checkpoint",
    "resolve_precision",
    "train",
    "train_config",
    "train_step",
]
