"""The CycleGAN trainer: run directory, progressive stages, bit-exact resume, clean stops, export, config."""

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
import yaml
from PIL import Image
from tests.conftest import cli_exit_code, random_image

import ageshift
from ageshift.errors import ConfigError, DataError, ModelLoadError
from ageshift.training import (
    TrainingInterrupted,
    export_run,
    list_checkpoints,
    load_checkpoint,
    train,
    train_config,
)

# Tiny networks: one torch thread (see the fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = [
    "model.generator.channels=4",
    "model.generator.num_res_blocks=1",
    "model.discriminator.channels=4",
    "model.pool_size=3",
    "precision=fp32",
    "device=cpu",
]
TWO_STAGES = "stages=[{size: 24, batch_size: 2, steps: 3}, {size: 32, batch_size: 1, steps: 3}]"


def make_data(root: Path, rng: np.random.Generator, with_dataset_json: bool = True) -> Path:
    for folder in ("trainA", "trainB", "testA"):
        (root / folder).mkdir(parents=True)
        for i in range(5):
            random_image(rng, size=(36, 40)).save(root / folder / f"{i}.png")
    (root / "trainB" / "zero-byte.jpg").write_bytes(b"")
    if with_dataset_json:
        info = {
            "name": "toy",
            "source": "test",
            "domains": {"A": {"label": "young"}, "B": {"label": "old"}},
            "image_size": 32,
            "crop": {"template": "synthetic", "size": 32, "padding": 0.1},
        }
        (root / "dataset.json").write_text(json.dumps(info))
    return root


@pytest.fixture
def data(tmp_path, rng):
    return make_data(tmp_path / "data", rng)


def tiny_config(*extra: str):
    return train_config("fast", overrides=[*TINY, TWO_STAGES, *extra])


def test_run_directory_and_progressive_stages(tmp_path, data):
    config = tiny_config("log_every=2", "sample_every=3", "checkpoint_every=2", "keep_checkpoints=2")
    run_dir = train(config, data, tmp_path / "runs", quiet=True, name="toy run")
    assert run_dir.name == "001-toy-run"
    for name in ("config.yaml", "train.log", "metrics.csv", "metrics.jsonl", "dataset.json"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").iterdir())
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["stages"][1]["size"] == 32 and saved["model"]["pool_size"] == 3
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [2, 4, 6]
    assert [row["size"] for row in rows] == [24, 32, 32]  # the schedule grew the images
    assert rows[-1]["lr"] == 0.0 and rows[0]["lr"] == pytest.approx(2e-4)
    assert all(np.isfinite(row["g_total"]) and row["images_per_second"] > 0 for row in rows)
    assert "cycle_young" in rows[0] and "identity_old" in rows[0] and "d_old" in rows[0]
    small, large = (Image.open(run_dir / "samples" / f"step-{s:07d}.png") for s in (3, 6))
    assert large.size[0] > small.size[0] and small.size[1] == 6 * (24 + 2) + 2  # six rows of tiles
    assert [p.name for p in list_checkpoints(run_dir)] == ["step-0000004.pt", "step-0000006.pt"]
    log = (run_dir / "train.log").read_text()
    assert "zero-byte.jpg" in log and "1 unreadable image(s) skipped" in log and "stage 2" in log
    assert train(config, data, tmp_path / "runs", quiet=True).name == "002-cyclegan-fast"


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, data):
    config = tiny_config("sample_every=100", "checkpoint_every=100")
    straight = train(config, data, tmp_path / "straight", quiet=True, tensorboard=False)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(
            config,
            data,
            tmp_path / "split",
            quiet=True,
            tensorboard=False,
            should_stop=lambda step: step == 4,
        )
    assert stopped.value.step == 4 and stopped.value.checkpoint.is_file()
    assert [p.name for p in list_checkpoints(stopped.value.run_dir)] == ["step-0000004.pt"]
    resumed = train(runs_dir=tmp_path / "split", resume=True, quiet=True, tensorboard=False)
    assert resumed == stopped.value.run_dir
    final_straight = load_checkpoint(list_checkpoints(straight)[-1])
    final_resumed = load_checkpoint(list_checkpoints(resumed)[-1])
    assert final_resumed["step"] == 6
    for key, value in final_straight["model"].items():
        assert torch.equal(value, final_resumed["model"][key]), key
    for name in ("generator", "discriminator"):
        straight_state = final_straight["optimizers"][name]["state"]
        for index, slot in straight_state.items():
            for key, value in slot.items():
                assert torch.equal(value, final_resumed["optimizers"][name]["state"][index][key]), (name, key)
    pools = final_straight["family_state"]["pools"], final_resumed["family_state"]["pools"]
    assert torch.equal(pools[0]["old"]["images"], pools[1]["old"]["images"])
    metrics = (resumed / "metrics.csv").read_text().splitlines()
    assert metrics[0].startswith("step,") and metrics[-1].startswith("6,")


