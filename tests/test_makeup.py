"""The beautygan family: makeup data, training through the shared trainer, the makeup model, CLI and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import run_cli

from ageshift.errors import AgeshiftError, DataError
from ageshift.models.beautygan.data import (
    LANDMARKS_FILE,
    MakeupData,
    held_out_pairs,
    make_synthetic_makeup,
    prepare_makeup_folder,
)
from ageshift.models.conditions import ConditionError
from ageshift.training import export_run, train, train_config

TINY = {
    "model": {"channels": 4, "num_res_blocks": 1, "disc_channels": 4, "perceptual_weight": 0.0},
    "stages": [{"size": 32, "batch_size": 2, "steps": 2}],
    "sample_every": 2,
    "checkpoint_every": 2,
}


@pytest.fixture(scope="module")
def makeup_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("makeup") / "data"
    make_synthetic_makeup(root, count=10, size=32, seed=3, test_fraction=0.2)
    return root


@pytest.fixture(scope="module")
def tiny_model(makeup_data: Path, tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("tiny-makeup")
    run = train(train_config("fast", family="beautygan", overrides=TINY), makeup_data, work / "runs", quiet=True,
                tensorboard=False, handle_signals=False)  # fmt: skip
    export_run(run, work / "model")
    return work / "model"


def test_synthetic_layout_and_landmarks(makeup_data: Path) -> None:
    landmarks = json.loads((makeup_data / LANDMARKS_FILE).read_text())
    images = sorted(p.relative_to(makeup_data).as_posix() for p in makeup_data.rglob("*.png"))
    assert images == sorted(landmarks["points"])
    assert (makeup_data / "images/makeup").is_dir() and (makeup_data / "test/non-makeup").is_dir()
    assert landmarks["origin"]["kind"] == "synthetic"


def test_data_batches_flip_masks_with_faces(makeup_data: Path) -> None:
    data = MakeupData(makeup_data, 32, seed=0, config=None, progress=False)
    assert data.counts() == {"source": 8, "reference": 8}
    batch = data.next_batch(4, torch.Generator().manual_seed(0), flip_probability=1.0)
    assert set(batch) == {"source", "reference", "source_masks", "reference_masks"}
    assert batch["source"].shape == (4, 3, 32, 32) and batch["source_masks"].shape == (4, 3, 32, 32)
    plain = MakeupData(makeup_data, 32, seed=0, config=None, progress=False)
    same = plain.next_batch(4, torch.Generator().manual_seed(0), flip_probability=0.0)
    # every face was mirrored, and its masks with it
    assert torch.equal(batch["source"], same["source"].flip(-1))
    assert torch.equal(batch["source_masks"], same["source_masks"].flip(-1))
    # lips of a made-up face are its reddest region: the mask lies on the product
    lips = same["reference_masks"][:, 0] > 0.5
    skin = same["reference_masks"][:, 2] > 0.5
    redness = same["reference"][:, 0] - same["reference"][:, 1]
    assert float(redness[lips].mean()) > float(redness[skin].mean())
    state = data.state_dict()
    again = MakeupData(makeup_data, 32, seed=0, config=None, progress=False)
    again.load_state_dict(state)
    assert torch.equal(
        again.next_batch(2, torch.Generator(), 0.0)["source"],
        data.next_batch(2, torch.Generator(), 0.0)["source"],
    )


def test_data_without_landmarks_says_what_to_run(tmp_path: Path) -> None:
    (tmp_path / "images" / "makeup").mkdir(parents=True)
    with pytest.raises(DataError, match="prepare makeup"):
        MakeupData(tmp_path, 32, seed=0, config=None, progress=False)
    (tmp_path / LANDMARKS_FILE).write_text("{not json")
    with pytest.raises(DataError, match="unreadable landmarks"):
        MakeupData(tmp_path, 32, seed=0, config=None, progress=False)


def test_prepare_mt_layout_skips_faceless_files(tmp_path: Path, makeup_data: Path) -> None:
    """The MT layout is read (never written), landmarks found per image, a file without a face is listed."""
    source = tmp_path / "MT"
    for folder in ("makeup", "non-makeup"):
        (source / "images" / folder).mkdir(parents=True)
        for path in sorted((makeup_data / "images" / folder).glob("*.png"))[:3]:
            Image.open(path).save(source / "images" / folder / path.name)
    Image.new("RGB", (32, 32), "white").save(source / "images" / "makeup" / "blank.png")
    (source / "images" / "makeup" / "broken.png").write_bytes(b"not an image")
    points = json.loads((makeup_data / LANDMARKS_FILE).read_text())["points"]
    known = {
        np.asarray(Image.open(makeup_data / key)).tobytes(): np.asarray(value)
        for key, value in points.items()
    }

    def landmarks(image: Image.Image) -> np.ndarray:  # stands in for dlib: the drawn faces' exact points
        found = known.get(np.asarray(image.convert("RGB")).tobytes())
        if found is None:
            raise DataError("no face")
        return found

    before = sorted(p.name for p in source.rglob("*"))
    prepared = prepare_makeup_folder(
        source, tmp_path / "out", size=32, test_fraction=0.0, landmarks=landmarks
    )
    assert sorted(p.name for p in source.rglob("*")) == before
    assert prepared.counts == {"images/non-makeup": 3, "images/makeup": 3}
    assert sorted(item.path.name for item in prepared.skipped) == ["blank.png", "broken.png"]
    data = MakeupData(tmp_path / "out", 32, seed=0, config=None, progress=False)
    assert data.counts() == {"source": 3, "reference": 3}
    with pytest.raises(DataError, match="not the MT layout"):
        prepare_makeup_folder(tmp_path / "out" / "images", tmp_path / "elsewhere")


def test_model_needs_a_reference_for_makeup_but_not_for_removal(tiny_model: Path) -> None:
    import ageshift

    model = ageshift.load(tiny_model)
    assert model.family == "beautygan" and model.directions == ("makeup", "remove")
    faces = torch.rand(2, 3, 32, 32) * 2 - 1
    with pytest.raises(ConditionError, match="reference"):
        model.translate(faces, "makeup")
    assert model.translate(faces, "remove").shape == faces.shape
    bound = model.with_reference(faces[0])
    assert model.reference is None and bound.networks is model.networks
    assert bound.translate(faces, "makeup").shape == faces.shape
    assert torch.equal(bound.translate(faces, "makeup", strength=0.0), faces)
    with pytest.raises(AgeshiftError, match="one reference"):
        model.with_reference(faces)


def test_evaluate_cli_writes_a_makeup_report(
    tiny_model: Path, makeup_data: Path, tmp_path: Path, capsys
) -> None:
    code, out, err = run_cli(
        ["evaluate", tiny_model, "--data", makeup_data, "--out", tmp_path / "report", "--skip", "realism"],
        capsys,
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    figures = metrics["makeup"]
    assert figures["pairs"] == 2 and set(figures["regions"]) == {"lips", "eyes", "skin"}
    assert figures["identity"]["measure"] == "synthetic"
    assert (tmp_path / "report" / "makeup_grid.png").is_file()
    assert "Makeup transfer" in (tmp_path / "report" / "index.html").read_text()
    assert "lips: ΔE" in out
    # Age options do not apply to a makeup model: one line naming them, no report.
    code, out, err = run_cli(
        ["evaluate", tiny_model, "--data", makeup_data, "--out", tmp_path / "r2", "--ages", "30",
         "--age-estimator", "cue"], capsys,
    )  # fmt: skip
    assert code == 2 and "--ages, --age-estimator do not apply" in err and "makeup model" in err
    assert not (tmp_path / "r2" / "metrics.json").exists() and "Traceback" not in err


def test_makeup_cli_errors(tiny_model: Path, makeup_data: Path, tmp_path: Path, capsys) -> None:
    photo = next((makeup_data / "test" / "non-makeup").glob("*.png"))
    blank = tmp_path / "blank.png"
    Image.new("RGB", (128, 128), (200, 180, 160)).save(blank)
    code, _, err = run_cli(["makeup", photo, "--model", tiny_model, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "--reference" in err
    code, _, err = run_cli(
        ["makeup", photo, "--model", tiny_model, "--reference", blank, "--out", tmp_path / "o"], capsys
    )
    assert code == 2 and "blank.png: no face found in the makeup reference" in err
    code, _, err = run_cli(["prepare", "makeup", "--synthetic", "--out", makeup_data], capsys)
    assert code == 2 and "--overwrite" in err


def test_reference_with_two_faces_is_refused(tiny_model: Path) -> None:
    from skimage import data as skdata

    import ageshift
    from ageshift.faces.makeup import ReferenceFaceError, reference_face

    face = Image.fromarray(skdata.astronaut()).crop((120, 0, 300, 220))
    two = Image.new("RGB", (face.width * 2 + 40, face.height), "white")
    two.paste(face, (0, 0))
    two.paste(face, (face.width + 40, 0))
    model = ageshift.load(tiny_model)
    with pytest.raises(ReferenceFaceError, match="2 faces"):
        reference_face(two, model, name="two.png")
    assert reference_face(face, model).size == (model.image_size, model.image_size)


def test_makeup_photo_pastes_every_face_and_keeps_the_rest(tiny_model: Path, tmp_path: Path, capsys) -> None:
    from skimage import data as skdata

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    reference = tmp_path / "reference.png"
    Image.fromarray(skdata.astronaut()).crop((120, 0, 300, 220)).save(reference)
    code, _, err = run_cli(
        ["makeup", photo, "--model", tiny_model, "--reference", reference, "--out", tmp_path / "o"], capsys
    )
    assert code == 0, err
    before, after = np.asarray(Image.open(photo)), np.asarray(Image.open(tmp_path / "o" / "astronaut.png"))
    changed = np.abs(before.astype(int) - after.astype(int)).sum(-1) > 0
    assert changed.any() and not changed[:, :100].any() and not changed[400:].any()


def test_onnx_makeup_matches_pytorch_and_runs_photos(tiny_model: Path, tmp_path: Path, capsys) -> None:
    """export-onnx writes makeup.onnx; onnxruntime gives both directions as PyTorch, and the makeup command runs
    on it (--backend onnxruntime), editing the same pixels."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from skimage import data as skdata

    import ageshift
    from ageshift.onnx.runtime import load_onnx

    folder = tmp_path / "model"
    code, _, err = run_cli(["export-onnx", tiny_model, "--out", folder, "--int8"], capsys)
    assert code == 0, err
    contract = json.loads((folder / "config.json").read_text())["card"]["onnx"]
    assert contract["kind"] == "makeup" and (folder / "makeup.onnx").is_file()
    assert [entry["name"] for entry in contract["outputs"]] == ["made_up", "removed"]
    torch_model, runtime = ageshift.load(folder), load_onnx(folder, threads=1)
    face = Image.fromarray(skdata.astronaut()).crop((150, 20, 290, 160))
    reference = Image.fromarray(skdata.astronaut()).crop((140, 10, 300, 170))
    for direction, strength in (("makeup", 1.0), ("makeup", 0.5), ("remove", 1.0)):
        models = [torch_model.with_reference(reference), runtime.with_reference(reference)]
        if direction == "remove":
            models = [torch_model, runtime]
        outputs = [np.asarray(m.translate(face, direction, strength=strength), dtype=int) for m in models]
        assert np.abs(outputs[0] - outputs[1]).max() <= 2, direction
        if (direction, strength) == ("makeup", 1.0):
            made_up = outputs[0]
    with pytest.raises(ConditionError, match="needs a reference"):
        runtime.translate(face, "makeup")
    assert contract["int8"]["psnr_vs_fp32_db"]["makeup"] > 20
    int8 = load_onnx(folder, threads=1, int8=True).with_reference(reference)
    assert np.abs(np.asarray(int8.translate(face, "makeup"), dtype=int) - made_up).mean() < 8
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    reference_file = tmp_path / "reference.png"
    Image.fromarray(skdata.astronaut()).crop((120, 0, 300, 220)).save(reference_file)
    for backend in ("torch", "onnxruntime"):
        code, _, err = run_cli(
            ["makeup", photo, "--model", folder, "--reference", reference_file, "--out", tmp_path / backend,
             "--backend", backend], capsys,
        )  # fmt: skip
        assert code == 0, err
    edited = [
        np.asarray(Image.open(tmp_path / b / "astronaut.png"), dtype=int) for b in ("torch", "onnxruntime")
    ]
    assert np.abs(edited[0] - edited[1]).max() <= 3
    code, _, err = run_cli(
        ["makeup", photo, "--model", "identity", "--remove", "--out", tmp_path / "x"], capsys
    )
    assert code == 2 and "not a makeup model" in err


