"""The run directory: ``RUNS/NNN-name/`` with config, log, metrics (CSV, JSONL, TensorBoard), samples, checkpoints."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import yaml

from ..errors import DataError
from ..io import atomic_write

RUN_PATTERN = re.compile(r"^(\d{3,})-")
LOG_FILE = "train.log"
CONFIG_FILE = "config.yaml"
DATASET_FILE = "dataset.json"


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
    """The highest-numbered run folder in ``runs_dir``.

    Raises:
        DataError: when ``runs_dir`` holds no run.
    """
    runs_dir = Path(runs_dir)
    runs = [path for path in runs_dir.iterdir() if run_number(path)] if runs_dir.is_dir() else []
    if not runs:
        raise DataError(f"{runs_dir}: no training runs to resume (expected NNN-name folders)")
    return max(runs, key=run_number)


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

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.csv_path = run_dir / "metrics.csv"
        self.jsonl_path = run_dir / "metrics.jsonl"
        self.columns: list[str] | None = _existing_columns(self.csv_path)
        self.events = _open_tensorboard(run_dir / "tensorboard") if tensorboard else None

    def write(self, step: int, values: dict[str, float]) -> None:
        """Record ``values`` at ``step`` (the first row fixes the CSV columns)."""
        row = {"step": step, **values}
        if self.columns is None:
            self.columns = list(row)
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


def _format(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _existing_columns(path: Path) -> list[str] | None:
    # A resumed run appends to its CSV under the header it already has.
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as stream:
        header = next(csv.reader(stream), None)
    return header or None


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
