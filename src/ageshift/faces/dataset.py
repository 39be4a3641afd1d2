"""``prepare faces``: detect and align every face in a folder of ordinary photos into training crops, in the
data layout every ``ageshift prepare`` command writes (``trainA/ testA/ … manifest.csv dataset.json``)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, ImageLoadError
from ..io import atomic_write, list_images, load_image, save_image
from .align import AlignmentSpec, align_face
from .detect import detect_faces, resolve_detector
from .types import FaceDetector, filter_detections

MANIFEST_FIELDS = ("file", "split", "domain", "source", "face", "score", "box")
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
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"test_fraction must be in [0, 1), got {test_fraction}")
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
            rows.append([name, split, domain, relative.as_posix(), index, f"{detection.score:.4f}", box])
            report.crops += 1
    _write_manifest(out / "manifest.csv", rows)
    _write_dataset_json(out / "dataset.json", spec, domain, label, source)
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


def _write_manifest(path: Path, rows: list[list]) -> None:
    """Merge this run's rows into ``manifest.csv``: earlier rows stay unless rewritten now or their file is gone."""
    written = {row[0] for row in rows}
    kept = []
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                name = row.get("file") or ""
                if name and name not in written and (path.parent / name).is_file():
                    kept.append([row.get(column) or "" for column in MANIFEST_FIELDS])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_FIELDS)
    writer.writerows(sorted(kept + rows, key=lambda row: row[0]))
    with atomic_write(path, "w") as stream:
        stream.write(buffer.getvalue())


def _write_dataset_json(
    path: Path, spec: AlignmentSpec, domain: str, label: str | None, source: Path
) -> None:
    data = _read_json(path) if path.is_file() else {}
    domains = data.get("domains") or {}
    default_label = {"A": "young", "B": "old"}[domain]
    domains[domain] = {
        "label": label or domains.get(domain, {}).get("label", default_label),
        "source": str(source),
    }
    data.update(
        {
            "name": data.get("name", path.parent.name),
            "source": "faces aligned from photos by ageshift prepare faces",
            "domains": domains,
            "image_size": spec.size,
            "crop": spec.to_dict(),
        }
    )
    with atomic_write(path, "w") as stream:
        json.dump(data, stream, indent=2, sort_keys=True)