def test_export_gives_the_trained_generators_outputs(tmp_path, data):
    run_dir = train(tiny_config("sample_every=100"), data, tmp_path / "runs", quiet=True, tensorboard=False)
    translator = export_run(run_dir, tmp_path / "model")
    loaded = ageshift.load(tmp_path / "model")
    state = load_checkpoint(list_checkpoints(run_dir)[-1])
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    older = translator.translate_batch(images, "older")
    assert torch.equal(loaded.translate_batch(images, "older"), older)
    assert torch.equal(
        loaded.translate_batch(images, "younger"), translator.translate_batch(images, "younger")
    )
    generator_weights = {k[len("generator_older.") :]: v for k, v in state["model"].items() if "older." in k}
    for key, value in loaded.generators["older"].state_dict().items():
        assert torch.equal(value, generator_weights[key]), key
    assert loaded.image_size == 32
    assert loaded.metadata["domains"]["B"]["label"] == "old" and loaded.metadata["crop"]["size"] == 32
    assert loaded.metadata["training"]["steps"] == 6 and loaded.metadata["training"]["preset"] == "fast"


def test_config_errors_are_loud(tmp_path, data):
    with pytest.raises(ConfigError, match="learnig_rate"):
        train_config("fast", overrides=["learnig_rate=1e-3"])
    with pytest.raises(ConfigError, match="model.generator.chanels"):
        train_config("fast", overrides=["model.generator.chanels=8"])
    with pytest.raises(ConfigError, match="too small"):
        train_config("fast", overrides=["stages=[{size: 16, batch_size: 1, steps: 1}]"])
    with pytest.raises(ConfigError, match="fast, paper"):
        train_config("huge")
    config_file = tmp_path / "cfg.yaml"
    config_file.write_text("seed: 7\nstages:\n  - {size: 32, batch_size: 2, steps: 5}\n")
    config = train_config("paper", config_file, ["seed=8"])
    assert config.seed == 8 and config.total_steps == 5 and config.model_preset == "paper"
    with pytest.raises(DataError, match="no training runs"):
        train(runs_dir=tmp_path / "empty", resume=True)
    (tmp_path / "runs" / "001-x" / "checkpoints").mkdir(parents=True)
    with pytest.raises(ModelLoadError, match="no loadable checkpoint"):
        train(runs_dir=tmp_path / "runs", resume=True)


def test_sigterm_writes_a_checkpoint_and_exits_cleanly(tmp_path, data):
    stages = "stages=[{size: 24, batch_size: 1, steps: 100000}]"
    command = [sys.executable, "-c", "from ageshift.cli import main; main()", "train", "--data", str(data)]
    command += ["--out", str(tmp_path / "runs"), "--quiet"]
    for item in [*TINY, stages, "log_every=1"]:
        command += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "runs").glob("*/metrics.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "SIGTERM" in stderr and "--resume" in stderr
    run_dir = next((tmp_path / "runs").iterdir())
    checkpoint = load_checkpoint(list_checkpoints(run_dir)[-1])
    assert checkpoint["step"] >= 1


cli = cli_exit_code


def test_cli_train_resume_and_export(tmp_path, data, capsys):
    runs, model = tmp_path / "runs", tmp_path / "model"
    sets = [
        item for value in [*TINY, "stages=[{size: 24, batch_size: 1, steps: 2}]"] for item in ("--set", value)
    ]
    assert cli(["train", "--data", str(data), "--out", str(runs), "--quiet", *sets]) == 0
    run_dir = next(runs.iterdir())
    assert "run folder" in capsys.readouterr().err
    longer = "stages=[{size: 24, batch_size: 1, steps: 3}]"
    assert cli(["train", "--out", str(runs), "--resume", "--quiet", "--set", longer]) == 0
    assert load_checkpoint(list_checkpoints(run_dir)[-1])["step"] == 3
    assert cli(["export", str(run_dir), "--out", str(model)]) == 0
    assert ageshift.load(model).metadata["training"]["steps"] == 3
    assert cli(["export", str(run_dir), "--out", str(model)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli(["train", "--data", str(tmp_path / "missing"), "--out", str(runs), "--quiet"]) == 2
    assert "missing" in capsys.readouterr().err


def test_batched_phases_match_separate_network_calls():
    import contextlib

    from ageshift.models.cyclegan import CycleGAN, cyclegan_config
    from ageshift.models.cyclegan.model import discriminator_phase, generator_phase
    from ageshift.models.family import StepContext

    torch.manual_seed(0)
    model = CycleGAN(cyclegan_config("fast", {"generator": {"channels": 4, "num_res_blocks": 1}}))
    young, old = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    context = StepContext(torch.device("cpu"), contextlib.nullcontext, torch.Generator())
    output = generator_phase(model, young, old, context)
    terms, fake_old, fake_young = output.terms, output.carry["fake_old"], output.carry["fake_young"]
    assert torch.allclose(fake_old, model.generator_older(young), atol=1e-5)
    expected_identity = 5.0 * (model.generator_younger(young) - young).abs().mean()
    assert torch.allclose(terms["identity_young"], expected_identity, atol=1e-5)
    d_terms = discriminator_phase(model, young, old, fake_young, fake_old, context).terms
    real, fake = model.discriminator_old(old), model.discriminator_old(fake_old)
    expected_d = 0.5 * ((real - 1).square().mean() + fake.square().mean())
    assert torch.allclose(d_terms["d_old"], expected_d, atol=1e-5)


def test_missing_tensorboard_warns_and_goes_on(tmp_path, monkeypatch):
    from ageshift.training.rundir import MetricsWriter

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    with pytest.warns(UserWarning, match=r"ageshift\[train\]"):
        writer = MetricsWriter(tmp_path)
    writer.write(1, {"loss": 0.5})
    writer.close()
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["step,loss", "1,0.5"]
