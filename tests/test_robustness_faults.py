"""The robustness suite, part 3: fault injection. A short training run is killed with SIGKILL at random
moments (some inside checkpoint writes) and resumed each time; no checkpoint may be unreadable, at most
``checkpoint_every`` steps may be lost, and the final weights must equal an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import random_image

from ageshift.training.checkpoint import TEMPORARY_PATTERN, list_checkpoints, load_checkpoint

STEPS, CHECKPOINT_EVERY, KILLS = 40, 2, 6
SETTINGS = [
    "model.generator.channels=4",
    "model.generator.num_res_blocks=1",
    "model.discriminator.channels=4",
    "precision=fp32",
    "device=cpu",
    f"stages=[{{size: 24, batch_size: 2, steps: {STEPS}}}]",
    f"checkpoint_every={CHECKPOINT_EVERY}",
    "keep_checkpoints=3",
    "log_every=1",
    "sample_every=1000",
]


def _data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for folder in ("trainA", "trainB"):
        (root / folder).mkdir(parents=True)
        for index in range(4):
            random_image(rng, (28, 28)).save(root / folder / f"{index}.png")
    return root


def _command(data: Path, runs: Path, resume: bool) -> list[str]:
    command = [sys.executable, "-c", "from ageshift.cli import main; main()", "train", "--quiet"]
    command += ["--out", str(runs)] + (["--resume"] if resume else ["--data", str(data)])
    for item in SETTINGS:
        command += ["--set", item]
    return command


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _logged_step(runs: Path) -> int:
    """The highest step any run folder has logged so far (metrics.jsonl, one line per step)."""
    best = 0
    for metrics in runs.glob("*/metrics.jsonl"):
        lines = metrics.read_text().splitlines()
        for line in reversed(lines):
            try:
                best = max(best, int(json.loads(line)["step"]))
                break
            except (ValueError, KeyError):  # a line cut by the kill
                continue
    return best


def _newest_checkpoint(runs: Path) -> tuple[Path | None, int]:
    newest: tuple[Path | None, int] = (None, 0)
    for run in runs.iterdir():
        for path in list_checkpoints(run):
            step = load_checkpoint(path)["step"]  # raises if any complete checkpoint is unreadable
            if step >= newest[1]:
                newest = (path, step)
    return newest


@pytest.mark.usefixtures("one_torch_thread")
def test_killed_and_resumed_training_loses_nothing(tmp_path):
    data = _data(tmp_path / "data")
    straight = subprocess.run(
        _command(data, tmp_path / "straight", False), env=ENV, capture_output=True, text=True
    )
    assert straight.returncode == 0, straight.stderr
    reference = load_checkpoint(list_checkpoints(next((tmp_path / "straight").iterdir()))[-1])
    assert reference["step"] == STEPS

    runs = tmp_path / "runs"
    rng = np.random.default_rng(1)
    mid_write = 0
    for kill in range(KILLS):
        _, before = _newest_checkpoint(runs) if runs.exists() else (None, 0)
        process = subprocess.Popen(
            _command(data, runs, resume=before > 0),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        target = before + int(rng.integers(1, 8))
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if runs.exists() and _logged_step(runs) >= target:
                time.sleep(float(rng.uniform(0.0, 0.03)))  # land anywhere in the step, the write included
                break
            time.sleep(0.002)
        if process.poll() is not None:
            assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
            break  # finished before the kill: nothing left to interrupt
        process.send_signal(signal.SIGKILL)
        process.wait()
        logged = _logged_step(runs)
        mid_write += any(TEMPORARY_PATTERN.match(p.name) for p in runs.glob("*/checkpoints/*"))
        path, saved = _newest_checkpoint(runs)
        assert logged - saved <= CHECKPOINT_EVERY, (
            f"kill {kill}: logged step {logged}, newest checkpoint {saved}"
        )

    final = subprocess.run(_command(data, runs, resume=True), env=ENV, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    path, step = _newest_checkpoint(runs)
    assert step == STEPS and path is not None
    resumed = load_checkpoint(path)
    for name, value in reference["model"].items():
        assert torch.equal(value, resumed["model"][name]), name
    assert not any(TEMPORARY_PATTERN.match(p.name) for p in runs.glob("*/checkpoints/*")), (
        "temporary files left"
    )
    metrics = (path.parent.parent / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == list(range(1, STEPS + 1))
    print(f"{KILLS} kills, {mid_write} inside a checkpoint write")
