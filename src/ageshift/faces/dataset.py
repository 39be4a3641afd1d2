"""``prepare faces``: detect and align every face in a folder of ordinary photos into training crops, in the
data layout every ``ageshift prepare`` command writes (``trainA/ testA/ … manifest.csv dataset.json``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.manifest import (
    ManifestRow,
    check_test_fraction,
    read_manifest,
    write_dataset_json,
    write_manifest,
)
from ..errors import DataError, ImageLoadError
from ..io import list_images, load_image, save_image
from .align import AlignmentSpec, align_face
from .detect import detect_faces, resolve_detector
from .types import FaceDetector, filter_detections

#: Label columns of ``manifest.csv`` after ``file, split, domain``.
LABEL_COLUMNS = ("source", "face", "score", "box")
DOMAINS = ("A", "B")


@dataclass
class PrepareReport:
    """What ``prepare_face_dataset`` did."""

    crops: int = 0
    photos: int = 0
    photos_without_faces: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _split_for(name: str, test_fraction: float) -> str:
    """Stable train/test assignment from the file name alone, so re-running never reshuffles."""
    bucket = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:4], "big") / 2**32
    return "test" if bucket < test_fraction else "train"


def prepare_face_dataset(
    source: str | Path,
    out: str | Path,
    *,
    spec: AlignmentSpec | None = None,
    domain: str = "A",
    label: str | None = None,
    detector: str | FaceDetector = "mtcnn",
    test_fraction: float = 0.1,
    max_faces: int = 10,
    min_face_size: float = 48.0,
    min_score: float = 0.95,
    detect_max_side: int | None = 1024,
    progress: Callable[[Path], None] | None = None,
) -> PrepareReport:
    """Align every face found in ``source`` into ``out/{train,test}{domain}/`` crops.

    Run it once per domain (young photos → ``A``, old photos → ``B``); ``manifest.csv`` and
    ``dataset.json`` are merged across runs. Source photos are only read.

    Args:
        source: folder of photos (searched recursively).
        out: dataset folder (created).
        spec: crop template, size and padding (stored as ``dataset.json["crop"]``).
        domain: ``"A"`` (young) or ``"B"`` (old).
        label: human description of the domain, e.g. ``"age 20-29"``.
        detector: backend name or detector object.
        test_fraction: share of photos (by a hash of their name) put into the test split.
        max_faces: faces kept per photo, largest first.
        min_face_size: smallest face side in photo pixels (small faces make blurry crops).
        min_score: detector confidence threshold.
        detect_max_side: detection runs on a copy at most this large.
        progress: called with each photo path before it is processed.

    Returns:
        :class:`PrepareReport` with counts and the files skipped (and why).
    """
    spec = spec or AlignmentSpec()
    if domain not in DOMAINS:
        raise DataError(f"unknown domain {domain!r}; use 'A' (young) or 'B' (old)")
    check_test_fraction(test_fraction)
    source, out = Path(source), Path(out)
    photos = list_images(source)
    if not photos:
        raise DataError(f"{source}: no images found (readable suffixes: jpg, png, bmp, webp, tif)")
    if out.resolve().is_relative_to(source.resolve()):
        raise DataError(f"{out}: the output folder must not be inside the source folder {source}")
    _check_crop_matches(out / "dataset.json", spec)
    found = resolve_detector(detector)
    report, rows = PrepareReport(), []
    for path in photos:
        if progress:
            progress(path)
        relative = path.relative_to(source)
        try:
            photo = load_image(path)
        except ImageLoadError as error:
            report.skipped[str(relative)] = str(error)
            continue
        report.photos += 1
        faces = filter_detections(
            detect_faces(photo, found, detect_max_side, min_face_size), min_face_size, min_score, max_faces
        )
        if not faces:
            report.photos_without_faces.append(str(relative))
        split = _split_for(relative.as_posix(), test_fraction)
        stem = "_".join(relative.with_suffix("").parts)
        for index, detection in enumerate(faces):
            name = f"{split}{domain}/{stem}_face{index}.png"
            save_image(align_face(photo, detection, spec).crop, out / name)
            box = " ".join(f"{v:.1f}" for v in detection.box)
            labels = {
                "source": relative.as_posix(),
                "face": index,
                "score": f"{detection.score:.4f}",
                "box": box,
            }
            rows.append(ManifestRow(name, split, domain, labels))
            report.crops += 1
    for split in ("train", "test"):
        (out / f"{split}{domain}").mkdir(parents=True, exist_ok=True)
    write_manifest(out, _merge_rows(out, rows), LABEL_COLUMNS)
    _write_dataset_json(out, spec, domain, label, source)
    return report


def _check_crop_matches(path: Path, spec: AlignmentSpec) -> None:
    """Refuse to mix crops of two alignments in one dataset."""
    if not path.is_file():
        return
    existing = _read_json(path).get("crop")
    if existing and {k: existing.get(k) for k in ("template", "size", "padding")} != spec.to_dict():
        raise DataError(
            f"{path}: this dataset was aligned with {existing}, not {spec.to_dict()}; use the same "
            "--template/--size/--padding or another --out folder"
        )


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: cannot read dataset description ({error})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def _merge_rows(out: Path, rows: list[ManifestRow]) -> list[ManifestRow]:
    """This run's rows plus the earlier ones (other domains or sources), unless rewritten now or gone."""
    written = {row.file for row in rows}
    kept = []
    if (out / "manifest.csv").is_file():
        for row in read_manifest(out):
            name = row.get("file") or ""
            if name and name not in written and (out / name).is_file():
                labels = {column: row.get(column) or "" for column in LABEL_COLUMNS}
                kept.append(ManifestRow(name, row.get("split", ""), row.get("domain", ""), labels))
    return sorted(kept + rows, key=lambda row: row.file)


def _write_dataset_json(out: Path, spec: AlignmentSpec, domain: str, label: str | None, source: Path) -> None:
    """Write ``dataset.json``, keeping what an earlier run recorded about the other domain."""
    path = out / "dataset.json"
    earlier = _read_json(path) if path.is_file() else {}
    domains = earlier.get("domains") or {}
    previous_label = domains.get(domain, {}).get("label")
    domains[domain] = {
        "label": label or previous_label or {"A": "young", "B": "old"}[domain],
        "source": str(source),
    }
    source_text = "faces aligned from photos by ageshift prepare faces"
    write_dataset_json(out, earlier.get("name", out.name), source_text, domains, spec.size, spec.to_dict())
