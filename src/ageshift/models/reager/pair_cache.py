"""A cached set of distillation pairs: the teacher re-ages every face once (``per_face`` target ages each), the
results are written as PNGs with a ``pairs.json`` index, and any number of student runs then train from them
without running the teacher again.

Worth it when the teacher is slow (a ``paper`` CycleGAN takes seconds per face on a CPU) or when several students
(sizes, loss weights) learn from one teacher. The pairs are made in batches and the index is rewritten
atomically after each, so an interrupted build loses at most one batch and continues where it stopped; a cache
made with other settings (teacher, faces, size, ages, pairs per face) is refused, naming what differs.

Layout::

    PAIRS/pairs.json          format, settings, and one entry per pair: face file, current and target age, target
    PAIRS/targets/000000.png  the teacher's output for that entry, at the cache's size
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...errors import DataError, ImageLoadError
from ...image import tensor_to_uint8, uint8_to_tensor
from ...io import load_image, save_image
from ...outputs import atomic_write

FORMAT = "ageshift-distill-pairs/1"
INDEX_FILE = "pairs.json"
#: The settings a cache is bound to: a cache whose values differ is refused.
SETTINGS = ("teacher", "faces", "size", "age_range", "per_face", "seed")


def cache_settings(
    teacher: str, faces: str, size: int, age_range: Sequence[float], per_face: int, seed: int
) -> dict[str, Any]:
    """The settings dict a cache is made with and checked against."""
    return {
        "teacher": str(teacher), "faces": str(faces), "size": int(size),
        "age_range": [float(age) for age in age_range], "per_face": int(per_face), "seed": int(seed),
    }  # fmt: skip


def read_index(root: Path) -> dict[str, Any] | None:
    """The cache's ``pairs.json``, or ``None`` when there is none yet.

    Raises:
        DataError: the file is not a pair-cache index.
    """
    path = root / INDEX_FILE
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable pair-cache index ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DataError(f"{path}: not a distillation pair cache (format {FORMAT!r} expected)")
    return document


def check_settings(root: Path, document: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuse a cache made with other settings, naming each difference."""
    stored = document.get("settings", {})
    differences = [
        f"{name} {stored.get(name)!r} (asked: {settings[name]!r})"
        for name in SETTINGS
        if stored.get(name) != settings[name]
    ]
    if differences:
        raise DataError(
            f"{root}: pair cache made with other settings: {'; '.join(differences)}. "
            "Use another --cache folder, or delete this one to rebuild it."
        )


def build_pair_cache(
    root: Path,
    settings: dict[str, Any],
    names: Sequence[str],
    faces: torch.Tensor,
    make_pairs: Callable[[torch.Tensor, torch.Generator], dict[str, torch.Tensor]],
    batch_size: int = 8,
    progress: bool = True,
) -> dict[str, Any]:
    """Make (or finish) the cache: ``settings["per_face"]`` teacher pairs for every face.

    Args:
        root: the cache folder (created).
        settings: :func:`cache_settings`.
        names: each face's file name, relative to the faces folder (recorded, and checked on reading).
        faces: ``(N, 3, S, S)`` faces in ``[-1, 1]`` at the cache's size, in ``names`` order.
        make_pairs: the teacher: ``(faces, random)`` → ``targets``, ``current_age``, ``target_age`` (no identity
            pairs: those are made at training time).
        batch_size: faces per teacher call (and per index rewrite).
        progress: show a progress bar.

    Returns:
        The index document.
    """
    from tqdm.auto import tqdm

    root.mkdir(parents=True, exist_ok=True)
    document = read_index(root)
    if document is None:
        document = {"format": FORMAT, "settings": settings, "entries": [], "complete": False}
    check_settings(root, document, settings)
    per_face, entries = settings["per_face"], document["entries"]
    jobs = [(face, round_) for round_ in range(per_face) for face in range(len(names))]
    bar = tqdm(total=len(jobs), initial=len(entries), desc="teacher pairs", unit="pair", disable=not progress)
    for start in range(len(entries), len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        # One generator per chunk, seeded by its position, so a resumed build draws the same ages.
        random = torch.Generator().manual_seed(settings["seed"] * 1_000_003 + start)
        made = make_pairs(faces[[face for face, _ in chunk]], random)
        for offset, (face, _) in enumerate(chunk):
            file_name = f"targets/{start + offset:06d}.png"
            save_image(Image.fromarray(tensor_to_uint8(made["targets"][offset])), root / file_name)
            entries.append({
                "face": names[face], "file": file_name,
                "current_age": round(float(made["current_age"][offset]), 3),
                "target_age": round(float(made["target_age"][offset]), 3),
            })  # fmt: skip
        _write_index(root, document)
        bar.update(len(chunk))
    bar.close()
    document["complete"] = True
    _write_index(root, document)
    return document


def load_pairs(root: Path, document: dict[str, Any], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """The cached pairs as tensors: ``face`` indices into ``names``, ``targets``, ``current_age``, ``target_age``.

    Raises:
        DataError: the cache is unfinished, names a face that is not in the folder, or a target is unreadable.
    """
    if not document.get("complete"):
        raise DataError(f"{root}: the pair cache is unfinished; run ageshift distill with --cache again")
    where = {name: index for index, name in enumerate(names)}
    faces, targets, current, target = [], [], [], []
    for entry in document["entries"]:
        if entry["face"] not in where:
            raise DataError(f"{root}: pair for {entry['face']!r}, which the face folder no longer holds")
        try:
            pixels = np.asarray(load_image(root / entry["file"]))
        except ImageLoadError as error:
            raise DataError(f"unreadable cached target: {error}") from None
        faces.append(where[entry["face"]])
        targets.append(uint8_to_tensor(pixels))
        current.append(entry["current_age"])
        target.append(entry["target_age"])
    return {
        "face": torch.tensor(faces, dtype=torch.long),
        "targets": torch.stack(targets),
        "current_age": torch.tensor(current, dtype=torch.float32),
        "target_age": torch.tensor(target, dtype=torch.float32),
    }


def _write_index(root: Path, document: dict[str, Any]) -> None:
    with atomic_write(root / INDEX_FILE, "w") as stream:
        json.dump(document, stream, indent=1)
