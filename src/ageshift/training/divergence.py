"""NaN/Inf during training: notice the first non-finite loss cheaply, stop, and name the likely cause."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import to_dict
from ..errors import AgeshiftError
from ..registry import get_family
from .checkpoint import list_checkpoints
from .config import TrainConfig

logger = logging.getLogger(__name__)


class TrainingDiverged(AgeshiftError):
    """A loss (or the weights) became NaN or infinite: training stopped before saving anything non-finite."""

    def __init__(
        self, run_dir: Path, step: int, terms: list[str], checkpoint: Path | None, cause: str
    ) -> None:
        shown = ", ".join(terms[:4]) + (f" and {len(terms) - 4} more" if len(terms) > 4 else "")
        which = f" ({shown})" if terms else ""
        kept = (
            f"the newest checkpoint {checkpoint} holds the last finite weights"
            if checkpoint is not None
            else "no checkpoint had been written yet"
        )
        super().__init__(
            f"training stopped: the loss became NaN or infinite at step {step}{which}; {kept}. "
            f"Likely cause: {cause}"
        )
        self.run_dir, self.step, self.terms, self.checkpoint, self.cause = (
            run_dir,
            step,
            terms,
            checkpoint,
            cause,
        )


@dataclass
class FiniteWatch:
    """Notices the first step whose losses are NaN or infinite without synchronising the device every step.

    Each step records one device-side flag (``isfinite`` of all its losses); :meth:`first_bad_step` reads the
    flags gathered since the last call at once. The trainer calls it at log and checkpoint steps (every step on
    the CPU, where reading costs nothing), so a run stops at most those steps after the first bad one and
    never saves after it.

    Attributes:
        first_step: the step number (completed steps) of ``flags[0]``.
        flags: one 0-d bool tensor per step since the last read.
    """

    first_step: int
    flags: list[torch.Tensor] = field(default_factory=list)

    def record(self, losses: list[torch.Tensor]) -> None:
        """Note whether all of one step's losses (phase losses and logged terms) are finite, on the device."""
        if losses:
            values = torch.cat([value.detach().float().reshape(-1) for value in losses])
            self.flags.append(torch.isfinite(values).all())
        else:
            self.flags.append(torch.ones((), dtype=torch.bool))

    def first_bad_step(self) -> int | None:
        """The first step since the last read whose losses were not all finite, or ``None``."""
        if not self.flags:
            return None
        finite = torch.stack(self.flags).cpu()
        start, self.flags = self.first_step, []
        self.first_step += len(finite)
        if bool(finite.all()):
            return None
        return start + int((~finite).nonzero()[0])


def diverged(
    run_dir: Path, step: int, terms: list[str], config: TrainConfig, model_config: Any, precision: str
) -> TrainingDiverged:
    """The error to raise for a run whose losses became non-finite at ``step`` (also logged to train.log)."""
    checkpoints = list_checkpoints(run_dir)
    cause = likely_cause(config, model_config, precision)
    # info, not error: the raised TrainingDiverged is what the user sees; this keeps it in train.log.
    logger.info("stopping: non-finite loss at step %d (%s); likely cause: %s", step, ", ".join(terms), cause)
    return TrainingDiverged(run_dir, step, terms, checkpoints[-1] if checkpoints else None, cause)


#: The learning rate of the training presets; a run far above it is the usual reason a GAN diverges.
PRESET_LEARNING_RATE = 2e-4


def likely_cause(config: TrainConfig, model_config: Any, precision: str) -> str:
    """Which config value most likely made a run's losses non-finite, as advice naming the key.

    The candidates are the learning rates (against the presets' 2e-4) and every loss weight or other number
    of the model config (against the family's default); the one furthest above its reference (at least 10×)
    wins. Without one, fp16's narrow range is blamed when it is on, else the learning rate.

    Returns:
        e.g. ``"learning_rate=10 is 50000× the presets' 0.0002: lower it"``.
    """
    suspects: list[tuple[float, str]] = []
    rates = {"learning_rate": config.learning_rate}
    for group, settings in config.optimizers.items():
        if "learning_rate" in settings:
            rates[f"optimizers.{group}.learning_rate"] = float(settings["learning_rate"])
    for key, value in rates.items():
        ratio = value / PRESET_LEARNING_RATE
        if ratio >= 10:
            suspects.append(
                (ratio, f"{key}={value:g} is {ratio:.3g}× the presets' {PRESET_LEARNING_RATE:g}: lower it")
            )
    defaults = _flat(to_dict(get_family(config.family).config_class()))
    for key, value in _flat(to_dict(model_config)).items():
        default = defaults.get(key)
        if isinstance(value, float) and isinstance(default, float) and value > 0:
            ratio = value / default if default > 0 else value
            if ratio >= 10:
                suspects.append(
                    (ratio, f"model.{key}={value:g} is {ratio:.3g}× its default {default:g}: lower it")
                )
    if suspects:
        return max(suspects)[1]
    if precision == "fp16":
        return "precision fp16 (its small range overflows easily): train with precision=bf16 or fp32"
    return (
        f"learning_rate={config.learning_rate:g} (try a lower one) or precision {precision} "
        "(try precision=fp32)"
    )


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
