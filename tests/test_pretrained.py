"""The one weights format (``ageshift.pretrained``): round trip, every error a one-line ModelLoadError naming
the file, and the folder written by the 0.1 exporter loading and translating exactly as it did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import ageshift
from ageshift.errors import AgeshiftError, ModelLoadError
from ageshift.pretrained import (
    CONFIG_FILE,
    FORMAT_VERSION,
    LEGACY_FORMATS,
    WEIGHTS_FILE,
    Pretrained,
    model_card,
    read_pretrained,
    register_legacy_format,
    write_pretrained,
)

FIXTURES = Path(__file__).parent / "fixtures"


def example() -> Pretrained:
    card = model_card(
        "toy",
        "a toy model",
        training_data={"name": "toy data", "size": {"A": 3}},
        licences=[{"name": "weights", "licence": "MIT", "origin": "here", "used_for": "testing"}],
        evaluation={"mae": 1.5},
        note="extra facts are kept",
    )
    tensors = {
        "net.weight": torch.arange(6.0).reshape(2, 3),
        "net.steps": torch.tensor([3], dtype=torch.int64),
    }
    return Pretrained(
        "translator", "toy", {"channels": 4, "norm": "instance"}, tensors, card, {"image_size": 16}
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_pretrained(tmp_path / "model", example())


def test_round_trip(folder: Path) -> None:
    original = example()
    loaded = read_pretrained(folder, kind="translator")
    assert (loaded.kind, loaded.family, loaded.config, loaded.card, loaded.fields) == (
        original.kind, original.family, original.config, original.card, original.fields,
    )  # fmt: skip
    assert loaded.path == folder and loaded.describe() == str(folder)
    assert set(loaded.tensors) == set(original.tensors)
    for name, value in original.tensors.items():
        assert torch.equal(loaded.tensors[name], value) and loaded.tensors[name].dtype == value.dtype
    document = json.loads((folder / CONFIG_FILE).read_text())
    assert document["format"] == "ageshift" and document["format_version"] == FORMAT_VERSION
    assert document["card"]["note"] == "extra facts are kept"
    assert sorted(path.name for path in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]  # no temporary files
    # Writing again replaces both files.
    changed = example()
    changed.config = {"channels": 8}
    write_pretrained(folder, changed)
    assert read_pretrained(folder).config == {"channels": 8}


def test_refuses_what_it_cannot_write(tmp_path: Path, folder: Path) -> None:
    bad_kind = example()
    bad_kind.kind = "pipeline"
    with pytest.raises(AgeshiftError, match="unknown model kind 'pipeline'; one of translator"):
        write_pretrained(tmp_path / "a", bad_kind)
    reserved = example()
    reserved.fields = {"format": "mine"}
    with pytest.raises(AgeshiftError, match="reserved"):
        write_pretrained(tmp_path / "b", reserved)
    (tmp_path / "file").write_text("")
    with pytest.raises(ModelLoadError, match="not a folder"):
        write_pretrained(tmp_path / "file", example())
    # A value JSON cannot hold fails before anything is written: the folder keeps its old model whole.
    unsavable = example()
    unsavable.card = {"evaluation": float("nan")}
    unsavable.tensors = {"other": torch.zeros(1)}
    with pytest.raises(AgeshiftError, match="cannot be saved as JSON"):
        write_pretrained(folder, unsavable)
    assert set(read_pretrained(folder).tensors) == {"net.weight", "net.steps"}


def corrupt(folder: Path, problem: str) -> Path:
    """Break ``folder`` one way; returns the path the error must name."""
    config, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    document = json.loads(config.read_text())
    if problem == "no weights":
        weights.unlink()
        return weights
    if problem == "garbage weights":
        weights.write_bytes(b"not a safetensors file at all")
        return weights
    if problem == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:-10])
        return weights
    if problem == "no config":
        config.unlink()
        return folder
    if problem == "invalid json":
        config.write_text("{format: ageshift")
        return config
    if problem == "not an object":
        config.write_text("[1, 2]")
        return config
    if problem == "binary config":
        config.write_bytes(b"\xff\xfe\x00")
        return config
    updates = {
        "other format": {"format": "diffusers"},
        "no format": {"format": None},
        "newer version": {"format_version": FORMAT_VERSION + 1},
        "text version": {"format_version": "2"},
        "config not an object": {"config": [1]},
        "unknown legacy version": {"format": "ageshift-translator", "format_version": 7},
        "malformed legacy": {"format": "ageshift-translator", "format_version": 1, "metadata": [1]},
    }[problem]
    config.write_text(json.dumps({**document, **updates}))
    return config


PROBLEMS = {
    "no weights": "weights file is missing",
    "garbage weights": "corrupt weights file",
    "truncated weights": "corrupt weights file",
    "no config": "not an ageshift model folder (expected config.json and model.safetensors",
    "invalid json": "not valid JSON",
    "not an object": "expected a JSON object, got list",
    "binary config": "not valid JSON",
    "other format": "not an ageshift model (format 'diffusers', expected 'ageshift')",
    "no format": "not an ageshift model (format None",
    "newer version": "newer than this ageshift understands",
    "text version": "format_version must be an integer, got '2'",
    "config not an object": "'config' must be a JSON object, got list",
    "unknown legacy version": "ageshift-translator version 7 is not known",
    "malformed legacy": "malformed ageshift-translator document",
}


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_every_error_is_one_line_naming_the_file(folder: Path, problem: str) -> None:
    named = corrupt(folder, problem)
    with pytest.raises(ModelLoadError) as error:
        read_pretrained(folder)
    message = str(error.value)
    assert message.startswith(f"{named}: ") and PROBLEMS[problem] in message, message
    assert "\n" not in message


def test_missing_folder_and_wrong_kind(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"nope: latent direction folder does not exist"):
        read_pretrained(tmp_path / "nope", kind="latent-direction")
    with pytest.raises(ModelLoadError, match=r"nope: ageshift model folder does not exist"):
        read_pretrained(tmp_path / "nope")
    with pytest.raises(ModelLoadError) as error:
        read_pretrained(folder, kind="age-regressor")
    assert str(error.value) == f"{folder / CONFIG_FILE}: holds a translator model, expected an age estimator"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not an age estimator folder .*ageshift train-age-estimator"):
        read_pretrained(tmp_path / "empty", kind="age-regressor")
    # The translator loader goes through the same checks.
    with pytest.raises(ModelLoadError, match="does not exist"):
        ageshift.load(tmp_path / "nope")


def test_registered_legacy_format_with_its_own_file_names(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "thing.json").write_text(json.dumps({"format": "toy-v0", "channels": 2}))
    save_file({"w": torch.ones(2)}, old / "thing.safetensors")

    def convert(document: dict) -> dict:
        return {"format": "ageshift", "format_version": 1, "kind": "translator", "family": "toy",
                "config": {"channels": document["channels"]}, "image_size": 8}  # fmt: skip

    register_legacy_format("toy-v0", convert, files=("thing.json", "thing.safetensors"))
    try:
        loaded = read_pretrained(old)
        assert loaded.config == {"channels": 2} and loaded.fields == {"image_size": 8}
        assert torch.equal(loaded.tensors["w"], torch.ones(2))
        (old / "thing.safetensors").unlink()
        with pytest.raises(ModelLoadError, match="thing.safetensors: weights file is missing"):
            read_pretrained(old)
    finally:
        from ageshift import pretrained

        del LEGACY_FORMATS["toy-v0"]
        del pretrained.LEGACY_FILES["thing.json"]


def test_version_1_cyclegan_fixture_translates_identically_and_resaves(tmp_path: Path) -> None:
    """``tests/fixtures/cyclegan-v1`` was written by the ageshift 0.1.0 exporter (never regenerate it)."""
    expected = load_file(FIXTURES / "cyclegan-v1-expected.safetensors")
    loaded = ageshift.load(FIXTURES / "cyclegan-v1")
    assert (
        loaded.family == "cyclegan" and loaded.image_size == 16 and loaded.directions == ("older", "younger")
    )
    assert loaded.metadata["domains"]["B"]["label"] == "age 50-59"
    assert loaded.card["family"] == "cyclegan" and loaded.card["training_data"] == {"name": "synthetic"}
    # Bit-equality is not promised across CPUs and kernel builds (2.98e-8 apart was seen): float32 rounding.
    for direction in ("older", "younger"):
        torch.testing.assert_close(
            loaded.translate_batch(expected["input"], direction), expected[direction], atol=1e-6, rtol=0
        )

    loaded.save_pretrained(tmp_path / "resaved")
    document = json.loads((tmp_path / "resaved" / CONFIG_FILE).read_text())
    assert (document["format"], document["format_version"], document["kind"]) == ("ageshift", 2, "translator")
    assert document["conditions"] == {"directions": ["older", "younger"]}
    assert document["card"]["summary"].startswith("written by ageshift 0.1")
    resaved = ageshift.load(tmp_path / "resaved")
    assert resaved.metadata == loaded.metadata and resaved.card == loaded.card
    for direction in ("older", "younger"):
        torch.testing.assert_close(
            resaved.translate_batch(expected["input"], direction), expected[direction], atol=1e-6, rtol=0
        )


def test_update_card_records_an_evaluation_summary_and_refuses_old_folders(tmp_path):
    import shutil

    from ageshift.evaluation.runner import card_summary
    from ageshift.pretrained import update_card

    old = tmp_path / "old"
    shutil.copytree(FIXTURES / "cyclegan-v1", old)
    with pytest.raises(ModelLoadError, match="older ageshift"):
        update_card(old, evaluation={})
    model = ageshift.load(old)
    model.save_pretrained(tmp_path / "new")
    weights = (tmp_path / "new" / "model.safetensors").read_bytes()
    metrics = {
        "data": "data/x",
        "directions": {"older": {"age": {"mean_shift": 12.5}, "cycle": {"psnr_db": float("inf")}}},
    }
    update_card(tmp_path / "new", evaluation=card_summary(metrics, tmp_path / "report"))
    card = ageshift.load(tmp_path / "new").card
    assert card["evaluation"]["older"]["mean_age_shift"] == 12.5
    assert card["evaluation"]["older"]["cycle_psnr_db"] is None  # JSON has no infinity
    assert (tmp_path / "new" / "model.safetensors").read_bytes() == weights
