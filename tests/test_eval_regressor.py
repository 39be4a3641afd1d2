"""Our own age regressor: trains on UTKFace-named files, beats the predict-the-mean baseline, round-trips in
the one weights format, and still loads folders written by ageshift 0.1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ageshift.cli import main
from ageshift.data.synthetic import make_utkface_named_folder
from ageshift.errors import DataError, ModelLoadError
from ageshift.evaluation.age import create_age_estimator
from ageshift.evaluation.age_regressor import (
    AgeRegressor,
    AgeRegressorConfig,
    AgeTrainingConfig,
    TrainedAgeEstimator,
    load_age_regressor,
    train_age_regressor,
)

FIXTURES = Path(__file__).parent / "fixtures"

TINY_NETWORK = AgeRegressorConfig(image_size=24, channels=(8, 16, 32))


@pytest.fixture(scope="module")
def utkface_named(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("utk") / "faces"
    make_utkface_named_folder(folder, count=72, size=32, seed=3)
    (folder / "not_labelled.png").write_bytes(
        (folder / next(iter(sorted(p.name for p in folder.iterdir())))).read_bytes()
    )
    return folder


def test_regressor_beats_the_mean_baseline_and_round_trips(tmp_path, utkface_named) -> None:
    torch.set_num_threads(2)
    epochs_seen = []
    report = train_age_regressor(
        utkface_named,
        tmp_path / "model",
        TINY_NETWORK,
        AgeTrainingConfig(epochs=12, batch_size=16, learning_rate=3e-3, held_out_fraction=0.25),
        progress=lambda epoch, mae: epochs_seen.append((epoch, mae)),
    )
    assert report.num_train + report.num_held_out == 72
    assert [epoch for epoch, _ in epochs_seen] == list(range(1, 13))
    assert epochs_seen[-1][1] < epochs_seen[0][1]  # training MAE falls
    assert report.held_out_mae < 0.8 * report.baseline_mae
    assert any("not_labelled.png" in item for item in report.skipped)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert (config["format"], config["kind"], config["config"]["channels"]) == (
        "ageshift",
        "age-regressor",
        [8, 16, 32],
    )
    # The model card: the training data and the held-out MAE as its evaluation.
    card = config["card"]
    assert card["family"] == "age-regressor" and card["evaluation"]["held_out_mae"] == pytest.approx(
        report.held_out_mae
    )
    assert card["evaluation"]["baseline_mae"] == pytest.approx(report.baseline_mae)
    assert card["training_data"]["name"] == "faces" and card["training_data"]["size"] == {
        "train": 54,
        "held_out": 18,
    }
    assert card["training"]["epochs"] == 12
    # The exported folder works as an evaluation age estimator.
    estimator = create_age_estimator(tmp_path / "model")
    assert isinstance(estimator, TrainedAgeEstimator) and not estimator.aligned
    ages = estimator.predict(np.full((3, 24, 24, 3), 128, np.uint8))
    assert ages.shape == (3,) and np.allclose(ages, ages[0])
    reloaded = AgeRegressor.from_pretrained(tmp_path / "model")
    assert reloaded.config == TINY_NETWORK and reloaded.card == card and not reloaded.training
    assert load_age_regressor(tmp_path / "model").config == TINY_NETWORK  # the old name still works
    images = torch.rand(2, 3, 24, 24) * 2 - 1
    reloaded.save_pretrained(tmp_path / "again")
    with torch.inference_mode():
        assert torch.equal(AgeRegressor.from_pretrained(tmp_path / "again")(images), reloaded(images))


def test_regressor_written_by_ageshift_0_1_still_loads(tmp_path) -> None:
    """``tests/fixtures/age-regressor-v1`` was written by the 0.1 exporter (format ageshift-age-estimator),
    with its outputs beside it; never regenerate it."""
    expected = load_file(FIXTURES / "age-regressor-v1-expected.safetensors")
    model = AgeRegressor.from_pretrained(FIXTURES / "age-regressor-v1")
    assert model.config == AgeRegressorConfig(image_size=8, channels=(4,)) and not model.training
    assert model.card["evaluation"]["held_out_mae"] == 7.5 and model.card["training"]["epochs"] == 2
    with torch.inference_mode():
        assert torch.equal(model(expected["input"]), expected["ages"])
    model.save_pretrained(tmp_path / "resaved")
    assert json.loads((tmp_path / "resaved" / "config.json").read_text())["format"] == "ageshift"
    resaved = AgeRegressor.from_pretrained(tmp_path / "resaved")
    assert resaved.card == model.card
    with torch.inference_mode():
        assert torch.equal(resaved(expected["input"]), expected["ages"])


def test_too_few_labelled_images_and_bad_folders(tmp_path) -> None:
    (tmp_path / "faces").mkdir()
    with pytest.raises(DataError, match="UTKFace-style names"):
        train_age_regressor(tmp_path / "faces", tmp_path / "model")
    with pytest.raises(ModelLoadError, match="not an age estimator folder"):
        AgeRegressor.from_pretrained(tmp_path / "faces")
    with pytest.raises(ModelLoadError, match="age estimator folder does not exist"):
        AgeRegressor.from_pretrained(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="holds a translator model, expected an age estimator"):
        AgeRegressor.from_pretrained(FIXTURES / "cyclegan-v1")
    AgeRegressor(AgeRegressorConfig(image_size=8, channels=(4,))).save_pretrained(tmp_path / "small")
    config_file = tmp_path / "small" / "config.json"
    document = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**document, "config": {"image_size": "big", "channels": [4]}}))
    with pytest.raises(ModelLoadError, match=r"small/config.json: config.image_size: expected an integer"):
        AgeRegressor.from_pretrained(tmp_path / "small")
    config_file.write_text(json.dumps({**document, "config": {"image_size": 8, "channels": [5]}}))
    with pytest.raises(ModelLoadError, match="small: weights do not fit the config"):
        AgeRegressor.from_pretrained(tmp_path / "small")


def test_train_age_estimator_command(tmp_path, utkface_named, capsys) -> None:
    out = tmp_path / "cli_model"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "train-age-estimator",
                "--data",
                str(utkface_named),
                "--out",
                str(out),
                "--epochs",
                "1",
                "--size",
                "16",
            ]
        )
    assert exit_info.value.code == 0
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert "held-out MAE" in capsys.readouterr().out
