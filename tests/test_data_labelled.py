"""Labelled images: both layouts, labels and ids, schema from dataset.json or inferred, every error, the
target sampler's determinism, and the one dataset.json reader."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.test_utkface import make_utkface

from ageshift.data import LabelledImages, LabelSchema, read_dataset_json, sample_targets
from ageshift.data.manifest import read_manifest
from ageshift.data.utkface import prepare_utkface, prepare_utkface_all_ages
from ageshift.errors import DataError

AGES = [3, 15, 22, 25, 27, 33, 45, 58, 61, 77, 88, 95]


@pytest.fixture(scope="module")
def all_ages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An all-ages UTKFace dataset (train/ test/) of 16² images."""
    tmp = tmp_path_factory.mktemp("labelled")
    make_utkface(tmp / "src", AGES)
    prepare_utkface_all_ages(tmp / "src", tmp / "data", test_fraction=0.25, size=16)
    return tmp / "data"


def write_dataset(root: Path, rows: list[dict[str, str]], labels: dict | None = None) -> Path:
    """Write a 20² image per row (unless the file exists or is named 'missing…') and the manifest."""
    root.mkdir(parents=True, exist_ok=True)
    for index, row in enumerate(rows):
        path = root / row["file"]
        if not path.exists() and not row["file"].startswith("missing"):
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (20, 20), (index * 20 % 256, 80, 160)).save(path)
    with (root / "manifest.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    if labels is not None:
        (root / "dataset.json").write_text(json.dumps({"name": "hand", "labels": labels}))
    return root


def hand_rows() -> list[dict[str, str]]:
    return [
        {
            "file": "train/a.png",
            "split": "train",
            "domain": "",
            "age": "30",
            "gender": "male",
            "hair": "grey",
        },
        {"file": "train/b.png", "split": "train", "domain": "", "age": "", "gender": "female", "hair": ""},
        {"file": "train/c.png", "split": "train", "domain": "", "age": "12.5", "gender": "", "hair": "dark"},
        {"file": "test/d.png", "split": "test", "domain": "", "age": "70", "gender": "male", "hair": "grey"},
    ]


def test_all_ages_layout_images_labels_and_ids(all_ages: Path) -> None:
    data = LabelledImages(all_ages, 16)
    rows = [row for row in read_manifest(all_ages) if row["split"] == "train"]
    assert len(data) == len(rows) == 9 and data.files == [all_ages / row["file"] for row in rows]
    assert data.schema.age == (3.0, 95.0)
    assert data.schema.attributes["gender"] == ("female", "male")
    assert data.schema == LabelSchema.from_json(json.loads((all_ages / "dataset.json").read_text())["labels"])
    batch = data.load([1, 0])
    assert batch.shape == (2, 3, 16, 16) and batch.dtype == torch.float32
    assert batch.min() >= -1 and batch.max() <= 1
    labels = data.labels([1, 0])
    assert set(labels) == {"age", "gender", "race"} and labels["age"].dtype == torch.float32
    assert labels["age"].tolist() == [float(rows[1]["age"]), float(rows[0]["age"])]
    assert labels["gender"].dtype == torch.int64
    assert [data.schema.attributes["race"][i] for i in labels["race"]] == [rows[1]["race"], rows[0]["race"]]
    assert data.ages.dtype == np.float32 and data.attribute_ids["gender"].shape == (9,)
    test = LabelledImages(all_ages, 16, "test", attributes=["gender"])
    assert len(test) == 3 and set(test.schema.attributes) == {"gender"}
    assert set(test.labels(range(3))) == {"age", "gender"}
    test.set_size(24)
    assert test.load([0]).shape == (1, 3, 24, 24)


def test_two_domain_layout_reads_both_domains_of_the_split(tmp_path: Path) -> None:
    make_utkface(tmp_path / "src", [20, 21, 22, 23, 24, 50, 51, 52, 53])
    prepare_utkface(tmp_path / "src", tmp_path / "data", test_fraction=0.0, size=16)
    data = LabelledImages(tmp_path / "data", 16)
    assert {path.parent.name for path in data.files} == {"trainA", "trainB"} and len(data) == 9
    assert sorted(data.ages.tolist()) == [20, 21, 22, 23, 24, 50, 51, 52, 53]
    assert data.schema.age == (20.0, 59.0)  # dataset.json spans both domain ranges


def test_schema_inferred_from_the_manifest_when_dataset_json_has_none(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, hand_rows())
    data = LabelledImages(root, 16, attributes=["gender", "hair"])
    # every split counts, so the test split shares the training split's schema
    assert data.schema == LabelSchema((12.5, 70.0), {"gender": ("female", "male"), "hair": ("dark", "grey")})
    assert np.isnan(data.ages[1]) and data.ages[2] == 12.5
    assert data.attribute_ids["gender"].tolist() == [1, 0, -1]
    assert data.attribute_ids["hair"].tolist() == [1, -1, 0]
    assert LabelledImages(root, 16, "test", attributes=["gender", "hair"]).schema == data.schema
    plain = LabelledImages(root, 16)
    assert plain.schema.attributes == {} and set(plain.labels([0])) == {"age"}
    given = LabelSchema(None, {"gender": ("male", "female", "other")})
    chosen = LabelledImages(root, 16, schema=given)
    assert chosen.attribute_ids["gender"].tolist() == [0, 1, -1] and set(chosen.labels([0])) == {"gender"}


def test_schema_json_round_trip_and_errors() -> None:
    schema = LabelSchema((1, 90), {"gender": ("female", "male")})
    assert schema.to_json() == {"age": {"min": 1, "max": 90}, "attributes": {"gender": ["female", "male"]}}
    assert LabelSchema.from_json(schema.to_json()) == schema
    assert LabelSchema.from_json({"attributes": {"hair": ["grey"]}}).age is None
    for bad, message in (
        ([1], "must be an object"),
        ({"age": {"min": 5}}, "'age' must be null or"),
        ({"age": {"min": 9, "max": 5}}, "min <= max"),
        ({"attributes": {"gender": "male"}}, "list of values"),
        ({"attributes": {"gender": []}}, "non-empty strings"),
        ({"attributes": {"gender": ["male", "male"]}}, "lists a value twice"),
    ):
        with pytest.raises(DataError, match=rf"^dataset\.json labels: .*{message}"):
            LabelSchema.from_json(bad, where="dataset.json labels")


def test_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    labels = {"age": {"min": 10, "max": 80}, "attributes": {"gender": ["female", "male"]}}

    def check(name: str, rows: list[dict[str, str]], message: str, **options) -> None:
        root = write_dataset(tmp_path / name, rows, labels)
        with pytest.raises(DataError, match=message) as caught:
            LabelledImages(root, 16, **options)
        assert "\n" not in str(caught.value)

    with pytest.raises(DataError, match=r"nowhere.manifest\.csv"):
        LabelledImages(tmp_path / "nowhere", 16)
    rows = hand_rows()
    check(
        "split", rows, r"manifest\.csv: no rows of split 'val' \(splits present: test, train\)", split="val"
    )
    check(
        "column",
        rows,
        r"dataset\.json \"labels\": unknown attribute 'hair' \(attributes: gender\)",
        attributes=["hair"],
    )
    check(
        "nocolumn", rows, r"manifest\.csv: unknown column 'race'", schema=LabelSchema(None, {"race": ("x",)})
    )
    check("age-column", rows, r"'age' cannot be an attribute", attributes=["age"])
    rows[0]["gender"] = "other"
    check("value", rows, r"manifest\.csv, line 2 \(train/a\.png\): gender 'other' is not in the schema")
    rows = hand_rows()
    rows[2]["age"] = "95"
    check("range", rows, r"line 4 \(train/c\.png\): age 95 is outside the schema's range 10-80")
    rows[2]["age"] = "old"
    check("number", rows, r"age 'old' is not a number")
    rows = hand_rows()
    rows[1]["file"] = "missing/b.png"
    check("missing", rows, r"manifest\.csv, line 3: image file 'missing/b\.png' does not exist")
    broken = write_dataset(tmp_path / "broken", [rows[0]], labels)
    (broken / "train" / "a.png").write_bytes(b"not a png")
    with pytest.raises(
        DataError, match=r"none of the 1 images of split 'train' is readable \(e\.g\. .*a\.png"
    ):
        LabelledImages(broken, 16)
    (broken / "dataset.json").write_text("{not json")
    with pytest.raises(DataError, match=r"broken.dataset\.json: not valid JSON"):
        LabelledImages(broken, 16)


def test_unreadable_images_are_skipped_with_their_labels(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, hand_rows())
    (root / "train" / "b.png").write_bytes(b"")
    data = LabelledImages(root, 16, attributes=["gender"])
    assert [item.path.name for item in data.skipped] == ["b.png"] and len(data) == 2
    assert data.ages.tolist() == [30.0, 12.5] and data.attribute_ids["gender"].tolist() == [1, -1]


def test_sample_targets_replays_from_the_generator_alone(all_ages: Path, tmp_path: Path) -> None:
    data = LabelledImages(all_ages, 16)
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    first = sample_targets(data, 64, generator)
    torch.manual_seed(123)  # the global generator plays no part
    generator.set_state(state)
    again = sample_targets(data, 64, generator)
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert set(first) == {"age", "gender", "race"} and first["age"].shape == first["race"].shape == (64,)
    assert set(first["age"].tolist()) <= set(data.ages.tolist())
    different = sample_targets(data, 64, torch.Generator().manual_seed(4))
    assert not torch.equal(first["age"], different["age"])
    jittered = sample_targets(data, 64, torch.Generator().manual_seed(3), age_jitter=2.0)
    assert torch.equal(jittered["gender"], first["gender"])
    assert (jittered["age"] - first["age"]).abs().max() <= 2.0
    assert jittered["age"].min() >= 3 and jittered["age"].max() <= 95
    partial = LabelledImages(write_dataset(tmp_path / "hand", hand_rows()), 16, attributes=["gender"])
    drawn = sample_targets(partial, 32, torch.Generator().manual_seed(0))
    assert set(drawn["age"].tolist()) == {30.0}  # the only training row with both labels known
    gaps = hand_rows()[:2]
    gaps[0]["gender"] = ""  # one row lacks its gender, the other its age
    empty = LabelledImages(write_dataset(tmp_path / "gaps", gaps), 16, attributes=["gender"])
    with pytest.raises(DataError, match=r"no image has every label known \(age, gender\)"):
        sample_targets(empty, 4, torch.Generator())


def test_read_dataset_json_has_one_policy(tmp_path: Path) -> None:
    assert read_dataset_json(tmp_path) == {}
    with pytest.raises(DataError, match=r"dataset\.json: missing"):
        read_dataset_json(tmp_path, required=True)
    (tmp_path / "dataset.json").write_text('{"name": "x"}')
    assert read_dataset_json(tmp_path) == read_dataset_json(tmp_path / "dataset.json") == {"name": "x"}
    for text, message in (
        ("{broken", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object, found an array"),
    ):
        (tmp_path / "dataset.json").write_text(text)
        with pytest.raises(DataError, match=rf"{tmp_path.name}.dataset\.json: {message}"):
            read_dataset_json(tmp_path)
    (tmp_path / "dataset.json").write_bytes(b"\xff\xfe")
    with pytest.raises(DataError, match="cannot be read"):
        read_dataset_json(tmp_path)
