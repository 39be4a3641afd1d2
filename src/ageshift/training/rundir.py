"""The run directory: ``RUNS/NNN-name/`` with config, log, metrics (CSV, JSONL, TensorBoard), samples, checkpoints."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..errors import AgeshiftError, DataError, ModelLoadError
from ..io import atomic_write
from .checkpoint import list_checkpoints

RUN_PATTERN = re.compile(r"^(\d{3,})-")
LOG_FILE = "train.log"
CONFIG_FILE = "config.yaml"
DATASET_FILE = "dataset.json"
#: Held (``flock``) by the process training the run; it holds that process's id.
LOCK_FILE = ".lock"


def create_run_dir(runs_dir: str | Path, name: str) -> Path:
    """Make the next numbered run folder ``runs_dir/NNN-name`` (001, 002, …) with its sub-folders.

    Args:
        runs_dir: parent folder of all runs (created).
        name: a short label; characters other than letters, digits, ``-_.`` become ``-``.

    Returns:
        The new, empty run folder.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    number = max((run_number(path) for path in runs_dir.iterdir()), default=0) + 1
    while True:
        run_dir = runs_dir / f"{number:03d}-{label}"
        try:
            run_dir.mkdir()  # exist_ok=False: two runs started at once never share a folder
            break
        except FileExistsError:
            number += 1
    for sub in ("samples", "checkpoints"):
        (run_dir / sub).mkdir()
    return run_dir


def run_number(path: Path) -> int:
    """The run number of a ``NNN-name`` folder, 0 for anything else."""
    match = RUN_PATTERN.match(path.name)
    return int(match.group(1)) if match and path.is_dir() else 0


