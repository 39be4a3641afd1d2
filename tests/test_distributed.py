"""Data-parallel training on CPU processes (gloo): equal to one process, only rank 0 writes, resume after a kill
and with another number of processes.

Tolerance (measured on this toy: CycleGAN, 4 channels, instance norm, no image pool, fp32, global batch 4,
6 steps): two processes against one give logged losses within 1.7e-7 relative (4.8e-7 absolute); weights
that reach an output differ by at most 2.6e-8 and the generated images by 5.4e-7 (float sums in another
order). The biases of convolutions right before an instance norm are left out of the weight comparison: the
norm cancels them, so their gradient is 0 up to rounding noise, which Adam normalises into steps of ±lr; they
differ by up to 1.3e-3 and change no output.
"""

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
from tests.conftest import random_image, run_cli

from ageshift.errors import ConfigError
from ageshift.registry import get_family
from ageshift.training import TrainingInterrupted, list_checkpoints, load_checkpoint, train, train_config
from ageshift.training.distributed import Distributed, next_shard, torchrun_command

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = [
    "model.generator.channels=4",
    "model.generator.num_res_blocks=1",
    "model.discriminator.channels=4",
    "model.pool_size=0",
    "precision=fp32",
    "device=cpu",
    "log_every=1",
    "checkpoint_every=3",
    "sample_every=100",
]
STAGES = "stages=[{size: 24, batch_size: 4, steps: 6}]"
WEIGHT_TOLERANCE = 1e-6
OUTPUT_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for folder in ("trainA", "trainB"):
        (root / folder).mkdir()
        for index in range(6):
            random_image(rng, size=(36, 40)).save(root / folder / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def one_process_run(data, tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return train(
        train_config("fast", overrides=[*TINY, STAGES]), data, tmp_path_factory.mktemp("one"), quiet=True
    )


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "AGESHIFT_DIST_TIMEOUT": "60"}


def _cli(arguments: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ageshift", *arguments]
    return subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=timeout)


def _sets(overrides: list[str]) -> list[str]:
    return [argument for override in overrides for argument in ("--set", override)]


def _losses(run: Path) -> list[dict[str, float]]:
    """The loss terms of every metric row (not the speed, data-wait and schedule columns)."""
    other = {"step", "lr", "images_per_second", "steps_per_second", "size"}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [
        {k: v for k, v in row.items() if k not in other and not k.startswith("data_wait")} for row in rows
    ]


def _compare(run_a: Path, run_b: Path, step: int) -> None:
    """Same losses, output-relevant weights and generated images (tolerances in the module docstring)."""
    for row_a, row_b in zip(_losses(run_a), _losses(run_b), strict=True):
        assert row_a.keys() == row_b.keys()
        for key in row_a:
            assert row_a[key] == pytest.approx(row_b[key], rel=1e-5, abs=1e-6), key
    saved_a = load_checkpoint(run_a / "checkpoints" / f"step-{step:07d}.pt")
    saved_b = load_checkpoint(run_b / "checkpoints" / f"step-{step:07d}.pt")
    assert saved_a["data_position"] == saved_b["data_position"]
    for name, tensor in saved_a["model"].items():
        if tensor.is_floating_point() and not name.endswith(".bias"):
            assert torch.allclose(tensor, saved_b["model"][name], rtol=0, atol=WEIGHT_TOLERANCE), name
    family = get_family("cyclegan")
    models = []
    for saved in (saved_a, saved_b):
        model = family.build(family.config_from_dict(saved["model_config"]))
        model.load_state_dict(saved["model"])
        models.append(model.eval())
    images = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        for generator in ("generator_older", "generator_younger"):
            difference = getattr(models[0], generator)(images) - getattr(models[1], generator)(images)
            assert float(difference.abs().max()) <= OUTPUT_TOLERANCE


def test_batch_must_divide_over_processes():
    with pytest.raises(ConfigError, match="batch_size 6 does not divide over 4 processes"):
        Distributed(rank=0, world_size=4).local_batch(6)
    assert Distributed(rank=1, world_size=2).shard(4) == slice(2, 4)
    assert Distributed().shard(4) is None


def test_devices_refuses_a_batch_that_does_not_divide_before_launching(data, tmp_path, capsys):
    arguments = ["train", "--data", data, "--out", tmp_path, "--devices", "2", "--set", "device=cpu"]
    code, _, err = run_cli([*arguments, "--set", "stages=[{size: 24, batch_size: 3, steps: 2}]"], capsys)
    assert code == 2 and "batch_size 3 does not divide over 2 processes" in err
    assert "launching" not in err and not list(tmp_path.iterdir())


def test_data_without_shard_loading_is_sliced_by_rank():
    class WholeBatches:  # like the superres photos: next_batch takes no shard
        def next_batch(self, batch_size, random, flip_probability):
            images = torch.arange(batch_size, dtype=torch.float32).view(batch_size, 1, 1, 1)
            return {"images": images, "validation": torch.zeros(1, 5, 3, 2, 2)}

    batch = next_shard(WholeBatches(), 4, torch.Generator(), 0.5, Distributed(rank=1, world_size=2))
    assert batch["images"].flatten().tolist() == [2.0, 3.0]
    assert batch["validation"].shape == (1, 5, 3, 2, 2)  # not a per-sample tensor: kept whole


def test_devices_launches_torchrun_command():
    command = torchrun_command(2, ["train", "--data", "D"])
    assert command[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert command[-6:] == ["-m", "ageshift", "--", "train", "--data", "D"]


def test_two_processes_equal_one_over_the_same_global_batch(data, one_process_run, tmp_path):
    result = _cli(
        [
            "train",
            "--data",
            str(data),
            "--out",
            str(tmp_path),
            "--devices",
            "2",
            "-q",
            *_sets([*TINY, STAGES]),
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert (result.stdout + result.stderr).count("run folder:") == 1  # only rank 0 reports
    _compare(one_process_run, run, 6)
    saved = load_checkpoint(run / "checkpoints" / "step-0000006.pt")
    assert saved["distributed"]["per_process_batch_sizes"] == [2]
    assert len(saved["ranks"]) == 2  # each rank's pools and random states
    log = (run / "train.log").read_text()
    assert "global [4] = per process [2]" in log and log.count("starting") == 1
    assert all(
        "data_wait_ms" in row and "data_wait_max_ms" in row
        for row in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    )


def test_resume_on_two_processes_continues_a_one_process_run(data, one_process_run, tmp_path):
    config = train_config("fast", overrides=[*TINY, STAGES])
    with pytest.raises(TrainingInterrupted):
        train(config, data, tmp_path, quiet=True, should_stop=lambda step: step == 3)
    (run,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    result = _cli(["train", "--resume", "--run", str(run), "--devices", "2", "-q"])
    assert result.returncode == 0, result.stderr[-3000:]
    # "The same position" is the global one: the 2 processes continue at sample 12 of the global stream.
    _compare(one_process_run, run, 6)
    # And back to one process: the 2-process checkpoint holds rank 0's states at the top level.
    more = [*TINY, "stages=[{size: 24, batch_size: 4, steps: 8}]"]
    train(train_config("fast", overrides=more), None, tmp_path, resume=run, quiet=True)
    assert list_checkpoints(run)[-1].name == "step-0000008.pt"


def _rank_pid(launcher: subprocess.Popen, rank: int, timeout: float) -> int:
    """The process id of worker ``rank`` of a torchrun launcher (from its children's environments)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children_file = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
        for pid in children_file.read_text().split() if children_file.exists() else []:
            with open(f"/proc/{pid}/environ", "rb") as stream:
                if f"RANK={rank}".encode() in stream.read().split(b"\0"):
                    return int(pid)
        time.sleep(0.2)
    raise AssertionError(f"no rank {rank} worker found")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers through /proc (Linux)")
def test_killed_rank_resumes_from_last_checkpoint(data, tmp_path):
    overrides = [*TINY, "checkpoint_every=2", "stages=[{size: 24, batch_size: 2, steps: 400}]"]
    arguments = ["train", "--data", str(data), "--out", str(tmp_path), "-q", *_sets(overrides)]
    command = torchrun_command(2, arguments)
    launcher = subprocess.Popen(command, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        victim = _rank_pid(launcher, 1, 60)
        deadline = time.monotonic() + 120
        while not any(len(list_checkpoints(run)) >= 2 for run in tmp_path.iterdir()):
            assert time.monotonic() < deadline and launcher.poll() is None, "no checkpoint written"
            time.sleep(0.2)
        os.kill(victim, signal.SIGKILL)
        launcher.wait(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode != 0
    (run,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    last = int(list_checkpoints(run)[-1].name[5:12])
    assert 0 < last < 400
    # Finish sooner: the resumed run keeps its config except for the shorter schedule.
    short = f"stages=[{{size: 24, batch_size: 2, steps: {last + 2}}}]"
    result = _cli(["train", "--resume", "--run", str(run), "--devices", "2", "-q", "--set", short])
    assert result.returncode == 0, result.stderr[-3000:]
    assert list_checkpoints(run)[-1].name == f"step-{last + 2:07d}.pt"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, last + 3))  # the rows of steps the kill lost are dropped, then re-logged
