"""Training checkpoints: the full state needed to resume bit-exactly, written atomically, loaded safely.

Everything is stored as tensors and plain Python values, so ``torch.load(weights_only=True)`` reads it
and a checkpoint can never run code.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ModelLoadError
from ..io import atomic_write

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "ageshift-train-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_PATTERN = re.compile(r"^step-(\d+)\.pt$")


def capture_rng_state() -> dict[str, Any]:
    """The global random states of Python, NumPy and torch (CPU and CUDA) as weights-only-safe values."""
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_path(run_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives: ``run_dir/checkpoints/step-NNNNNNN.pt``."""
    return run_dir / "checkpoints" / f"step-{step:07d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """The run's complete checkpoints, oldest first (temporary files of an interrupted write are ignored)."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [path for path in folder.iterdir() if CHECKPOINT_PATTERN.match(path.name)]
    return sorted(found, key=lambda path: int(CHECKPOINT_PATTERN.match(path.name).group(1)))  # type: ignore[union-attr]


def save_checkpoint(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` atomically as the checkpoint of ``step`` and delete all but the newest ``keep``.

    Args:
        run_dir: the run folder.
        step: number of completed steps.
        state: tensors and plain values only.
        keep: how many checkpoints to keep (the newest).

    Returns:
        The checkpoint's path.
    """
    path = checkpoint_path(run_dir, step)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    with atomic_write(path) as stream:
        torch.save(payload, stream)
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``.

    Raises:
        ModelLoadError: the file is missing, corrupt or not an ageshift training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise ModelLoadError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(f"{path}: not an ageshift training checkpoint")
    if state.get("version", 0) > CHECKPOINT_VERSION:
        raise ModelLoadError(f"{path}: checkpoint version {state['version']} is newer than this ageshift")
    return state


def load_latest_checkpoint(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of a run that loads, skipping (with a warning) any that do not.

    Raises:
        ModelLoadError: the run has no loadable checkpoint.
    """
    candidates = list_checkpoints(run_dir)
    for path in reversed(candidates):
        try:
            return path, load_checkpoint(path)
        except ModelLoadError as error:
            logger.warning("skipping %s", error)
    raise ModelLoadError(
        f"{run_dir}: no loadable checkpoint in {run_dir / 'checkpoints'} "
        f"({len(candidates)} found; a run saves one every checkpoint_every steps and when interrupted)"
    )
