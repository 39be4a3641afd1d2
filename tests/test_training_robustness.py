"""Training faults: NaN losses, checkpoints that load but do not fit, Ctrl-C during a write, resume and run folders."""

from __future__ import annotations

import csv
import json
import logging
import os
import shlex
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import cli_exit_code, run_cli
from tests.test_training import TINY, make_data

import ageshift
from ageshift.errors import AgeshiftError, ConfigError, ModelLoadError
from ageshift.models.cyclegan.model import CycleGAN
from ageshift.training import (
    TrainingDiverged,
    TrainingInterrupted,
    export_run,
    list_checkpoints,
    load_checkpoint,
    train,
    train_config,
)
from ageshift.training.divergence import likely_cause
from ageshift.training.rundir import latest_run, run_lock

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ONE_STAGE = "stages=[{size: 24, batch_size: 2, steps: 6}]"


def tiny(*extra: str):
    return train_config("fast", overrides=[*TINY, ONE_STAGE, "checkpoint_every=2", "log_every=1", *extra])


@pytest.fixture
def data(tmp_path, rng):
    return make_data(tmp_path / "data", rng)


def quiet_train(config, data, runs, **options):
    return train(config, data, runs, quiet=True, tensorboard=False, **options)


def finite(checkpoint: Path) -> bool:
    state = load_checkpoint(checkpoint)["model"]
    return all(bool(torch.isfinite(value).all()) for value in state.values() if value.is_floating_point())


def nan_loss_from(monkeypatch, step: int, terms_too: bool = False) -> None:
    """Make every phase's loss NaN from completed step ``step`` on (the logged terms stay finite unless asked)."""
    original = CycleGAN.run_phase

    def run_phase(self, phase, batch, carry, context):
        output = original(self, phase, batch, carry, context)
        if context.step + 1 >= step:
            output.loss = output.loss * float("nan")
            if terms_too:
                output.terms = {key: value * float("nan") for key, value in output.terms.items()}
        return output

    monkeypatch.setattr(CycleGAN, "run_phase", run_phase)


# --- NaN / Inf ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("terms_too", [False, True])
def test_training_stops_at_the_first_non_finite_loss(tmp_path, data, monkeypatch, terms_too):
    nan_loss_from(monkeypatch, 4, terms_too)
    with pytest.raises(TrainingDiverged) as stopped:
        quiet_train(tiny("log_every=3"), data, tmp_path / "runs")
    message = str(stopped.value)
    assert "at step 4" in message and "Likely cause:" in message and "\n" not in message
    run_dir = tmp_path / "runs" / "001-cyclegan-fast"
    checkpoints = list_checkpoints(run_dir)
    # Step 4's checkpoint would hold NaN weights: the newest is the last finite one.
    assert [path.name for path in checkpoints] == ["step-0000002.pt"] and finite(checkpoints[-1])
    assert stopped.value.checkpoint == checkpoints[-1] and str(checkpoints[-1]) in message


def test_an_absurd_learning_rate_is_named_and_leaves_no_empty_run(tmp_path, data):
    with pytest.raises(TrainingDiverged, match=r"learning_rate=1e\+30 is .* the presets' 0.0002: lower it"):
        quiet_train(tiny("learning_rate=1e30"), data, tmp_path / "runs")
    # It diverged before its first checkpoint: nothing is left for --resume to pick.
    assert not (tmp_path / "runs" / "001-cyclegan-fast").exists()


def test_likely_cause_names_the_config_value():
    assert likely_cause(tiny("learning_rate=0.5"), tiny().model_config(), "fp32").startswith(
        "learning_rate=0.5"
    )
    heavy = tiny("model.cycle_weight=100000")
    assert likely_cause(heavy, heavy.model_config(), "fp32").startswith("model.cycle_weight=100000")
    rate = tiny("optimizers={discriminator: {learning_rate: 0.1}}")
    assert "optimizers.discriminator.learning_rate=0.1" in likely_cause(rate, rate.model_config(), "fp32")
    assert "precision fp16" in likely_cause(tiny(), tiny().model_config(), "fp16")
    assert "learning_rate=0.0002" in likely_cause(tiny(), tiny().model_config(), "bf16")


def test_export_refuses_non_finite_weights(tmp_path, data):
    run_dir = quiet_train(tiny(), data, tmp_path / "runs")
    newest = list_checkpoints(run_dir)[-1]
    state = load_checkpoint(newest)
    name = next(key for key, value in state["model"].items() if value.is_floating_point())
    state["model"][name] = torch.full_like(state["model"][name], float("inf"))
    torch.save(state, newest)
    with pytest.raises(ModelLoadError, match=f"{newest}: weights '{name}' hold NaN or infinite values"):
        export_run(run_dir, tmp_path / "model", newest)
    # Without --checkpoint the newest finite one is exported instead.
    exported = export_run(run_dir, tmp_path / "model")
    assert exported.metadata["training"]["checkpoint"] == list_checkpoints(run_dir)[-2].name


