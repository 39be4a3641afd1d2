"""Everything a run changes while it trains, in one object that saves and restores exactly, for any family."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from ..config import to_dict
from ..errors import ModelLoadError
from ..models.family import TrainingModel
from ..registry import get_family
from .checkpoint import capture_rng_state, restore_rng_state
from .config import TrainConfig
from .phases import Precision


@dataclass
class TrainingState:
    """The model, one optimiser, schedule and gradient scaler per optimiser group, randomness and step.

    ``random`` drives the data flips and whatever the family draws during a step (image pools, target
    labels); the data samplers decide the batches from the seed alone. Together with the global RNG
    states these make a resumed run replay an uninterrupted one.
    """

    model: TrainingModel
    model_config: Any
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR]
    scalers: dict[str, torch.amp.GradScaler]
    random: torch.Generator
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: the losses the last step minimised, one per phase run (detached; checked for NaN, never saved).
    phase_losses: list[torch.Tensor] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so weight initialisation and dropout repeat."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def learning_rate_factor(step: int, total_steps: int, constant_fraction: float) -> float:
    """Constant, then linear decay to 0 at ``total_steps`` (CycleGAN's schedule, by steps not epochs)."""
    constant_steps = int(round(total_steps * constant_fraction))
    if step < constant_steps:
        return 1.0
    return max(0.0, (total_steps - step) / max(1, total_steps - constant_steps))


def build_state(
    config: TrainConfig, device: torch.device, precision: Precision, model_config: Any
) -> TrainingState:
    """Create a fresh state: seeded initialisation, one Adam optimiser, LR schedule and scaler per group.

    Args:
        config: the training config.
        device: where the networks live.
        precision: the resolved precision (decides whether gradient scalers are on).
        model_config: the family's config, already adapted to the data (``ModelFamily.adapt_to_data``).

    Returns:
        A :class:`TrainingState` at step 0.
    """
    seed_everything(config.seed)
    model = get_family(config.family).build(model_config).to(device)
    total, constant = config.total_steps, config.constant_fraction

    def schedule(step: int) -> float:
        return learning_rate_factor(step, total, constant)

    scaler_device = device.type if device.type in ("cuda", "cpu") else "cuda"
    optimizers: dict[str, torch.optim.Optimizer] = {}
    schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
    scalers: dict[str, torch.amp.GradScaler] = {}
    for name, parameters in model.optimizer_groups().items():
        # The fused kernel updates all parameters in one pass (a few % of a CPU step); MPS lacks it.
        settings = config.optimizer_settings(name)
        optimizers[name] = torch.optim.Adam(parameters, **settings, fused=device.type in ("cpu", "cuda"))
        schedulers[name] = torch.optim.lr_scheduler.LambdaLR(optimizers[name], schedule)
        scalers[name] = torch.amp.GradScaler(scaler_device, enabled=precision.scale_gradients)
    return TrainingState(
        model=model,
        model_config=model_config,
        optimizers=optimizers,
        schedulers=schedulers,
        scalers=scalers,
        random=torch.Generator().manual_seed(config.seed),
    )


def state_dict(state: TrainingState, config: TrainConfig, data_position: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint payload: tensors and plain values only (``torch.load(weights_only=True)`` reads it)."""
    return {
        "step": state.step,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "stage": config.stage_at(state.step)[0],
        "family": config.family,
        "config": to_dict(config),
        "model_config": to_dict(state.model_config),
        "model": state.model.state_dict(),
        "optimizers": {name: optimizer.state_dict() for name, optimizer in state.optimizers.items()},
        "schedulers": {name: scheduler.state_dict() for name, scheduler in state.schedulers.items()},
        "scalers": {name: scaler.state_dict() for name, scaler in state.scalers.items()},
        "family_state": state.model.family_state(),
        "rng": {**capture_rng_state(), "trainer": state.random.get_state()},
        "data_position": data_position,
        **state.extra,
    }


def upgrade_checkpoint(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints of ageshift 0.1 (CycleGAN only, ``optimizer_g``/``optimizer_d``) in today's layout."""
    if "optimizers" in checkpoint:
        return checkpoint
    upgraded = dict(checkpoint)
    upgraded["family"] = "cyclegan"
    for new, old in (("optimizers", "optimizer"), ("schedulers", "scheduler"), ("scalers", "scaler")):
        upgraded[new] = {"generator": checkpoint[f"{old}_g"], "discriminator": checkpoint[f"{old}_d"]}
    upgraded["family_state"] = {"pools": checkpoint["pools"]}
    return upgraded


def load_state_dict(state: TrainingState, checkpoint: dict[str, Any], device: torch.device) -> None:
    """Restore a checkpoint payload into ``state`` (built by :func:`build_state` with the same config).

    Raises:
        ModelLoadError: the checkpoint lacks an entry or holds a tensor whose shape does not fit ``state``
            (nothing half-restored is used: the caller falls back to an older checkpoint or stops).
    """
    checkpoint = upgrade_checkpoint(checkpoint)
    missing = set(state.optimizers) - set(checkpoint["optimizers"])
    if missing:
        raise ModelLoadError(
            f"checkpoint lacks optimiser state for {sorted(missing)}; it is of another model"
        )
    state.model.load_state_dict(checkpoint["model"])
    for name in state.optimizers:
        state.optimizers[name].load_state_dict(checkpoint["optimizers"][name])
        _check_optimizer_shapes(state.optimizers[name], name)
        state.schedulers[name].load_state_dict(checkpoint["schedulers"][name])
        if checkpoint["scalers"].get(name):
            state.scalers[name].load_state_dict(checkpoint["scalers"][name])
    state.model.load_family_state(checkpoint.get("family_state", {}), device)
    state.random.set_state(checkpoint["rng"]["trainer"])
    restore_rng_state(checkpoint["rng"])
    state.step = int(checkpoint["step"])


def _check_optimizer_shapes(optimizer: torch.optim.Optimizer, name: str) -> None:
    """``Optimizer.load_state_dict`` takes moment tensors of any shape; a wrong one would fail steps later."""
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for key, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor) and value.ndim and value.shape != parameter.shape:
                    raise ModelLoadError(
                        f"optimiser {name!r} state {key!r} has shape {tuple(value.shape)}, its parameter "
                        f"{tuple(parameter.shape)}"
                    )
