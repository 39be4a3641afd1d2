"""The teaching GANs (``gan``, ``cgan``): networks, losses, the family contract, generate, and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from tests.conftest import run_cli

import ageshift
from ageshift.errors import AgeshiftError, ConfigError
from ageshift.models.conditions import ConditionError
from ageshift.models.gan import (
    GAN,
    GANConfig,
    build_networks,
    discriminator_loss,
    generator_loss,
)
from ageshift.models.generator import ImageGenerator
from ageshift.training import TrainingInterrupted, export_run, train
from ageshift.training.config import train_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Small networks and few steps: each training here takes well under a second per run.
TINY = {
    "precision": "fp32",
    "device": "cpu",
    "model": {"hidden": 16, "latent_dim": 8, "channels": 4},
    "stages": [{"size": 16, "batch_size": 16, "steps": 6}],
    "sample_every": 3,
    "checkpoint_every": 3,
    "log_every": 3,
}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ageshift.data.digits import prepare_digits

    return prepare_digits(tmp_path_factory.mktemp("data") / "digits", limit=60).out


def quiet_train(family: str, data: Path, runs: Path, **options) -> Path:
    config = train_config("fast", overrides=TINY, family=family)
    return train(config, data, runs, quiet=True, tensorboard=False, handle_signals=False, **options)


# --- networks and losses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("architecture", ["mlp", "dcgan"])
@pytest.mark.parametrize("classes", [[], list("0123456789")])
@pytest.mark.parametrize("size,channels", [(16, 1), (28, 1), (16, 3)])
def test_network_shapes(architecture: str, classes: list[str], size: int, channels: int) -> None:
    config = GANConfig(architecture=architecture, image_size=size, image_channels=channels, classes=classes)
    generator, discriminator = build_networks(config)
    labels = torch.arange(5) % 10 if classes else None
    images = generator(torch.randn(5, config.latent_dim), labels)
    assert images.shape == (5, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1  # tanh
    assert discriminator(images, labels).shape == (5,)


def test_conditional_networks_need_labels() -> None:
    generator, _ = build_networks(GANConfig(classes=["a", "b"]))
    with pytest.raises(ValueError, match="class ids"):
        generator(torch.randn(2, 64))


def test_losses_match_their_closed_forms() -> None:
    real = torch.tensor([2.0, -1.0, 0.0, 5.0])
    fake = torch.tensor([-3.0, 0.5, 0.0, 1.0])

    def sigmoid(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    expected_d = (
        sum(
            -math.log(sigmoid(r)) - math.log(1 - sigmoid(f))
            for r, f in zip(real.tolist(), fake.tolist(), strict=True)
        )
        / 4
    )
    expected_g = sum(-math.log(sigmoid(f)) for f in fake.tolist()) / 4
    assert float(discriminator_loss(real, fake)) == pytest.approx(expected_d, rel=1e-6)
    assert float(generator_loss(fake)) == pytest.approx(expected_g, rel=1e-6)
    # At D's indifference point (every logit 0, σ = 1/2) the losses are 2 log 2 and log 2.
    zeros = torch.zeros(3)
    assert float(discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2))
    assert float(generator_loss(zeros)) == pytest.approx(math.log(2))
    # Stable where the naive formula is not: σ(-200) underflows to 0 in float32.
    assert math.isfinite(float(generator_loss(torch.tensor([-200.0]))))


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="architecture 'resnet'"):
        GANConfig(architecture="resnet")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="multiple of 4"):
        GANConfig(architecture="dcgan", image_size=18)
    with pytest.raises(ConfigError, match="stage size 16: a gan model trains at one size"):
        train_config(
            "fast", overrides={"stages": [{"size": 16, "steps": 2}, {"size": 32, "steps": 2}]}, family="gan"
        )


def test_sample_grid_is_fixed_noise() -> None:
    model = GAN(GANConfig(hidden=16, classes=list("0123456789"))).eval()
    first, second = model.sample_grid({}), model.sample_grid({})
    # 10 rows (digits) × 10 columns of 16² tiles shown at 32², 2-pixel padding.
    assert first.shape == (3, 10 * 34 + 2, 10 * 34 + 2) and torch.equal(first, second)


def test_families_are_registered() -> None:
    assert {"gan", "cgan"} <= set(ageshift.list_models())
    assert ageshift.get_family("cgan").data_kind == ageshift.get_family("gan").data_kind == "labelled"


# --- the family contract: train, resume, export, load, generate ------------------------------------------------


def test_cgan_trains_resumes_exactly_and_exports_a_generator(digits: Path, tmp_path: Path) -> None:
    straight = quiet_train("cgan", digits, tmp_path / "straight")
    with pytest.raises(TrainingInterrupted):
        quiet_train("cgan", digits, tmp_path / "split", should_stop=lambda step: step == 3)
    resumed = train(
        runs_dir=tmp_path / "split", resume=True, quiet=True, tensorboard=False, handle_signals=False
    )
    expected = torch.load(straight / "checkpoints" / "step-0000006.pt", weights_only=True)
    found = torch.load(resumed / "checkpoints" / "step-0000006.pt", weights_only=True)
    for key, value in expected["model"].items():
        assert torch.equal(value, found["model"][key]), key
    assert (
        found["model_config"]["classes"] == list("0123456789") and found["model_config"]["label"] == "label"
    )
    # Sample grids at every sample step, and the progress GIF made of them.
    assert len(list((resumed / "samples").glob("step-*.png"))) == 2
    with Image.open(resumed / "progress.gif") as gif:
        assert gif.n_frames == 2

    generator = export_run(straight, tmp_path / "model")
    assert isinstance(generator, ImageGenerator)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["kind"] == "generator" and config["labels"] == list("0123456789")
    assert config["card"]["training_data"]["name"] == "sklearn-digits"
    loaded = ageshift.load(str(tmp_path / "model"))
    assert isinstance(loaded, ImageGenerator) and loaded.family == "cgan" and loaded.image_size == 16
    sevens = loaded.generate(5, label="7", seed=3)
    assert sevens.shape == (5, 3, 16, 16) and torch.equal(sevens, generator.generate(5, label=7, seed=3))
    assert torch.equal(sevens[:, 0], sevens[:, 2])  # grey digits as RGB
    assert not torch.equal(sevens, loaded.generate(5, label="1", seed=3))
    with pytest.raises(ConditionError, match=r"unknown label 'x'; this model draws 0, 1, 2"):
        loaded.generate(2, label="x")
    with pytest.raises(AgeshiftError, match="does not translate images; use `ageshift generate"):
        loaded.translate(torch.zeros(1, 3, 16, 16))


def test_gan_generate_and_cli(digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = quiet_train("gan", digits, tmp_path / "runs")
    code, _, err = run_cli(["export", run, "--out", tmp_path / "model"], capsys)
    assert code == 0, err
    model = ageshift.load(str(tmp_path / "model"))
    assert isinstance(model, ImageGenerator) and model.labels == ()
    assert model.generate(3, seed=1).shape == (3, 3, 16, 16)
    with pytest.raises(ConditionError, match="unconditional: it takes no label"):
        model.generate(3, label="7")

    code, _, err = run_cli(
        ["generate", tmp_path / "model", "--label", "7", "--out", tmp_path / "x.png"], capsys
    )
    assert code == 2 and "unconditional: it takes no label" in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()

    code, _, err = run_cli(
        [
            "generate",
            tmp_path / "model",
            "--count",
            "12",
            "--columns",
            "4",
            "--out",
            tmp_path / "grid.png",
            "--seed",
            "0",
        ],
        capsys,
    )
    assert code == 0, err
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (4 * 18 + 2, 3 * 18 + 2)
    code, _, err = run_cli(
        ["generate", tmp_path / "model", "--out", tmp_path / "folder.png", "-n", "2"], capsys
    )
    assert code == 0, err
    (tmp_path / "folder.png").unlink()
    (tmp_path / "folder.png").mkdir()
    code, _, err = run_cli(["generate", tmp_path / "model", "--out", tmp_path / "folder.png"], capsys)
    assert code == 2 and "is a folder" in err
    code, _, err = run_cli(
        ["generate", tmp_path / "model", "-n", "3", "--out", tmp_path / "folder", "--scale", "2"], capsys
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    with Image.open(tmp_path / "folder" / "00000.png") as image:
        assert image.size == (32, 32)

    code, out, err = run_cli(["info", tmp_path / "model"], capsys)
    assert code == 0 and "gan, 16²" in out and "strength" not in out, err
    Image.new("RGB", (16, 16)).save(tmp_path / "in.png")
    code, _, err = run_cli(
        ["translate", tmp_path / "model", tmp_path / "in.png", tmp_path / "out.png"], capsys
    )
    assert code == 2 and "does not translate images; use `ageshift generate" in err


def test_cgan_cli_generate_with_label(digits: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = quiet_train("cgan", digits, tmp_path / "runs")
    export_run(run, tmp_path / "model")
    code, _, err = run_cli(
        ["generate", tmp_path / "model", "--label", "7", "-n", "8", "--out", tmp_path / "sevens.png"], capsys
    )
    assert code == 0 and "label 7" in err
    code, _, err = run_cli(
        ["generate", tmp_path / "model", "--label", "11", "--out", tmp_path / "x.png"], capsys
    )
    assert code == 2 and "unknown label '11'" in err
    code, out, _ = run_cli(["info", tmp_path / "model"], capsys)
    assert "label: one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in out


def test_generate_refuses_a_translator(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(["generate", "identity", "--out", tmp_path / "x.png"], capsys)
    assert code == 2 and "translates images and draws none" in err


def test_gan_refuses_classes_and_cgan_needs_a_label(digits: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unconditional"):
        train(
            train_config("fast", overrides={**TINY, "model": {"classes": ["a", "b"]}}, family="gan"),
            digits,
            tmp_path,
            quiet=True,
        )
    with pytest.raises(ConfigError, match="model.label 'digit' is not labelled"):
        train(
            train_config("fast", overrides={**TINY, "model": {"label": "digit"}}, family="cgan"),
            digits,
            tmp_path,
            quiet=True,
        )


def test_progress_gif_keeps_the_newest_size(tmp_path: Path) -> None:
    from ageshift.training.samples import write_progress_gif

    assert write_progress_gif(tmp_path) is None  # no grid yet
    (tmp_path / "samples").mkdir()
    for step, size in ((1, 8), (2, 16), (3, 16)):  # a progressive schedule grew the grid after step 1
        Image.new("RGB", (size, size), (step * 60,) * 3).save(tmp_path / "samples" / f"step-{step:07d}.png")
    path = write_progress_gif(tmp_path)
    assert path == tmp_path / "progress.gif"
    with Image.open(path) as gif:
        assert gif.size == (16, 16) and gif.n_frames == 2