def test_translate_refuses_a_model_with_non_finite_outputs(tmp_path, data, capsys):
    from PIL import Image
    from safetensors.torch import load_file, save_file

    run_dir = quiet_train(tiny(), data, tmp_path / "runs")
    export_run(run_dir, tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    tensors = load_file(weights)
    # Finite weights whose activations overflow: every output pixel is NaN.
    save_file(
        {key: value * 1e30 if value.is_floating_point() else value for key, value in tensors.items()}, weights
    )
    photo = tmp_path / "in" / "face.png"
    photo.parent.mkdir()
    Image.new("RGB", (24, 24), (120, 90, 60)).save(photo)
    code, _, err = run_cli(
        ["translate", tmp_path / "model", photo, tmp_path / "out.png", "--direction", "older"], capsys
    )
    assert code != 0 and "NaN or infinite" in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


# --- checkpoints -----------------------------------------------------------------------------------------------


def _damage_newest(run_dir: Path, damage) -> Path:
    newest = list_checkpoints(run_dir)[-1]
    state = load_checkpoint(newest)
    damage(state)
    torch.save(state, newest)
    return newest


def _drop_model_key(state):
    state["model"].pop(next(iter(state["model"])))


def _reshape_model_tensor(state):
    key = next(key for key, value in state["model"].items() if value.ndim)
    state["model"][key] = torch.zeros(7, 7)


def _drop_data_position(state):
    del state["data_position"]


def _reshape_optimizer_state(state):
    moments = state["optimizers"]["generator"]["state"][0]
    moments["exp_avg"] = torch.zeros(3)


@pytest.mark.parametrize(
    "damage", [_drop_model_key, _reshape_model_tensor, _drop_data_position, _reshape_optimizer_state]
)
def test_a_checkpoint_that_loads_but_does_not_fit_falls_back(tmp_path, data, caplog, damage):
    run_dir = quiet_train(tiny(ONE_STAGE.replace("steps: 6", "steps: 4")), data, tmp_path / "runs")
    broken = _damage_newest(run_dir, damage)
    caplog.set_level(logging.WARNING, logger="ageshift")
    resumed = quiet_train(tiny(), None, tmp_path / "runs", resume=run_dir)
    assert resumed == run_dir and load_checkpoint(list_checkpoints(run_dir)[-1])["step"] == 6
    assert any(str(broken) in record.getMessage() for record in caplog.records)
    # metrics hold each step once: steps 3 and 4 were lost with the broken checkpoint and trained again.
    steps = [int(row["step"]) for row in csv.DictReader((run_dir / "metrics.csv").open())]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_export_skips_a_checkpoint_that_does_not_fit(tmp_path, data, caplog):
    run_dir = quiet_train(tiny(), data, tmp_path / "runs")
    broken = _damage_newest(run_dir, _reshape_model_tensor)
    caplog.set_level(logging.WARNING, logger="ageshift")
    translator = export_run(run_dir, tmp_path / "model")
    assert translator.metadata["training"]["steps"] == 4
    assert any(str(broken) in record.getMessage() for record in caplog.records)
    with pytest.raises(ModelLoadError, match=f"{broken}: checkpoint does not fit"):
        export_run(run_dir, tmp_path / "other", broken)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("betas=[0.5]", "betas: expected 2 values, got 1"),
        ("betas=[0.5, 0.9, 0.99]", "betas: expected 2 values, got 3"),
        ("betas=[0.5, 1.5]", r"betas\[1\] must be < 1.0"),
        ("betas=[-0.1, 0.9]", r"betas\[0\] must be >= 0.0"),
        ("betas=fast", "betas: expected a list"),
        ("learning_rate=0", "learning_rate must be > 0.0"),
        ("learning_rate=-1e-4", "learning_rate must be > 0.0"),
        ("learning_rate=.nan", "learning_rate: expected a finite number"),
        (
            "optimizers={discriminator: {betas: [0.5, 2]}}",
            r"optimizers.discriminator.betas\[1\] must be < 1.0",
        ),
        (
            "optimizers={discriminator: {learning_rate: 0}}",
            "optimizers.discriminator.learning_rate must be > 0",
        ),
        ("stages=[{size: 100000, batch_size: 1, steps: 1}]", r"stages\[0\].size must be <= 4096"),
        ("stages=[{size: 32, batch_size: 0, steps: 1}]", r"stages\[0\].batch_size must be >= 1"),
        ("model.generator.channels=1024", "parameters, more than ageshift builds"),
        ("keep_checkpoints=0", "keep_checkpoints must be >= 1"),
    ],
)
def test_optimiser_and_schedule_values_are_checked_at_config_time(override, expected):
    with pytest.raises(ConfigError, match=expected):
        train_config("fast", overrides=[override])


def test_a_second_ctrl_c_during_the_checkpoint_write_finishes_the_write(tmp_path, data, monkeypatch):
    from ageshift.training import trainer

    original = trainer.save_checkpoint

    def save_while_interrupted(run_dir, step, state, keep):
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: stop after this step
        os.kill(os.getpid(), signal.SIGINT)  # the second, in the middle of the write
        return original(run_dir, step, state, keep)

    monkeypatch.setattr(trainer, "save_checkpoint", save_while_interrupted)
    with pytest.raises(TrainingInterrupted) as stopped:
        quiet_train(tiny(), data, tmp_path / "runs")
    assert stopped.value.reason == "SIGINT" and stopped.value.step == 2
    assert load_checkpoint(stopped.value.checkpoint)["step"] == 2
    assert not list((stopped.value.run_dir / "checkpoints").glob(".*"))


