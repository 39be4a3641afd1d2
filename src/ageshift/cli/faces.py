"""ageshift CLI: ``ageshift age`` (faces in real photos) and ``ageshift prepare faces`` (aligned training crops).
Thin shells over :mod:`ageshift.faces`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import AgeshiftError, ImageLoadError
from ._app import app, prepare_app

OUTPUT_SUFFIX = ".png"


def _parse_box(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise AgeshiftError(f"--box {text!r}: expected four numbers x0,y0,x1,y1 in pixels")
    return values  # type: ignore[return-value]


def _collect_photos(inputs: list[Path]) -> list[Path]:
    """Files as given, folders expanded to their images; a missing path is an error before any work."""
    from ..io import list_images

    photos: list[Path] = []
    for path in inputs:
        if path.is_dir():
            photos.extend(list_images(path))
        elif path.exists():
            photos.append(path)
        else:
            raise AgeshiftError(f"{path}: no such file or folder")
    if not photos:
        raise AgeshiftError(f"no images found in {', '.join(map(str, inputs))}")
    return photos


def _output_path(photo: Path, out: Path, used: set[Path]) -> Path:
    """``OUT/name.png``, numbered when two inputs share a name; never an input file."""
    candidate = out / f"{photo.stem}{OUTPUT_SUFFIX}"
    number = 1
    while candidate in used or candidate.resolve() == photo.resolve():
        candidate = out / f"{photo.stem}-{number}{OUTPUT_SUFFIX}"
        number += 1
    used.add(candidate)
    return candidate


@app.command("age")
def age(
    photos: list[Path] = typer.Argument(..., help="Photos or folders of photos (never modified)."),
    model: str = typer.Option(..., "--model", "-m", help="Exported model folder, or 'identity'."),
    direction: str = typer.Option(..., "--direction", "-d", help="older or younger."),
    out: Path = typer.Option(Path("aged"), "--out", "-o", help="Folder for the results (PNG)."),
    report: Path | None = typer.Option(None, "--report", help="Write per-face details (JSON) here."),
    save_crops: Path | None = typer.Option(
        None, "--save-crops", help="Also save aligned and translated crops."
    ),
    detector: str = typer.Option("mtcnn", "--detector", help="Face detector: mtcnn or dlib."),
    whole_image: bool = typer.Option(False, "--whole-image", help="Translate the whole picture (pets)."),
    box: list[str] | None = typer.Option(None, "--box", help="Region x0,y0,x1,y1 to translate (repeatable)."),
    max_faces: int = typer.Option(10, help="At most this many faces per photo, largest first."),
    min_face_size: float = typer.Option(40.0, help="Ignore faces smaller than this (pixels)."),
    color_match: bool = typer.Option(
        False, "--color-match", help="Match each face's colours to the original (mean/std in CIE Lab)."
    ),
    keep_detail: bool = typer.Option(
        False,
        "--keep-detail",
        help="Add the model's change to the photo instead of replacing faces (sharper).",
    ),
) -> None:
    """Make every face in photos older or younger and paste it back; the rest of each photo is untouched."""
    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    import ageshift

    from ..faces import age_photo, create_detector
    from ..io import atomic_write, load_image, save_image

    if whole_image and box:
        raise AgeshiftError("--whole-image and --box exclude each other: choose one")
    boxes = [_parse_box(text) for text in box] if box else None
    files = _collect_photos(photos)
    translator = ageshift.load(model)
    if direction not in translator.directions:
        raise AgeshiftError(f"--direction {direction!r}: choose {' or '.join(translator.directions)}")
    face_detector = None if whole_image or boxes else create_detector(detector)
    table = Table("photo", "faces", "output", title=f"ageshift age --direction {direction}")
    summary, used = [], set()
    failures: list[str] = []
    for path in track(files, description="aging photos", transient=True):
        try:
            image = load_image(path)
        except ImageLoadError as error:
            # One unreadable file must not stop a folder: report it, go on, and exit 2 at the end.
            failures.append(str(error))
            table.add_row(path.name, "[red]unreadable[/]", "")
            continue
        result = age_photo(
            image, translator, direction, detector=face_detector, mode="whole" if whole_image else "faces",
            boxes=boxes, max_faces=max_faces, min_face_size=min_face_size, color_match=color_match,
            keep_detail=keep_detail, in_place=True,
        )  # fmt: skip
        target = save_image(result.image, _output_path(path, out, used))
        if save_crops is not None:
            for index, face in enumerate(result.faces):
                save_image(face.aligned.crop, save_crops / f"{target.stem}_face{index}_input.png")
                save_image(face.translated, save_crops / f"{target.stem}_face{index}_{direction}.png")
        faces_text = "whole image" if whole_image else str(len(result.faces))
        table.add_row(path.name, faces_text, target.name)
        summary.append({"input": str(path), "output": str(target), **result.to_json()})
    Console().print(table)
    Console().print(f"results in {out}", highlight=False)
    if report is not None:
        with atomic_write(report, "w") as stream:
            json.dump(
                {"model": model, "direction": direction, "photos": summary, "errors": failures},
                stream,
                indent=2,
            )
    if failures:
        raise AgeshiftError(f"{len(failures)} of {len(files)} photos could not be read; first: {failures[0]}")


@prepare_app.command("faces")
def prepare_faces(
    source: Path = typer.Argument(..., help="Folder of ordinary photos (searched recursively; only read)."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder (trainA/ testA/ … manifest.csv)."),
    domain: str = typer.Option("A", help="A (young) or B (old): run once per domain."),
    label: str | None = typer.Option(None, help="Describe the domain, e.g. 'age 20-29'."),
    template: str = typer.Option("ffhq", help="Alignment template: ffhq or utkface."),
    size: int = typer.Option(256, help="Crop side in pixels."),
    padding: float = typer.Option(0.0, help="Margin around the template square, as a fraction of it."),
    detector: str = typer.Option("mtcnn", help="Face detector: mtcnn or dlib."),
    test_fraction: float = typer.Option(0.1, help="Share of photos put in the test split."),
    min_face_size: float = typer.Option(48.0, help="Skip faces smaller than this (pixels)."),
) -> None:
    """Detect and align every face in a folder of photos into training crops."""
    from rich.console import Console
    from rich.progress import Progress

    from ..faces import create_detector, prepare_face_dataset
    from ..faces.align import AlignmentSpec
    from ..io import list_images

    spec = AlignmentSpec(template=template, size=size, padding=padding)
    face_detector = create_detector(detector)
    with Progress(transient=True) as progress:
        task = progress.add_task("aligning faces", total=len(list_images(source)))
        result = prepare_face_dataset(
            source, out, spec=spec, domain=domain, label=label, detector=face_detector,
            test_fraction=test_fraction, min_face_size=min_face_size,
            progress=lambda _path: progress.advance(task),
        )  # fmt: skip
    console = Console()
    console.print(f"{result.crops} face crops from {result.photos} photos written to {out}")
    if result.photos_without_faces:
        console.print(f"{len(result.photos_without_faces)} photos without a usable face")
    for name, reason in result.skipped.items():
        console.print(f"skipped {name}: {reason}", highlight=False)
