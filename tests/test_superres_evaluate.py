"""``ageshift evaluate`` on super-resolution models: the upscaling section in metrics.json and index.html."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import run_cli

from ageshift.errors import MissingDependencyError
from ageshift.models.superres import SRResNet, SuperResolver


@pytest.fixture
def photos(tmp_path):
    """Two small real photo crops (scikit-image) and one too small to evaluate."""
    data = pytest.importorskip("skimage.data")
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(data.astronaut()[80:144, 180:244]).save(folder / "astronaut.png")
    Image.fromarray(data.chelsea()[100:164, 150:230]).save(folder / "chelsea.png")
    Image.new("RGB", (20, 20)).save(folder / "tiny.png")
    return folder


@pytest.fixture
def tiny_model(tmp_path):
    """A freshly initialised ×4 SRResNet (8 channels, 1 block) saved as a model folder."""
    torch.manual_seed(0)
    config = {"architecture": "srresnet", "channels": 8, "num_blocks": 1, "image_size": 32}
    folder = tmp_path / "tiny-sr"
    SuperResolver(SRResNet(channels=8, num_blocks=1), config).save_pretrained(folder)
    return folder


def test_packaged_srresnet_gets_the_upscaling_section(photos, tmp_path, capsys):
    from ageshift.models.translator import load

    try:
        load("srresnet-x4")
    except MissingDependencyError as error:
        pytest.skip(str(error))
    report = tmp_path / "report"
    code, out, err = run_cli(["evaluate", "srresnet-x4", "--data", photos, "--out", report], capsys)
    assert code == 0, err
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["sections"] == ["upscaling"] and metrics["model"]["family"] == "superres"
    figures = metrics["upscaling"]
    assert figures["scale"] == 4 and figures["images"] == 2
    assert "tiny.png" in figures["skipped"][0] and "too small" in figures["skipped"][0]
    methods = figures["methods"]
    # SRResNet beats both filters on real photos (measured: 30.3 dB against 27.7 bicubic, 28.1 Lanczos).
    assert methods["model"]["psnr_db"] > methods["lanczos"]["psnr_db"] > methods["bicubic"]["psnr_db"]
    assert methods["model"]["ssim"] > methods["bicubic"]["ssim"]
    gain = methods["model"]["psnr_db"] - methods["bicubic"]["psnr_db"]
    assert figures["model_gain_over_bicubic_db"] == pytest.approx(gain)
    for row in figures["per_image"]:
        assert row["model"]["psnr_db"] > row["bicubic"]["psnr_db"], row
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "Upscaling: srresnet-x4, ×4 on 2 photo(s)" in page and "Lanczos" in page
    assert f"{gain:+.2f} dB" in page and "chelsea.png" in page and "tiny.png" in page
    assert "age estimator" not in page
    assert "srresnet-x4" in out and "lanczos" in out and "report:" in out


def test_a_trained_model_folder_is_evaluated_and_recorded_in_its_card(photos, tiny_model, tmp_path, capsys):
    report = tmp_path / "report"
    weights = (tiny_model / "model.safetensors").read_bytes()
    code, _, err = run_cli(
        ["evaluate", tiny_model, "--data", photos, "--out", report, "--limit", "1", "--record"], capsys
    )
    assert code == 0, err
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["upscaling"]["images"] == 1
    # An untrained network is far from the originals: the report says so rather than hiding it.
    model_psnr = metrics["upscaling"]["methods"]["model"]["psnr_db"]
    assert np.isfinite(model_psnr) and model_psnr < metrics["upscaling"]["methods"]["bicubic"]["psnr_db"]
    card = json.loads((tiny_model / "config.json").read_text(encoding="utf-8"))["card"]
    recorded = card["evaluation"]["upscaling"]
    assert recorded["scale"] == 4 and recorded["methods"]["model"]["psnr_db"] == pytest.approx(model_psnr)
    assert card["evaluation"]["report"] == str(report)
    assert (tiny_model / "model.safetensors").read_bytes() == weights


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--ages", "20,40"], "--ages do not apply"),
        (["--skip", "age"], "--skip do not apply"),
        (["--age-estimator", "cue"], "--age-estimator do not apply"),
    ],
)
def test_face_options_on_an_sr_model_are_one_line_errors(
    photos, tiny_model, tmp_path, capsys, extra, expected
):
    code, _, err = run_cli(
        ["evaluate", tiny_model, "--data", photos, "--out", tmp_path / "r", *extra], capsys
    )
    assert code == 2 and expected in err and "super-resolution" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_bad_sr_evaluations_are_one_line_errors(tmp_path, tiny_model, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(["evaluate", tiny_model, "--data", empty, "--out", tmp_path / "r"], capsys)
    assert code == 2 and "no images to evaluate upscaling on" in err and "Traceback" not in err
    code, _, err = run_cli(
        ["evaluate", "srresnet-x4", "--data", empty, "--out", tmp_path / "r", "--record"], capsys
    )
    assert code == 2 and "--record needs a model folder" in err