# --- runs and resume ---------------------------------------------------------------------------------------------


def test_the_interrupt_message_prints_a_resume_command_that_works(tmp_path, data):
    runs = tmp_path / "my runs"  # a space: the printed command must quote it
    with pytest.raises(TrainingInterrupted) as stopped:
        quiet_train(tiny(), data, runs, should_stop=lambda step: step == 3)
    command = str(stopped.value).split("continue with: ", 1)[1].rstrip(")")
    arguments = shlex.split(command)
    assert arguments[:2] == ["ageshift", "train"]
    assert cli_exit_code([*arguments[1:], "--quiet"]) == 0
    assert load_checkpoint(list_checkpoints(stopped.value.run_dir)[-1])["step"] == 6


def test_a_failed_start_leaves_no_run_and_resume_skips_empty_runs(tmp_path, data, caplog):
    runs = tmp_path / "runs"
    good = quiet_train(tiny(), data, runs)

    def fail(step):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        quiet_train(tiny(), data, runs, should_stop=fail)
    assert sorted(path.name for path in runs.iterdir()) == [good.name]
    # A start killed before its first checkpoint (kill -9) leaves a folder: --resume passes over it.
    (runs / "007-killed" / "checkpoints").mkdir(parents=True)
    caplog.set_level(logging.WARNING, logger="ageshift")
    assert latest_run(runs) == good
    assert "007-killed" in caplog.text


def test_temporary_files_of_a_killed_write_are_removed_on_resume(tmp_path, data):
    run_dir = quiet_train(tiny(ONE_STAGE.replace("steps: 6", "steps: 4")), data, tmp_path / "runs")
    leftovers = [
        run_dir / "checkpoints" / ".step-0000006.pt.a1b2c3.tmp",
        run_dir / ".config.yaml.x9y8.tmp",
        run_dir / "samples" / ".step-0000006.png.q.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"partial")
    quiet_train(tiny(), None, tmp_path / "runs", resume=True)
    assert not any(path.exists() for path in leftovers)


def test_the_data_path_is_stored_resolved(tmp_path, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = quiet_train(tiny(ONE_STAGE.replace("steps: 6", "steps: 2")), Path("data"), "runs")
    reference = load_checkpoint(list_checkpoints(run_dir)[-1])["data"]
    assert reference["root"] == str(data.resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    resumed = quiet_train(tiny(), None, tmp_path / "runs", resume=True)
    assert load_checkpoint(list_checkpoints(resumed)[-1])["step"] == 6


def test_metrics_are_truncated_to_the_checkpoint_on_resume(tmp_path, data):
    run_dir = quiet_train(
        tiny(ONE_STAGE.replace("steps: 6", "steps: 5"), "checkpoint_every=3"), data, tmp_path / "runs"
    )
    # A crash after step 5's metrics but before its checkpoint: the newest checkpoint is step 3's.
    list_checkpoints(run_dir)[-1].unlink()
    quiet_train(tiny(), None, tmp_path / "runs", resume=run_dir)
    rows = [int(row["step"]) for row in csv.DictReader((run_dir / "metrics.csv").open())]
    lines = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows == lines == [1, 2, 3, 4, 5, 6]


def test_a_second_trainer_of_the_same_run_is_refused(tmp_path, data):
    run_dir = quiet_train(tiny(ONE_STAGE.replace("steps: 6", "steps: 2")), data, tmp_path / "runs")
    with (
        run_lock(run_dir),
        pytest.raises(AgeshiftError, match=f"run {run_dir} is being trained by process {os.getpid()}"),
    ):
        quiet_train(tiny(), None, tmp_path / "runs", resume=run_dir)
    # Released with its holder; a stale lock file of a killed process blocks nothing.
    (run_dir / ".lock").write_text("999999")
    assert quiet_train(tiny(), None, tmp_path / "runs", resume=run_dir) == run_dir


def test_the_lock_is_held_across_processes(tmp_path):
    import subprocess
    import sys

    run_dir = tmp_path / "001-run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom ageshift.training.rundir import run_lock\n"
            f"with run_lock(Path({str(run_dir)!r})):\n    print('held', flush=True)\n    time.sleep(30)",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AgeshiftError, match=f"being trained by process {holder.pid}"), run_lock(run_dir):
            pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run_dir):  # the killed holder's lock went with it
        pass


def test_model_folders_load_after_all_this(tmp_path, data):
    """The checks do not refuse a healthy run's export."""
    run_dir = quiet_train(tiny(), data, tmp_path / "runs")
    export_run(run_dir, tmp_path / "model")
    image = ageshift.load(tmp_path / "model").translate_batch(torch.zeros(1, 3, 24, 24), "older")
    assert bool(torch.isfinite(image).all()) and np.isfinite(image.numpy()).all()
