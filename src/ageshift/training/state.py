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
    #: distributed training: this process's own generator for what the family draws during a step (``random``
    #: then only flips the data, the same on every process). None for one process: ``random`` does both.
    family_random: torch.Generator | None = None

    @property
    def step_random(self) -> torch.Generator:
        """The generator a family's step draws from (image pools, target labels)."""
        return self.family_random if self.family_random is not None else self.random


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


def scaled_settings(settings: dict[str, Any], ratio: float) -> dict[str, Any]:
    """Adam settings for a group with a lazy regulariser: ``lr · c`` and ``β^c`` (see
    :meth:`~ageshift.models.family.TrainingModel.optimizer_ratios`); ``c = 1`` returns them unchanged."""
    if ratio == 1.0:
        return settings
    return {
        **settings,
        "lr": settings["lr"] * ratio,
        "betas": tuple(beta**ratio for beta in settings["betas"]),
    }


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
    ratios = model.optimizer_ratios()
    for name, parameters in model.optimizer_groups().items():
        # The fused kernel updates all parameters in one pass (a few % of a CPU step); MPS lacks it.
        settings = scaled_settings(config.optimizer_settings(name), ratios.get(name, 1.0))
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


def state_dict(
    state: TrainingState,
    config: TrainConfig,
    data_position: dict[str, Any],
    ranks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The checkpoint payload: tensors and plain values only (``torch.load(weights_only=True)`` reads it).

    ``ranks`` (distributed training) holds each process's :func:`rank_state`; the top-level family state and
    RNG states are rank 0's, so a one-process run resumes it too.
    """
    payload = {
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
    if ranks is not None:
        payload["ranks"] = ranks
    return payload


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


def _on_cpu(value: Any) -> Any:
    """``value`` with every tensor moved to the CPU (so a gathered rank state unpickles on any process)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return value


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The seed of a process's own random states (distributed training): differs by rank and resume step."""
    return (seed * 1_000_003 + 104_729 * (rank + 1) + step) % 2**63


def rank_state(state: TrainingState) -> dict[str, Any]:
    """This process's own part of a distributed checkpoint: family state (image pools), generators, RNG states."""
    return _on_cpu(
        {
            "family_state": state.model.family_state(),
            "rng": capture_rng_state(),
            "family_random": state.step_random.get_state(),
        }
    )


def load_rank_state(
    state: TrainingState, checkpoint: dict[str, Any], rank: int, seed: int, device: torch.device
) -> None:
    """Restore this process's part of a checkpoint (after :func:`load_state_dict` restored the shared part).

    A rank the checkpoint saved gets its own pools and random states back. A rank it lacks (resumed on more
    processes than saved it) keeps the rank-0 pools that :func:`load_state_dict` restored and gets fresh random
    states mixed from the seed, its rank and the step, so no two ranks draw alike.
    """
    mixed = rank_seed(seed, rank, state.step)
    saved = checkpoint.get("ranks")
    if not saved:  # a one-process checkpoint: rank 0 continues its states, the others start fresh ones
        saved = [{"family_state": checkpoint.get("family_state", {}), "rng": checkpoint["rng"]}]
    if rank < len(saved):
        state.model.load_family_state(saved[rank]["family_state"], device)
        restore_rng_state(saved[rank]["rng"])
    else:
        seed_everything(mixed)
    if state.family_random is not None:
        if rank < len(saved) and "family_random" in saved[rank]:
            state.family_random.set_state(saved[rank]["family_random"])
        else:
            state.family_random.manual_seed(mixed)