@pytest.mark.slow
def test_short_training_moves_lips_and_eyes_towards_the_reference(tmp_path: Path, one_torch_thread) -> None:
    """On held-out pairs of new people: lip ΔE to the reference at least halved, eye shadow moved towards it,
    identity kept. (The issue's goal of halving the eye-shadow ΔE too is not reached: docs/makeup.md.)"""
    import ageshift
    from ageshift.data.synthetic_identity import IDENTITY_TOLERANCE
    from ageshift.evaluation.makeup import evaluate_makeup

    make_synthetic_makeup(tmp_path / "data", count=160, size=32, seed=0, test_fraction=0.1)
    overrides = {
        "model": {"channels": 16, "num_res_blocks": 2, "perceptual_weight": 0.0},
        "stages": [{"size": 32, "batch_size": 8, "steps": 300}],
        "sample_every": 300,
        "checkpoint_every": 300,
    }
    torch.manual_seed(0)
    run = train(train_config("fast", family="beautygan", overrides=overrides), tmp_path / "data", tmp_path / "runs",
                quiet=True, tensorboard=False, handle_signals=False)  # fmt: skip
    export_run(run, tmp_path / "model")
    figures = evaluate_makeup(
        ageshift.load(tmp_path / "model"), tmp_path / "data", sections=("colour", "identity")
    )
    assert figures["pairs"] == 16
    assert figures["regions"]["lips"]["ratio"] <= 0.5, figures["regions"]
    assert figures["regions"]["eyes"]["ratio"] < 0.9, figures["regions"]
    assert (
        figures["identity"]["source_to_output"] < IDENTITY_TOLERANCE < figures["identity"]["different_people"]
    )


