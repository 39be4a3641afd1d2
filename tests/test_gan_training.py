"""A real short training of the teaching GANs on scikit-learn's digits, judged by a classifier of real digits.

The cGAN's samples must be the digit asked for (≥ 80 %, chance is 10 %); the vanilla GAN's samples must
cover all ten digits (no mode collapse onto a few). About 40 s on one CPU thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ageshift
from ageshift.data.digits import prepare_digits
from ageshift.data.labelled import LabelledImages
from ageshift.models.generator import ImageGenerator
from ageshift.training import export_run, train
from ageshift.training.config import train_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

STEPS = 1200


def grey(images: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` images as the classifier's ``(N, H·W)`` grey values."""
    return images.mean(dim=1).flatten(1).numpy()


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_digits(tmp_path_factory.mktemp("data") / "digits").out


@pytest.fixture(scope="module")
def classifier(digits: Path):
    """Logistic regression on the real training digits (~96 % on the held-out real ones)."""
    from sklearn.linear_model import LogisticRegression

    train_images = LabelledImages(digits, 16, "train")
    everything = range(len(train_images))
    model = LogisticRegression(max_iter=2000).fit(
        grey(train_images.load(everything)), train_images.labels(everything)["label"].numpy()
    )
    test_images = LabelledImages(digits, 16, "test")
    held_out = range(len(test_images))
    accuracy = model.score(grey(test_images.load(held_out)), test_images.labels(held_out)["label"].numpy())
    assert accuracy > 0.9
    return model


def trained(family: str, digits: Path, runs: Path) -> ImageGenerator:
    overrides = {
        "precision": "fp32",
        "device": "cpu",
        "stages": [{"size": 16, "batch_size": 64, "steps": STEPS}],
    }
    run = train(
        train_config("fast", overrides=overrides, family=family), digits, runs, quiet=True, tensorboard=False
    )
    export_run(run, runs / "model")
    model = ageshift.load(str(runs / "model"))
    assert isinstance(model, ImageGenerator)
    return model


def test_cgan_draws_the_digit_asked_for(digits: Path, classifier, tmp_path: Path) -> None:
    model = trained("cgan", digits, tmp_path)
    accuracies = {}
    for digit in range(10):
        predicted = classifier.predict(grey(model.generate(100, label=str(digit), seed=digit)))
        accuracies[digit] = float((predicted == digit).mean())
    assert np.mean(list(accuracies.values())) >= 0.8, accuracies
    assert min(accuracies.values()) >= 0.5, accuracies


def test_gan_covers_all_ten_digits(digits: Path, classifier, tmp_path: Path) -> None:
    model = trained("gan", digits, tmp_path)
    shares = np.bincount(classifier.predict(grey(model.generate(1000, seed=0))), minlength=10) / 1000
    assert (shares >= 0.02).all(), shares  # every digit is drawn (a uniform GAN gives 10 % each)
    assert shares.max() <= 0.3, shares
