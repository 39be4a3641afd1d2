"""ageshift CLI: ``ageshift age`` (faces in real photos) and ``ageshift prepare faces`` (aligned training crops).
Thin shells over :mod:`ageshift.faces`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ..errors import AgeshiftError, ImageLoadError
from ._app import app, prepare_app
from ._conditions import (
    attribute_option,
    condition_request,
    direction_option,
    strength_option,
    target_age_option,
)

OUTPUT_SUFFIX = ".png"


def _parse_box(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise AgeshiftError(f"--box {text!r}: expected four numbers x0,y0,x1,y1 in pixels")
    return values


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
    direction: str | None = direction_option(),
    target_age: float | None = target_age_option(),
    attribute: list[str] | None = attribute_option(),
    strength: float | None = strength_option(),
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
    """Edit every face in photos (older/younger, or a target age and attributes) and paste it back.

    The rest of each photo is untouched. `ageshift info MODEL` lists the conditions a model accepts.
    """
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
    request = condition_request(translator, direction, target_age, attribute, strength)
    label = translator.condition(**request).label()
    face_detector = None if whole_image or boxes else create_detector(detector)
    table = Table("photo", "faces", "output", title=f"ageshift age: {label}")
    summary: list[dict[str, Any]] = []
    used: set[Path] = set()
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
            image, translator, **request, detector=face_detector, mode="whole" if whole_image else "faces",
            boxes=boxes, max_faces=max_faces, min_face_size=min_face_size, color_match=color_match,
            keep_detail=keep_detail, in_place=True,
        )  # fmt: skip
        target = save_image(result.image, _output_path(path, out, used))
        if save_crops is not None:
            for index, face in enumerate(result.faces):
                save_image(face.aligned.crop, save_crops / f"{target.stem}_face{index}_input.png")
                edit = label.replace(", ", "_").replace(" ", "").replace("=", "-")
                save_image(face.translated, save_crops / f"{target.stem}_face{index}_{edit}.png")
        faces_text = "whole image" if whole_image else str(len(result.faces))
        table.add_row(path.name, faces_text, target.name)
        summary.append({"input": str(path), "output": str(target), **result.to_json()})
    Console().print(table)
    Console().print(f"results in {out}", highlight=False)
    if report is not None:
        with atomic_write(report, "w") as stream:
            json.dump(
                {
                    "model": model,
                    "direction": request["direction"],
                    "condition": request,
                    "photos": summary,
                    "errors": failures,
                },
                stream,
                indent=2,
            )
    if failures:
        raise AgeshiftError(f"{len(failures)} of {len(files)} photos could not be read; first: {failures[0]}")


@app.command("age-sweep")
def age_sweep(
    photo: Path = typer.Argument(..., help="A photo (never modified)."),
    model: str = typer.Option(..., "--model", "-m", help="Exported model folder, or 'identity'."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Strip to write: .png/.jpg (side by side), .gif or .mp4."
    ),
    ages: str | None = typer.Option(
        None, "--ages", help="Target ages, e.g. 20,30,40,50,60,70,80 or 20-80:10."
    ),
    strengths: str | None = typer.Option(
        None, "--strengths", help="Strengths instead of ages (any model), e.g. 0,0.25,0.5,0.75,1."
    ),
    direction: str | None = direction_option(),
    target_age: float | None = typer.Option(
        None, "--target-age", "-a", help="Conditional models: the age a --strengths sweep moves towards."
    ),
    attribute: list[str] | None = attribute_option(),
    detector: str = typer.Option("mtcnn", "--detector", help="Face detector: mtcnn or dlib."),
    whole_image: bool = typer.Option(False, "--whole-image", help="Translate the whole picture (pets)."),
    whole_photo: bool = typer.Option(
        False, "--whole-photo", help="Frames show the whole photo, not the face."
    ),
    frame_size: int = typer.Option(256, "--frame-size", min=32, max=2048, help="Longer side of each frame."),
    measure: str | None = typer.Option(
        None,
        "--measure",
        help="Caption frames with a measured age: packaged, cue (synthetic faces) or a folder.",
    ),
) -> None:
    """The time-machine strip: the same face at each age (or strength), pasted back, side by side or animated."""
    from rich.console import Console

    import ageshift

    from ..faces import create_detector
    from ..faces.sweep import STRIP_SUFFIXES, parse_number_list, sweep_photo, sweep_requests, write_sweep
    from ..io import load_image
    from ..models.conditions import parse_attribute_options

    if out.suffix.lower() not in STRIP_SUFFIXES:
        raise AgeshiftError(f"{out}: write the sweep as one of {', '.join(STRIP_SUFFIXES)}")
    if out.resolve() == photo.resolve():
        raise AgeshiftError(f"{out}: output is the input photo; choose another --out")
    translator = ageshift.load(model)
    requests = sweep_requests(
        translator,
        parse_number_list(ages, "--ages") if ages else None,
        parse_number_list(strengths, "--strengths") if strengths else None,
        direction,
        parse_attribute_options(attribute) or None,
        target_age,
    )
    image = load_image(photo)
    judge = _age_judge(measure) if measure else None
    frames = sweep_photo(
        image, translator, requests, detector=create_detector(detector) if not whole_image else detector,
        mode="whole" if whole_image else "faces", whole_photo=whole_photo, frame_size=frame_size, judge=judge,
    )  # fmt: skip
    written = write_sweep(frames, out)
    Console(stderr=True).print(
        f"wrote {len(frames)} frames to {written}: " + ", ".join(frame.caption for frame in frames),
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip


def _age_judge(spec: str) -> Any:
    """An age estimator as a frame judge: the age it reads from the frame."""
    import numpy as np

    from ..evaluation.age import create_age_estimator, predict_crop_ages

    estimator = create_age_estimator(spec)

    def judge(picture: Any) -> float:
        ages, _ = predict_crop_ages([np.asarray(picture.convert("RGB"))], estimator)
        return float(ages[0])

    return judge


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
