"""Training checkpoints: the full state needed to resume bit-exactly, written atomically, loaded safely.

Everything is stored as tensors and plain Python values, so ``torch.load(weights_only=True)`` reads it
and a checkpoint can never run code.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
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
#: Temporary files of :func:`ageshift.io.atomic_write` (``.NAME.XXXX.tmp``) that a killed write left behind.
TEMPORARY_PATTERN = re.compile(r"^\..+\.tmp$")
#: What every checkpoint holds (after :func:`ageshift.training.state.upgrade_checkpoint`), with its type.
REQUIRED_KEYS: dict[str, type | tuple[type, ...]] = {"step": int, "config": dict, "model": dict}


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
    version = state.get("version", 0)
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise ModelLoadError(f"{path}: checkpoint version {version!r} is newer than this ageshift")
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise ModelLoadError(
                f"{path}: checkpoint lacks a valid {key!r} entry (a damaged or foreign file)"
            )
    return state


def load_latest_checkpoint(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of a run that loads, skipping (with a warning) any that do not.

    Raises:
        ModelLoadError: the run has no loadable checkpoint.
    """
    path, state, _ = use_latest_checkpoint(run_dir, lambda path, state: None)
    return path, state


def use_latest_checkpoint(
    run_dir: Path,
    use: Callable[[Path, dict[str, Any]], Any],
    preloaded: tuple[Path, dict[str, Any]] | None = None,
) -> tuple[Path, dict[str, Any], Any]:
    """The newest checkpoint that loads *and* that ``use`` accepts, falling back to older ones with a warning.

    A checkpoint can read fine and still not fit (a missing entry, a tensor of the wrong shape): ``use`` (e.g.
    restoring it into the run's networks) finds that out, and the previous checkpoint is tried instead, as
    for an unreadable file.

    Args:
        run_dir: the run folder.
        use: called with ``(path, checkpoint)``; its result is returned. It raises :class:`ModelLoadError` (or
            the ``KeyError``/``RuntimeError``/… of a checkpoint that does not fit) to reject the checkpoint.
        preloaded: a ``(path, checkpoint)`` already read, tried first instead of reading it again.

    Returns:
        ``(path, checkpoint, use's result)``.

    Raises:
        ModelLoadError: no checkpoint of the run loads and fits.
    """
    candidates = list_checkpoints(run_dir)
    if preloaded is not None:
        candidates = [path for path in candidates if int(_step_of(path)) <= int(_step_of(preloaded[0]))]
    for path in reversed(candidates):
        try:
            state = preloaded[1] if preloaded is not None and path == preloaded[0] else load_checkpoint(path)
            return path, state, using_checkpoint(use, path, state)
        except ModelLoadError as error:
            logger.warning("skipping %s", error)
    raise ModelLoadError(
        f"{run_dir}: no loadable checkpoint in {run_dir / 'checkpoints'} "
        f"({len(candidates)} found; a run saves one every checkpoint_every steps and when interrupted)"
    )


def _step_of(path: Path) -> int:
    match = CHECKPOINT_PATTERN.match(path.name)
    return int(match.group(1)) if match else -1


def using_checkpoint(use: Callable[[Path, dict[str, Any]], Any], path: Path, state: dict[str, Any]) -> Any:
    """``use(path, state)``, with any sign that the checkpoint does not fit turned into a ModelLoadError naming it."""
    try:
        return use(path, state)
    except ModelLoadError as error:
        text = str(error)
        raise ModelLoadError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        detail = f"missing {error}" if isinstance(error, KeyError) else " ".join(str(error).split())[:300]
        raise ModelLoadError(f"{path}: checkpoint does not fit this run's networks ({detail})") from None


def clean_temporary_files(run_dir: Path) -> list[Path]:
    """Delete what killed atomic writes left in a run folder (``.NAME.XXXX.tmp``); call it holding the run's lock.

    Returns:
        The files removed.
    """
    removed = []
    for folder in (run_dir, run_dir / "checkpoints", run_dir / "samples"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if TEMPORARY_PATTERN.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        logger.info("removed %d temporary file(s) of an interrupted write in %s", len(removed), run_dir)
    return removed
