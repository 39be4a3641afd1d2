"""UTKFace preparation: name parsing, selection, balancing, splitting, safety, errors and the CLI; the
two-domain layout and the all-ages labelled layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ageshift.cli import app, main
from ageshift.data.manifest import parse_age_range, read_manifest
from ageshift.data.utkface import (
    age_histogram,
    balance_ages,
    parse_utkface_name,
    prepare_utkface,
    prepare_utkface_all_ages,
    scan_utkface,
    select_utkface,
)
from ageshift.errors import ConfigError, DataError
from ageshift.io import load_image

UTKFACE_LABELS = {"gender": ["female", "male"], "race": ["Asian", "Black", "Indian", "Others", "White"]}
MALFORMED = [
    "39_1_20170116174525125.jpg.chip.jpg",
    "x_0_1_20170116174525125.jpg.chip.jpg",
    "25_3_0_20170116174525125.jpg.chip.jpg",
]


def make_utkface(root: Path, ages: list[int], genders: list[int] | None = None, size: int = 24) -> list[Path]:
    """Write small solid-colour JPEGs with UTKFace names for ``ages`` under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(ages))
    paths = []
    for index, age in enumerate(ages):
        gender = genders[index] if genders else index % 2
        path = root / f"{age}_{gender}_{index % 5}_{20170101000000000 + index}.jpg.chip.jpg"
        Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3))).save(path)
        paths.append(path)
    return paths


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_parse_names() -> None:
    record = parse_utkface_name("/x/26_1_2_20170116174525125.jpg.chip.jpg")
    assert record is not None
    assert (record.age, record.gender, record.race, record.datetime) == (
        26,
        "female",
        "Asian",
        "20170116174525125",
    )
    wild = parse_utkface_name("80_0_4_20170111201000000.jpg")
    assert wild is not None and wild.gender == "male" and wild.race == "Others"
    for name in [*MALFORMED, "26_1_2.jpg.chip.jpg", "photo.jpg"]:
        assert parse_utkface_name(name) is None, name


def test_age_range_parsing() -> None:
    assert parse_age_range("20-29") == (20, 29)
    assert parse_age_range(" 30 ") == (30, 30)
    for bad in ("29-20", "twenty", "20-", "-5"):
        with pytest.raises(ConfigError):
            parse_age_range(bad, "--young")


def test_scan_reports_malformed_and_prefers_utkface_folder(tmp_path: Path) -> None:
    make_utkface(tmp_path / "UTKFace", [22, 25, 55])
    for name in MALFORMED:
        Image.new("RGB", (8, 8)).save(tmp_path / "UTKFace" / name)
    make_utkface(tmp_path / "other", [30])  # beside UTKFace/: ignored when UTKFace/ exists
    scan = scan_utkface(tmp_path)
    assert [r.age for r in scan.records] == [22, 25, 55]
    assert sorted(scan.malformed) == sorted(MALFORMED)
    nested = tmp_path / "nested"
    make_utkface(nested / "a" / "b", [40, 41])
    make_utkface(nested / "c", [40])  # same file name as a/b's first: a duplicate
    scan = scan_utkface(nested)
    assert len(scan.records) == 2 and len(scan.duplicates) == 1


def test_selection_gender_and_balance(tmp_path: Path) -> None:
    ages = [19, 20, 25, 29, 30, 49, 50, 55, 59, 60, 21, 22, 23]
    make_utkface(tmp_path, ages)
    records = scan_utkface(tmp_path).records
    domains = select_utkface(records, (20, 29), (50, 59))
    assert sorted(r.age for r in domains["A"]) == [20, 21, 22, 23, 25, 29]
    assert sorted(r.age for r in domains["B"]) == [50, 55, 59]
    women = select_utkface(records, (20, 29), (50, 59), gender="female")
    assert all(r.gender == "female" for r in women["A"] + women["B"])
    balanced = select_utkface(records, (20, 29), (50, 59), balance=True, seed=1)
    assert len(balanced["A"]) == len(balanced["B"]) == 3
    assert balanced == select_utkface(records, (20, 29), (50, 59), balance=True, seed=1)
    assert age_histogram(records)["20-29"] == 6
    with pytest.raises(ConfigError, match="gender 'other'"):
        select_utkface(records, (20, 29), (50, 59), gender="other")
    with pytest.raises(ConfigError, match="overlap"):
        select_utkface(records, (20, 50), (50, 59))


def test_empty_selection_names_counts(tmp_path: Path) -> None:
    make_utkface(tmp_path, [5, 8, 22, 23])
    records = scan_utkface(tmp_path).records
    with pytest.raises(DataError, match=r"no images with age 50-59.*0-9: 2, 20-29: 2"):
        select_utkface(records, (20, 29), (50, 59))


