"""End to end: a short training on synthetic faces really moves the measured age cue, both ways."""

from __future__ import annotations

import json

import pytest
import torch

import ageshift
from ageshift.demo import run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    torch.set_num_threads(2)
    return run_demo(tmp_path_factory.mktemp("demo"), count=400, steps=250, seed=0, quiet=True, evaluate=False)


@pytest.mark.slow
def test_short_training_moves_the_cue_the_right_way(demo):
    by_direction = {d.direction: d for d in demo.directions}
    assert set(by_direction) == {"older", "younger"}
    for result in by_direction.values():
        assert result.count >= 15
        assert result.moved_right_way >= 0.8, result
    assert by_direction["older"].cue_after > by_direction["older"].cue_before + 5
    assert by_direction["younger"].cue_after < by_direction["younger"].cue_before - 5


@pytest.mark.slow
def test_demo_writes_page_model_and_summary(demo):
    page = demo.page.read_text(encoding="utf-8")
    assert "Measured age cue" in page and "<svg" in page
    for direction in demo.directions:
        assert (demo.out_dir / "translated" / f"grid-{direction.direction}.png").exists()
    summary = json.loads((demo.out_dir / "demo.json").read_text(encoding="utf-8"))
    assert summary["directions"][0]["direction"] == "older"
    model = ageshift.load(demo.model_dir)
    assert model.directions == ("older", "younger") and model.image_size == 64
    assert model.metadata["crop"]["template"] == "synthetic"
