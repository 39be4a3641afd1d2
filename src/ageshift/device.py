"""Choosing where to compute: ``resolve_device("auto")`` is CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

from .errors import AgeshiftError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` (CUDA, then Apple MPS, then CPU) or an explicit device name into a device.

    Args:
        name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``.

    Returns:
        The ``torch.device``; an unavailable explicit device raises ``AgeshiftError``.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AgeshiftError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if (device.type == "cuda" and not torch.cuda.is_available()) or (
        device.type == "mps" and not torch.backends.mps.is_available()
    ):
        raise AgeshiftError(f"device {name!r} is not available on this machine; use --device auto or cpu")
    return device