def test_prepare_writes_layout_deterministically_and_never_touches_source(tmp_path: Path) -> None:
    source = tmp_path / "src"
    make_utkface(source, [20 + i % 10 for i in range(20)] + [50 + i % 10 for i in range(12)])
    (source / "27_0_1_20170101999999999.jpg.chip.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (8, 8)).save(source / MALFORMED[0], format="JPEG")
    before = digest(source)
    report = prepare_utkface(source, tmp_path / "one", test_fraction=0.25, size=32, seed=0)
    assert digest(source) == before
    assert report.unreadable == ["27_0_1_20170101999999999.jpg.chip.jpg"]
    assert report.malformed == [MALFORMED[0]]
    assert report.counts == {"trainA": 15, "trainB": 9, "testA": 5, "testB": 3}
    rows = read_manifest(tmp_path / "one")
    assert {r["split"] + r["domain"] for r in rows} == {"trainA", "trainB", "testA", "testB"}
    assert set(rows[0]) == {"file", "split", "domain", "age", "gender", "race", "source"}
    for row in rows:
        assert load_image(tmp_path / "one" / row["file"]).size == (32, 32)
        assert (20 <= int(row["age"]) <= 29) == (row["domain"] == "A")
    info = json.loads((tmp_path / "one" / "dataset.json").read_text())
    assert info["crop"]["template"] == "utkface" and info["image_size"] == info["crop"]["size"] == 32
    assert info["crop"]["padding"] == 0.0 and info["crop"]["source_size"] == 200
    assert info["domains"]["B"]["label"] == "age 50-59"
    assert info["labels"] == {"age": {"min": 20, "max": 59}, "attributes": UTKFACE_LABELS}
    prepare_utkface(source, tmp_path / "two", test_fraction=0.25, size=32, seed=0)
    prepare_utkface(source, tmp_path / "three", test_fraction=0.25, size=32, seed=5)
    assert read_manifest(tmp_path / "two") == rows
    assert [r["file"] for r in read_manifest(tmp_path / "three")] != [r["file"] for r in rows]
    balanced = prepare_utkface(source, tmp_path / "four", balance=True, test_fraction=0.0, size=32)
    assert balanced.counts["trainA"] == balanced.counts["trainB"] == 12


def test_all_ages_keeps_every_age_with_its_labels(tmp_path: Path) -> None:
    source = tmp_path / "src"
    ages = [1, 2, 3, 15, 22, 25, 27, 33, 45, 58, 61, 77, 88, 95]
    make_utkface(source, ages)
    (source / "27_0_1_20170101999999999.jpg.chip.jpg").write_bytes(b"not a jpeg")
    Image.new("RGB", (8, 8)).save(source / MALFORMED[0], format="JPEG")
    before = digest(source)
    report = prepare_utkface_all_ages(source, tmp_path / "all", test_fraction=0.25, size=16)
    assert digest(source) == before
    assert report.unreadable == ["27_0_1_20170101999999999.jpg.chip.jpg"] and report.malformed == [
        MALFORMED[0]
    ]
    # 15 selected, 4 chosen for test, one of which was unreadable
    assert report.counts == {"train": 11, "test": 3} and sum(report.selected.values()) == 15
    root = tmp_path / "all"
    assert sorted(p.name for p in root.iterdir()) == ["dataset.json", "manifest.csv", "test", "train"]
    rows = read_manifest(root)
    assert list(rows[0]) == ["file", "split", "domain", "age", "gender", "race", "source"]
    assert {r["domain"] for r in rows} == {""} and {r["split"] for r in rows} == {"train", "test"}
    assert all(r["file"].startswith(r["split"] + "/") for r in rows)
    assert sorted(int(r["age"]) for r in rows) == ages
    assert {r["gender"] for r in rows} == {"female", "male"}
    assert load_image(root / rows[0]["file"]).size == (16, 16)
    info = json.loads((root / "dataset.json").read_text())
    assert info["labels"] == {"age": {"min": 1, "max": 95}, "attributes": UTKFACE_LABELS}
    assert info["domains"] == {} and info["counts"] == report.counts and info["crop"]["size"] == 16
    prepare_utkface_all_ages(source, tmp_path / "again", test_fraction=0.25, size=16)
    assert read_manifest(tmp_path / "again") == rows
    narrow = prepare_utkface_all_ages(source, tmp_path / "narrow", ages=(10, 90), gender="female", size=16)
    narrow_rows = read_manifest(tmp_path / "narrow")
    assert all(10 <= int(r["age"]) <= 90 and r["gender"] == "female" for r in narrow_rows)
    assert sum(narrow.counts.values()) == len(narrow_rows) > 0
    labels = json.loads((tmp_path / "narrow" / "dataset.json").read_text())["labels"]
    assert labels["age"] == {"min": 10, "max": 90} and labels["attributes"] == UTKFACE_LABELS
    with pytest.raises(DataError, match=r"no images with age 100-110.*0-9: 3"):
        prepare_utkface_all_ages(source, tmp_path / "none", ages=(100, 110))


def test_all_ages_balancing_caps_each_bucket(tmp_path: Path) -> None:
    ages = [21] * 8 + [22] * 4 + [31, 32, 33] + [45, 46] + [70]
    make_utkface(tmp_path / "src", ages)
    records = scan_utkface(tmp_path / "src").records
    kept, cap = balance_ages(records, bucket_width=5, seed=0)
    assert cap == 2  # median of the bucket sizes 12, 3, 2, 1
    assert age_histogram(kept, 5) == {"20-24": 2, "30-34": 2, "45-49": 2, "70-74": 1}
    assert balance_ages(records, bucket_width=5, seed=0) == (kept, cap)
    assert balance_ages(records, bucket_width=10, cap=5)[1] == 5
    with pytest.raises(ConfigError, match="at least 1"):
        balance_ages(records, cap=0)
    report = prepare_utkface_all_ages(
        tmp_path / "src", tmp_path / "out", max_per_bucket=3, test_fraction=0.0, size=16
    )
    assert report.selected == {"20-24": 3, "30-34": 3, "45-49": 2, "70-74": 1} and report.counts["test"] == 0
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["balance"] == {"bucket_width": 5, "max_per_bucket": 3}


def test_layouts_do_not_mix(tmp_path: Path) -> None:
    source = tmp_path / "src"
    make_utkface(source, [22, 23, 55, 56])
    prepare_utkface_all_ages(source, tmp_path / "out", size=16)
    with pytest.raises(DataError, match=r"already holds a dataset \(train, test"):
        prepare_utkface(source, tmp_path / "out", size=16)
    prepare_utkface(source, tmp_path / "out", size=16, overwrite=True)
    assert not (tmp_path / "out" / "train").exists() and (tmp_path / "out" / "trainA").is_dir()


def test_prepare_refuses_bad_places(tmp_path: Path) -> None:
    source = tmp_path / "src"
    make_utkface(source, [22, 55])
    with pytest.raises(DataError, match="inside the source"):
        prepare_utkface(source, source / "out")
    with pytest.raises(DataError, match="does not exist"):
        prepare_utkface(tmp_path / "missing", tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    Image.new("RGB", (8, 8)).save(empty / "holiday.jpg")
    with pytest.raises(DataError, match=r"no UTKFace-named images.*holiday\.jpg"):
        prepare_utkface(empty, tmp_path / "out")


def test_cli_end_to_end_on_synthetic_utkface_names(tmp_path: Path) -> None:
    runner = CliRunner()
    flat = tmp_path / "flat"
    result = runner.invoke(
        app, ["prepare", "synthetic", "--out", str(flat), "--count", "60", "--size", "32", "--utkface-names"]
    )
    assert result.exit_code == 0, result.output
    assert len(list(flat.glob("*.jpg.chip.jpg"))) == 60
    data = tmp_path / "data"
    args = [
        "prepare",
        "utkface",
        str(flat),
        "--out",
        str(data),
        "--young",
        "1-30",
        "--old",
        "60-90",
        "--size",
        "24",
        "--balance",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = read_manifest(data)
    assert len({r["domain"] for r in rows}) == 2
    assert sum(r["domain"] == "A" for r in rows) == sum(r["domain"] == "B" for r in rows)
    synthetic = tmp_path / "synthetic"
    result = runner.invoke(
        app, ["prepare", "synthetic", "--out", str(synthetic), "--count", "12", "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    assert len(read_manifest(synthetic)) == 12


def test_cli_all_ages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "src"
    make_utkface(source, [5, 22, 23, 24, 40, 80])
    data = tmp_path / "data"
    args = ["prepare", "utkface", str(source), "--out", str(data), "--all-ages", "--ages", "10-90"]
    result = CliRunner().invoke(app, [*args, "--max-per-bucket", "2", "--size", "16"])
    assert result.exit_code == 0, result.output
    written = sorted(int(r["age"]) for r in read_manifest(data))
    assert len(written) == 4 and written[2:] == [40, 80] and 22 <= written[0] < written[1] <= 24
    assert json.loads((data / "dataset.json").read_text())["labels"]["age"] == {"min": 10, "max": 90}
    for wrong, message in (
        (["--all-ages", "--young", "20-29"], "--young/--old choose two domains"),
        (["--ages", "10-90"], "need --all-ages"),
        (["--all-ages", "--ages", "90-10"], "--ages '90-10' is empty"),
    ):
        with pytest.raises(SystemExit) as stopped:
            main(["prepare", "utkface", str(source), "--out", str(tmp_path / "x"), *wrong])
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "src"
    make_utkface(source, [22, 23])
    with pytest.raises(SystemExit) as stopped:
        main(["prepare", "utkface", str(source), "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "no images with age 50-59" in lines[0] and "20-29: 2" in lines[0]
    with pytest.raises(SystemExit) as stopped:
        main(["prepare", "synthetic", "--out", str(tmp_path / "s"), "--young", "40-20"])
    assert stopped.value.code == 2
    assert "--young '40-20' is empty" in capsys.readouterr().err
