"""End to end for the two-domain family: a short CycleGAN training on synthetic faces moves the measured age
cue the right way in both directions, keeps the face's identity features and exports a loadable model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ageshift
from ageshift.data import measure_age_cue
from ageshift.data.synthetic import make_synthetic_dataset
from ageshift.image import pil_to_tensor
from ageshift.io import list_images, load_image
from ageshift.training import export_run, train, train_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("cyclegan")
    make_synthetic_dataset(root / "data", count=400, seed=0)
    config = train_config("fast", overrides={"stages": [{"size": 64, "batch_size": 4, "steps": 250}]})
    run = train(config, root / "data", root / "runs", quiet=True, tensorboard=False)
    export_run(run, root / "model")
    return root


def _held_out(root, domain: str) -> torch.Tensor:
    return torch.stack([pil_to_tensor(load_image(p)) for p in list_images(root / "data" / f"test{domain}")])


@pytest.mark.slow
def test_short_training_moves_the_cue_the_right_way_both_ways(trained):
    model = ageshift.load(trained / "model")
    assert model.directions == ("older", "younger") and model.image_size == 64
    assert model.metadata["crop"]["template"] == "synthetic"
    for direction, domain, sign in (("older", "A", 1.0), ("younger", "B", -1.0)):
        inputs = _held_out(trained, domain)
        assert len(inputs) >= 15
        before = np.asarray(measure_age_cue(inputs))
        after = np.asarray(measure_age_cue(model.translate_batch(inputs, direction)))
        assert np.mean(sign * (after - before) > 0) >= 0.8, direction
        assert sign * (after.mean() - before.mean()) > 5, direction


@pytest.mark.slow
def test_strength_moves_part_of_the_way(trained):
    model = ageshift.load(trained / "model")
    inputs = _held_out(trained, "A")
    full = model.translate_batch(inputs, "older")
    half = model.translate_batch(inputs, "older", strength=0.5)
    assert torch.equal(model.translate_batch(inputs, "older", strength=0.0), inputs)
    assert torch.allclose(half, (inputs + full) / 2, atol=1e-5)