def test_held_out_pairs_are_paired_in_order(makeup_data: Path) -> None:
    pairs = held_out_pairs(makeup_data, 32)
    assert pairs["source"].shape == pairs["reference"].shape == (2, 3, 32, 32)
    assert len(pairs["source_points"]) == 2 and pairs["source_points"][0].shape == (68, 2)


@pytest.fixture(scope="module")
def astronaut_files(tmp_path_factory) -> tuple[Path, Path]:
    from skimage import data as skdata

    folder = tmp_path_factory.mktemp("astronaut")
    Image.fromarray(skdata.astronaut()).save(folder / "astronaut.png")
    Image.fromarray(skdata.astronaut()).crop((120, 0, 300, 220)).save(folder / "reference.png")
    return folder / "astronaut.png", folder / "reference.png"


def test_chain_stage_binds_its_reference(tiny_model: Path, astronaut_files: tuple[Path, Path]) -> None:
    """age → makeup as one chain: the makeup stage's reference is read from its options."""
    from ageshift.faces.chain import Pipeline, parse_stage

    photo, reference = astronaut_files
    stage = parse_stage(f"{tiny_model}:direction=makeup,reference={reference}")
    assert stage.request == {"direction": "makeup"} and stage.model.reference is not None
    result = Pipeline([("identity", {"direction": "older"}), (str(tiny_model), {"direction": "makeup",
                       "reference": str(reference)})])(Image.open(photo).convert("RGB"))  # fmt: skip
    assert len(result.faces) == 1
    with pytest.raises(AgeshiftError, match="takes no makeup reference"):
        parse_stage(f"identity:direction=older,reference={reference}")


