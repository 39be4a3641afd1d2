"""Precision choice and the optimiser step shared by every family's phases (the phases live with the family)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import ConfigError


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16/AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class Precision:
    """How a run computes: ``autocast_dtype`` None means plain fp32; ``scale_gradients`` for fp16."""

    name: str
    autocast_dtype: torch.dtype | None
    scale_gradients: bool

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """The autocast context for forward passes (a no-op for fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)


def resolve_precision(name: str, device: torch.device) -> Precision:
    """Turn ``auto|fp32|bf16|fp16`` into a :class:`Precision` for ``device``.

    ``auto`` is bf16 on CUDA GPUs that support it and on CPUs with native bf16, fp16 on other GPUs,
    fp32 elsewhere (bf16 emulated on older CPUs is several times slower than fp32).
    """
    if name == "auto":
        if device.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif device.type == "cpu" and cpu_has_native_bf16():
            name = "bf16"
        else:
            name = "fp32"
    if name == "fp32":
        return Precision("fp32", None, False)
    if name == "bf16":
        return Precision("bf16", torch.bfloat16, False)
    if name == "fp16":
        if device.type == "cpu":
            raise ConfigError("precision fp16 is not supported on the CPU; use bf16 or fp32")
        return Precision("fp16", torch.float16, True)
    raise ConfigError(f"unknown precision {name!r}; choose one of auto, fp32, bf16, fp16")


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    reduce_gradients: Callable[[torch.optim.Optimizer], None] | None = None,
) -> None:
    """Backward ``loss`` and update ``optimizer``'s parameters (gradient scaling when ``scaler`` is on).

    ``reduce_gradients`` (distributed training: average over processes) runs between backward and step; the
    gradients are still scaled then, by the same factor on every process, so averaging them is exact.
    """
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if reduce_gradients is not None:
        reduce_gradients(optimizer)
    scaler.step(optimizer)
    scaler.update()
