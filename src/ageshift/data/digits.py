"""Handwritten digits (and Fashion-MNIST) as a labelled image folder for the teaching GANs.

``prepare_digits(out, source)`` writes the labelled layout every conditional family reads (``train/``,
``test/``, ``manifest.csv`` with a ``label`` column, ``dataset.json`` with the label schema), from one of:

- ``"sklearn"``: the 1,797 8×8 handwritten digits shipped inside scikit-learn (UCI optdigits: 32×32 bitmaps
  counted in 4×4 blocks, values 0–16). Nothing is downloaded. They are upscaled to 16×16 by default: 8×8 is
  too small to look at, 16×16 adds no detail that is not there yet keeps the MLP at 256 pixels (CPU minutes)
  and gives the DCGAN two ×2 upsamplings from 4×4.
- ``"fashion"``: Fashion-MNIST (MIT, Zalando SE) as Debian's ``dataset-fashion-mnist`` installs it, in
  :data:`FASHION_MNIST_DIR`.
- a folder holding an MNIST-style IDX download (``train-images-idx3-ubyte.gz`` …, see :mod:`.idx`).

Digits are written white on black (ink bright), as in MNIST.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ConfigError, DataError
from ..io import save_image
from .idx import read_idx_split
from .labelled import LABELS_KEY, LabelSchema
from .manifest import (
    LABELLED_FOLDERS,
    ManifestRow,
    check_test_fraction,
    choose_test_items,
    prepare_output,
    write_dataset_json,
    write_manifest,
)

#: Where Debian's ``dataset-fashion-mnist`` package puts the four IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Class names of the digits and of Fashion-MNIST, in label-id order.
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot",
)  # fmt: skip
#: The manifest column (and label-schema attribute) holding the class.
LABEL_COLUMN = "label"
#: Image side written by default for the 8×8 scikit-learn digits (IDX images keep their own 28×28).
SKLEARN_DIGITS_SIZE = 16


@dataclass(frozen=True)
class DigitsReport:
    """What :func:`prepare_digits` wrote: the folder, images per split and the classes."""

    out: Path
    counts: dict[str, int]
    classes: tuple[str, ...]
    name: str


def load_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, read from the file in the installed wheel (scikit-learn is not imported).

    Returns:
        ``(1797, 8, 8)`` uint8 images (0–16 scaled to 0–255) and ``(1797,)`` int64 labels 0–9.
    """
    from ..assets import package_file

    path = package_file(
        "sklearn", "datasets/data/digits.csv.gz", "train", "prepare digits --source sklearn", "scikit-learn"
    )
    with gzip.open(path, "rt") as stream:
        table = np.loadtxt(stream, delimiter=",")
    if table.ndim != 2 or table.shape[1] != 65:
        raise DataError(f"{path}: expected 65 columns (64 pixels and the digit), got shape {table.shape}")
    images = np.rint(table[:, :64] * (255 / 16)).clip(0, 255).astype(np.uint8).reshape(-1, 8, 8)
    return images, table[:, 64].astype(np.int64)


def _splits(source: str, test_fraction: float, seed: int) -> tuple[dict[str, tuple], str, dict]:
    """Images and labels per split, the dataset name and its ``dataset.json`` facts, for ``source``."""
    if source == "sklearn":
        images, labels = load_sklearn_digits()
        test = choose_test_items(len(images), test_fraction, np.random.default_rng(seed))
        splits = {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}
        facts = {
            "licence": "BSD-3-Clause (shipped in scikit-learn); UCI ML optdigits (Alpaydin & Kaynak 1998)",
            "source": "scikit-learn sklearn/datasets/data/digits.csv.gz",
        }
        return splits, "sklearn-digits", facts
    folder = FASHION_MNIST_DIR if source == "fashion" else Path(source)
    if source == "fashion" and not folder.is_dir():
        raise DataError(
            f"{folder}: Fashion-MNIST is not installed (on Debian/Ubuntu: apt install dataset-fashion-mnist), "
            "or pass the folder of your own IDX download"
        )
    splits = {split: read_idx_split(folder, split) for split in LABELLED_FOLDERS}
    if source == "fashion":
        return splits, "fashion-mnist", {"licence": "MIT (Zalando SE)", "source": str(folder)}
    return splits, f"idx-{folder.name}", {"licence": None, "source": str(folder)}


def prepare_digits(
    out: str | Path,
    source: str = "sklearn",
    size: int | None = None,
    test_fraction: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
) -> DigitsReport:
    """Write a labelled digits dataset (``train/``, ``test/``, ``manifest.csv`` ``label``, ``dataset.json``).

    Args:
        out: the dataset folder (created; an existing dataset there is refused unless ``overwrite``).
        source: ``"sklearn"``, ``"fashion"`` or a folder with MNIST-style IDX files (see the module docstring).
        size: side of the written images; default 16 for the scikit-learn digits, the files' own otherwise.
        test_fraction: share held out for the scikit-learn digits (IDX downloads bring their own test split).
        limit: keep at most this many images per split (the first ones), for quick CPU runs on MNIST.
        seed: decides the held-out scikit-learn digits.
        overwrite: replace an earlier dataset in ``out``.
        progress: show a progress bar.

    Returns:
        A :class:`DigitsReport`.
    """
    from tqdm import tqdm

    check_test_fraction(test_fraction)
    if size is not None and size < 4:
        raise ConfigError(f"digit image size must be at least 4 pixels, got {size}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if source not in ("sklearn", "fashion") and Path(source).resolve() == FASHION_MNIST_DIR:
        source = "fashion"  # the Debian package's folder given by path: still Fashion-MNIST's class names
    splits, name, facts = _splits(source, test_fraction, seed)
    classes = FASHION_CLASSES if source == "fashion" else DIGIT_CLASSES
    side = size or (SKLEARN_DIGITS_SIZE if source == "sklearn" else int(splits["train"][0].shape[1]))
    root = prepare_output(out, overwrite, folders=LABELLED_FOLDERS.values())
    rows: list[ManifestRow] = []
    total = sum(min(len(images), limit or len(images)) for images, _ in splits.values())
    with tqdm(total=total, desc="writing digits", unit="img", disable=not progress) as bar:
        for split, (images, labels) in splits.items():
            for index, (pixels, label) in enumerate(zip(images[:limit], labels[:limit], strict=True)):
                if not 0 <= label < len(classes):
                    raise DataError(
                        f"{facts['source']}: {split} label {label} is not a class id 0..{len(classes) - 1}"
                    )
                image = Image.fromarray(pixels, "L")
                if image.size != (side, side):
                    image = image.resize((side, side), Image.Resampling.BILINEAR)
                relative = f"{LABELLED_FOLDERS[split]}/{index:06d}.png"
                save_image(image, root / relative)
                rows.append(ManifestRow(relative, split, "", {LABEL_COLUMN: classes[int(label)]}))
                bar.update(1)
    write_manifest(root, rows, [LABEL_COLUMN])
    counts = {split: sum(row.split == split for row in rows) for split in LABELLED_FOLDERS}
    write_dataset_json(
        root,
        name=name,
        source=facts["source"],
        domains={},
        image_size=side,
        crop=None,
        extra={
            "licence": facts["licence"],
            "counts": counts,
            "seed": seed,
            "test_fraction": test_fraction if source == "sklearn" else None,
            LABELS_KEY: LabelSchema(None, {LABEL_COLUMN: classes}).to_json(),
        },
    )
    return DigitsReport(root, counts, classes, name)
