"""The IDX reader (MNIST / Fashion-MNIST files) and ``ageshift prepare digits``."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import run_cli

from ageshift.data.digits import FASHION_MNIST_DIR, prepare_digits
from ageshift.data.idx import find_idx_files, read_idx, read_idx_split, write_idx
from ageshift.data.labelled import LabelledImages
from ageshift.errors import DataError


def write_mnist_like(folder: Path, train: int = 12, test: int = 5, gz: bool = True, side: int = 28) -> None:
    """A tiny MNIST-style download: four IDX files of random images and labels 0-9."""
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte{suffix}",
            rng.integers(0, 256, (count, side, side), dtype=np.uint8),
        )
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(count) % 10).astype(np.uint8))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_round_trip(tmp_path: Path, dtype: str, name: str) -> None:
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    read = read_idx(path)
    assert read.dtype == array.dtype and read.shape == (2, 3, 4) and np.array_equal(read, array)


def test_header_is_big_endian(tmp_path: Path) -> None:
    # The MNIST labels header as the format's documentation spells it: magic 0x00000801, then 3 items.
    (tmp_path / "labels").write_bytes(bytes.fromhex("00000801 00000003") + bytes([7, 2, 1]))
    assert read_idx(tmp_path / "labels").tolist() == [7, 2, 1]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\x89PNG\r\n\x1a\n", "not an IDX file (magic number 89 50 4e 47"),
        (b"", "not an IDX file (magic number missing"),
        (bytes.fromhex("00000703 00000001"), "unknown IDX element type 0x07"),
        (bytes.fromhex("00000803 00000002"), "truncated IDX header"),
        (
            bytes.fromhex("00000802 00000002 00000003") + bytes(5),
            "truncated: shape (2, 3) of uint8 needs 6 data bytes, found 5",
        ),
        (bytes.fromhex("00000801 00000002") + bytes(3), "longer than its header says"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(message)) as error:
        read_idx(path)
    assert str(error.value).startswith(str(path))


def test_damaged_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(bytes.fromhex("00000801 00000010") + bytes(16))[:-12])
    with pytest.raises(DataError, match="cut.gz: "):
        read_idx(path)
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "missing")


def test_find_files_and_splits(tmp_path: Path) -> None:
    write_mnist_like(tmp_path, gz=False)
    images, labels = read_idx_split(tmp_path, "test")
    assert images.shape == (5, 28, 28) and labels.tolist() == [0, 1, 2, 3, 4]
    assert find_idx_files(tmp_path, "train")[0].name == "train-images-idx3-ubyte"
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="no test labels file"):
        find_idx_files(tmp_path, "test")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="holds 5 images but t10k-labels-idx1-ubyte 4 labels"):
        read_idx_split(tmp_path, "test")


def test_prepare_digits_from_idx(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_mnist_like(tmp_path / "mnist")
    code, _, err = run_cli(
        ["prepare", "digits", "--source", tmp_path / "mnist", "--out", tmp_path / "data", "--limit", "10"],
        capsys,
    )
    assert code == 0, err
    assert "train 10, test 5" in err
    images = LabelledImages(tmp_path / "data", 28, "train")
    assert len(images) == 10 and images.schema.attributes == {"label": tuple("0123456789")}
    assert images.labels([0, 3])["label"].tolist() == [0, 3]
    with Image.open(tmp_path / "data" / "train" / "000000.png") as image:
        assert image.size == (28, 28) and image.mode == "L"
    # A second run refuses to mix datasets; a broken download is one clear line.
    code, _, err = run_cli(
        ["prepare", "digits", "--source", tmp_path / "mnist", "--out", tmp_path / "data"], capsys
    )
    assert code == 2 and "already holds a dataset" in err
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip, not idx")
    code, _, err = run_cli(
        ["prepare", "digits", "--source", tmp_path / "mnist", "--out", tmp_path / "other"], capsys
    )
    assert code == 2 and "train-images-idx3-ubyte.gz: not an IDX file" in err and "Traceback" not in err


def test_prepare_sklearn_digits(tmp_path: Path) -> None:
    report = prepare_digits(tmp_path / "digits", limit=30, size=8)
    assert report.counts == {"train": 30, "test": 30} and report.name == "sklearn-digits"
    document = json.loads((tmp_path / "digits" / "dataset.json").read_text())
    assert document["labels"] == {"age": None, "attributes": {"label": list("0123456789")}}
    assert "scikit-learn" in document["licence"]
    # The 8×8 digits at their own size: 0..16 scaled to 0..255, ink bright.
    from sklearn.datasets import load_digits

    first = np.asarray(Image.open(tmp_path / "digits" / "train" / "000000.png"))
    reference = load_digits().images
    matches = [
        index
        for index in range(len(reference))
        if np.array_equal(np.rint(reference[index] * 255 / 16), first)
    ]
    assert matches, "the written digit is one of scikit-learn's"


def test_fashion_needs_the_debian_package(tmp_path: Path) -> None:
    if FASHION_MNIST_DIR.is_dir():
        pytest.skip("Fashion-MNIST is installed here")
    with pytest.raises(DataError, match="apt install dataset-fashion-mnist"):
        prepare_digits(tmp_path / "fashion", source="fashion")