def test_web_process_takes_a_reference_upload(tiny_model: Path, astronaut_files: tuple[Path, Path]) -> None:
    import ageshift
    from ageshift.web.pipeline import process

    photo, reference = astronaut_files
    model = ageshift.load(tiny_model)
    result = process(str(photo), "makeup", translator=model, reference=str(reference))
    assert result[1] is not None and len(result[2]) == 1, result[3]
    missing = process(str(photo), "makeup", translator=model)
    assert missing[1] is None and "reference" in missing[3]
    removed = process(str(photo), "remove", translator=model)
    assert removed[1] is not None


class _FixedMakeup:
    """A stand-in makeup model: ``transfer_pairs`` returns fixed choices of its inputs."""

    family, image_size = "beautygan", 32

    def __init__(self, swap: bool) -> None:
        self.swap = swap

    def transfer_pairs(self, sources, references):
        return (references, sources) if self.swap else (sources, references)


def test_removal_figures_measure_the_references_against_bare_faces(makeup_data: Path) -> None:
    from ageshift.evaluation.makeup import evaluate_makeup

    unchanged = evaluate_makeup(_FixedMakeup(swap=False), makeup_data, sections=("colour",))
    for region in ("lips", "eyes"):
        assert unchanged["removal"][region]["ratio"] == pytest.approx(1.0)  # nothing removed
        assert unchanged["regions"][region]["ratio"] == pytest.approx(1.0)  # nothing transferred
    # Bare faces in place of the references' "removed" outputs: their regions are the bare colours.
    oracle = evaluate_makeup(_FixedMakeup(swap=True), makeup_data, sections=("colour",))
    assert oracle["removal"]["lips"]["after"] < 0.5 * oracle["removal"]["lips"]["before"]
    assert oracle["regions"]["lips"]["after"] < 0.5 * oracle["regions"]["lips"]["before"]
