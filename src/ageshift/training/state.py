"""Everything a CycleGAN run changes while it trains, in one object that saves and restores exactly."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from ..config import to_dict
from ..data import EpochSampler
from ..losses import ImagePool
from ..models.cyclegan import CycleGAN
from .checkpoint import capture_rng_state, restore_rng_state
from .config import TrainConfig
from .phases import Precision


@dataclass
class TrainingState:
    """The model, its optimisers and schedules, gradient scalers, image pools, randomness and data position.

    ``random`` drives the data flips and the image pools; the samplers decide the batches from the seed
    alone. Together with the global RNG states these make a resumed run replay an uninterrupted one.
    """

    model: CycleGAN
    optimizer_g: torch.optim.Adam
    optimizer_d: torch.optim.Adam
    scheduler_g: torch.optim.lr_scheduler.LambdaLR
    scheduler_d: torch.optim.lr_scheduler.LambdaLR
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    pool_old: ImagePool
    pool_young: ImagePool
    random: torch.Generator
    samplers: dict[str, EpochSampler]
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


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
    config: TrainConfig, device: torch.device, precision: Precision, domain_sizes: dict[str, int]
) -> TrainingState:
    """Create a fresh state: seeded initialisation, Adam optimisers, LR schedules, pools and samplers.

    Args:
        config: the training config.
        device: where the networks live.
        precision: the resolved precision (decides whether gradient scalers are on).
        domain_sizes: number of readable training images per domain (``{"A": n, "B": m}``).

    Returns:
        A :class:`TrainingState` at step 0.
    """
    seed_everything(config.seed)
    model_config = config.model_config()
    model = CycleGAN(model_config).to(device)
    generator_parameters = [*model.generator_older.parameters(), *model.generator_younger.parameters()]
    # The fused kernel updates all parameters in one pass (a few % of a CPU step); MPS lacks it.
    adam = {"lr": config.learning_rate, "betas": config.betas, "fused": device.type in ("cpu", "cuda")}
    optimizer_g = torch.optim.Adam(generator_parameters, **adam)
    optimizer_d = torch.optim.Adam(model.discriminators().parameters(), **adam)
    total, constant = config.total_steps, config.constant_fraction

    def schedule(step: int) -> float:
        return learning_rate_factor(step, total, constant)

    scaler_device = device.type if device.type in ("cuda", "cpu") else "cuda"
    return TrainingState(
        model=model,
        optimizer_g=optimizer_g,
        optimizer_d=optimizer_d,
        scheduler_g=torch.optim.lr_scheduler.LambdaLR(optimizer_g, schedule),
        scheduler_d=torch.optim.lr_scheduler.LambdaLR(optimizer_d, schedule),
        scaler_g=torch.amp.GradScaler(scaler_device, enabled=precision.scale_gradients),
        scaler_d=torch.amp.GradScaler(scaler_device, enabled=precision.scale_gradients),
        pool_old=ImagePool(model_config.pool_size),
        pool_young=ImagePool(model_config.pool_size),
        random=torch.Generator().manual_seed(config.seed),
        samplers={
            name: EpochSampler(count, config.seed, salt=index)
            for index, (name, count) in enumerate(sorted(domain_sizes.items()))
        },
    )


def state_dict(state: TrainingState, config: TrainConfig) -> dict[str, Any]:
    """The checkpoint payload: tensors and plain values only (``torch.load(weights_only=True)`` reads it)."""
    return {
        "step": state.step,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "stage": config.stage_at(state.step)[0],
        "config": to_dict(config),
        "model": state.model.state_dict(),
        "optimizer_g": state.optimizer_g.state_dict(),
        "optimizer_d": state.optimizer_d.state_dict(),
        "scheduler_g": state.scheduler_g.state_dict(),
        "scheduler_d": state.scheduler_d.state_dict(),
        "scaler_g": state.scaler_g.state_dict(),
        "scaler_d": state.scaler_d.state_dict(),
        "pools": {"old": state.pool_old.state_dict(), "young": state.pool_young.state_dict()},
        "rng": {**capture_rng_state(), "trainer": state.random.get_state()},
        "data_position": {name: sampler.state_dict() for name, sampler in state.samplers.items()},
        **state.extra,
    }


def load_state_dict(state: TrainingState, checkpoint: dict[str, Any], device: torch.device) -> None:
    """Restore a checkpoint payload into ``state`` (built by :func:`build_state` with the same config)."""
    state.model.load_state_dict(checkpoint["model"])
    state.optimizer_g.load_state_dict(checkpoint["optimizer_g"])
    state.optimizer_d.load_state_dict(checkpoint["optimizer_d"])
    state.scheduler_g.load_state_dict(checkpoint["scheduler_g"])
    state.scheduler_d.load_state_dict(checkpoint["scheduler_d"])
    if checkpoint["scaler_g"]:
        state.scaler_g.load_state_dict(checkpoint["scaler_g"])
        state.scaler_d.load_state_dict(checkpoint["scaler_d"])
    state.pool_old.load_state_dict(checkpoint["pools"]["old"], device)
    state.pool_young.load_state_dict(checkpoint["pools"]["young"], device)
    for name, sampler in state.samplers.items():
        sampler.load_state_dict(checkpoint["data_position"][name])
    state.random.set_state(checkpoint["rng"]["trainer"])
    restore_rng_state(checkpoint["rng"])
    state.step = int(checkpoint["step"])
