"""Training for every model family: the phase-based trainer, its config, data, run directory, checkpoints, export."""

from .checkpoint import list_checkpoints, load_checkpoint, load_latest_checkpoint
from .config import StageConfig, TrainConfig, train_config
from .data import LabelledData, TrainingData, UnpairedData, open_training_data
from .divergence import TrainingDiverged
from .export import export_run
from .phases import resolve_precision
from .state import TrainingState, build_state
from .trainer import TrainingInterrupted, train, train_step

__all__ = [
    "LabelledData",
    "StageConfig",
    "TrainConfig",
    "TrainingData",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TrainingState",
    "UnpairedData",
    "build_state",
    "export_run",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest_checkpoint",
    "open_training_data",
    "resolve_precision",
    "train",
    "train_config",
    "train_step",
]