def latest_run(runs_dir: str | Path) -> Path:
    """The highest-numbered run folder in ``runs_dir`` that has a checkpoint to resume from.

    Runs without one (a start that failed or was killed before its first checkpoint) are skipped, so
    ``--resume`` never picks an empty folder over a good older run.

    Raises:
        DataError: when ``runs_dir`` holds no run with a checkpoint.
    """
    runs_dir = Path(runs_dir)
    runs = [path for path in runs_dir.iterdir() if run_number(path)] if runs_dir.is_dir() else []
    if not runs:
        raise DataError(f"{runs_dir}: no training runs to resume (expected NNN-name folders)")
    resumable = [path for path in runs if list_checkpoints(path)]
    if not resumable:
        raise ModelLoadError(
            f"{runs_dir}: no loadable checkpoint in any run ({len(runs)} run folder(s), none with "
            "checkpoints/step-*.pt); start a new run with --data"
        )
    newest = max(resumable, key=run_number)
    skipped = [path.name for path in runs if run_number(path) > run_number(newest)]
    if skipped:
        logging.getLogger(__name__).warning(
            "resuming %s: newer run folder(s) %s have no checkpoint", newest.name, ", ".join(skipped)
        )
    return newest


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on a run folder while it trains, so a second trainer of it stops at once.

    The lock is ``flock`` on ``run_dir/.lock``: the system drops it when the process ends, however it ends,
    so a killed trainer never leaves a stale lock. (Without ``fcntl``, e.g. on Windows, nothing is locked.)

    Raises:
        AgeshiftError: the run is being trained by another process (named by its id).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = run_dir / LOCK_FILE
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:  # a read-only or foreign folder: training could not write there either
        raise AgeshiftError(
            f"{run_dir}: cannot train in this run folder ({error.strerror or error})"
        ) from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(descriptor, 32).decode("ascii", "replace").strip() or "unknown"
            raise AgeshiftError(
                f"run {run_dir} is being trained by process {owner}; wait for it to finish or stop it first"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def write_run_files(run_dir: Path, config: dict[str, Any], data_dir: Path | None) -> None:
    """Write the resolved ``config.yaml`` and copy ``DATA/dataset.json`` when there is one."""
    with atomic_write(run_dir / CONFIG_FILE, "w") as stream:
        yaml.safe_dump(config, stream, sort_keys=False)
    source = data_dir / DATASET_FILE if data_dir is not None else None
    if source is not None and source.is_file():
        with atomic_write(run_dir / DATASET_FILE) as stream:
            stream.write(source.read_bytes())


def read_dataset_info(run_dir: Path) -> dict[str, Any]:
    """The run's copy of ``dataset.json`` as a dict; empty when the data had none or it is unreadable."""
    path = run_dir / DATASET_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        logging.getLogger(__name__).warning("%s: not valid JSON; exporting without domain metadata", path)
        return {}
    return info if isinstance(info, dict) else {}


class MetricsWriter:
    """Appends metric rows to ``metrics.csv``, ``metrics.jsonl`` and TensorBoard (when installed).

    Args:
        run_dir: the run folder.
        tensorboard: write TensorBoard events to ``run_dir/tensorboard`` if the package is available.
    """

    def __init__(
        self,
        run_dir: Path,
        tensorboard: bool = True,
        resume_step: int | None = None,
        extra_columns: tuple[str, ...] = (),
    ) -> None:
        #: CSV columns of values that only some rows carry (the first row fixes the others).
        self.extra_columns = extra_columns
        self.csv_path = run_dir / "metrics.csv"
        self.jsonl_path = run_dir / "metrics.jsonl"
        if resume_step is not None:
            self.truncate(resume_step)
        self.columns: list[str] | None = _existing_columns(self.csv_path)
        # purge_step hides the events of the steps a crash lost (TensorBoard drops those >= it on reading).
        self.events = _open_tensorboard(run_dir / "tensorboard") if tensorboard else None
        if self.events is not None and resume_step is not None:
            _purge_tensorboard(self.events, resume_step + 1)

    def truncate(self, step: int) -> None:
        """Drop the rows after ``step`` (those of steps a crash lost before the checkpoint being resumed)."""
        if self.csv_path.is_file():
            with self.csv_path.open(newline="", encoding="utf-8") as stream:
                rows = list(csv.reader(stream))
            kept = rows[:1] + [row for row in rows[1:] if _row_step(row[0] if row else "") <= step]
            if len(kept) != len(rows):
                buffer = io.StringIO()
                csv.writer(buffer).writerows(kept)
                with atomic_write(self.csv_path, "w") as stream:
                    stream.write(buffer.getvalue())
        if self.jsonl_path.is_file():
            lines = self.jsonl_path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept_lines = [line for line in lines if _json_step(line) <= step]
            if len(kept_lines) != len(lines):
                with atomic_write(self.jsonl_path, "w") as stream:
                    stream.write("".join(kept_lines))

    def write(self, step: int, values: dict[str, float]) -> None:
        """Record ``values`` at ``step`` (the first row fixes the CSV columns)."""
        row = {"step": step, **values}
        if self.columns is None:
            self.columns = list(row) + [key for key in self.extra_columns if key not in row]
            with self.csv_path.open("w", newline="", encoding="utf-8") as stream:
                csv.writer(stream).writerow(self.columns)
        buffer = io.StringIO()
        csv.writer(buffer).writerow([_format(row.get(column, "")) for column in self.columns])
        with self.csv_path.open("a", newline="", encoding="utf-8") as stream:
            stream.write(buffer.getvalue())
        with self.jsonl_path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(row) + "\n")
        if self.events is not None:
            for key, value in values.items():
                self.events.add_scalar(key, value, step)

    def add_image(self, tag: str, image_chw_uint8: Any, step: int) -> None:
        """Log a ``(3, H, W)`` uint8 image to TensorBoard (no-op without it)."""
        if self.events is not None:
            self.events.add_image(tag, image_chw_uint8, step, dataformats="CHW")

    def close(self) -> None:
        """Flush and close TensorBoard events."""
        if self.events is not None:
            self.events.close()
            self.events = None


def _row_step(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # a torn last line of a killed write
        return float("inf")


def _json_step(line: str) -> float:
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return float("inf")
    return float(step) if isinstance(step, (int, float)) else float("inf")


def _format(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _existing_columns(path: Path) -> list[str] | None:
    # A resumed run appends to its CSV under the header it already has.
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as stream:
        header = next(csv.reader(stream), None)
    return header or None


def _purge_tensorboard(events: Any, step: int) -> None:
    """Hide the events at ``step`` and after from TensorBoard (what ``SummaryWriter(purge_step=step)`` writes)."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog  # type: ignore[import-untyped]

        writer = events._get_file_writer()
        writer.add_event(Event(step=step, file_version="brain.Event:2"))
        writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))
    except (ImportError, AttributeError):  # another writer: its rows stay, the CSV and JSONL are truncated
        pass


def _open_tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn(
            "TensorBoard logging is off: install it with pip install 'ageshift[train]' "
            "(metrics.csv and metrics.jsonl are still written)",
            stacklevel=3,
        )
        return None
    return SummaryWriter(log_dir=str(folder))


def attach_log_file(run_dir: Path) -> logging.Handler:
    """Send ``ageshift`` log records to ``run_dir/train.log``; returns the handler to detach later."""
    handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("ageshift")
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def detach_log_file(handler: logging.Handler) -> None:
    """Undo :func:`attach_log_file`."""
    logging.getLogger("ageshift").removeHandler(handler)
    handler.close()


def remove_tree(path: Path) -> None:
    """Delete a folder tree (used for runs that failed before their first step)."""
    shutil.rmtree(path, ignore_errors=True)
