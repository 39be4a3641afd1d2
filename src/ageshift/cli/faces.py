"""ageshift CLI: ``ageshift age`` (faces in real photos) and ``ageshift prepare faces`` (aligned training crops).
Thin shells over :mod:`ageshift.faces`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import AgeshiftError, ImageLoadError
from ..outputs import OutputPlan
from ._app import app, prepare_app
from ._conditions import (
    DETECTOR_HELP,
    attribute_option,
    condition_request,
    direction_option,
    strength_option,
    target_age_option,
)
from ._console import cell, report_skipped, say
from .onnx import backend_option, load_with_backend
from .video import age_videos, detect_every_option, has_video, smooth_option, stabilise_option

OUTPUT_SUFFIX = ".png"


def check_current_age(translator: Any, current_age: float | None) -> None:
    """``--current-age`` is for change-predicting students only; refuse it elsewhere, naming the model."""
    if current_age is not None and not getattr(translator, "predicts_delta", False):
        raise AgeshiftError(
            f"--current-age applies to re-aging students (reager); this is a {translator.family} model"
        )


def _parse_box(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise AgeshiftError(f"--box {text!r}: expected four numbers x0,y0,x1,y1 in pixels")
    return values


def _collect_photos(inputs: list[Path], out: Path | None = None) -> list[Path]:
    """Files as given, folders expanded to their images; a missing path is an error before any work.

    Earlier results in an ``out`` folder inside an input folder are not inputs (as for ``translate``).
    """
    from ..io import list_images
    from ..outputs import is_within

    photos: list[Path] = []
    for path in inputs:
        if path.is_dir():
            images = list_images(path)
            if out is not None and is_within(out, path) and not is_within(path, out):
                images = [image for image in images if not is_within(image, out)]
            photos.extend(images)
        elif path.exists():
            photos.append(path)
        else:
            raise AgeshiftError(f"{path}: no such file or folder")
    if not photos:
        raise AgeshiftError(f"no images found in {', '.join(map(str, inputs))}")
    return photos


def _plan_outputs(
    files: list[Path], out: Path, report: Path | None, save_crops: Path | None
) -> tuple[OutputPlan, dict[Path, Path]]:
    """Every output of ``age``, checked before the model loads: none replaces an input, none is written twice.

    Returns:
        The plan (crops are claimed from it as faces are found) and each photo's result path.
    """
    plan = OutputPlan(files)
    plan.folder(out, "--out")
    if report is not None:
        plan.file(report, "--report")
    if save_crops is not None:
        plan.folder(save_crops, "--save-crops")
    return plan, {path: plan.claim(out / f"{path.stem}{OUTPUT_SUFFIX}", path, "--out") for path in files}


@app.command("age")
def age(
    photos: list[Path] = typer.Argument(..., help="Photos, folders of photos, or videos (never modified)."),
    model: str = typer.Option(..., "--model", "-m", help="Exported model folder, or 'identity'."),
    direction: str | None = direction_option(),
    target_age: float | None = target_age_option(),
    attribute: list[str] | None = attribute_option(),
    strength: float | None = strength_option(),
    current_age: float | None = typer.Option(
        None,
        "--current-age",
        min=0.0,
        max=150.0,
        help="Re-aging students (reager): the faces' own age in years, instead of estimating it (needed with "
        "--backend onnxruntime).",
    ),
    out: Path = typer.Option(
        Path("aged"),
        "--out",
        "-o",
        help="Folder for the results (PNG; videos: MP4), or one video's output file.",
    ),
    report: Path | None = typer.Option(None, "--report", help="Write per-face details (JSON) here."),
    save_crops: Path | None = typer.Option(
        None, "--save-crops", help="Also save aligned and translated crops."
    ),
    detector: str = typer.Option("mtcnn", "--detector", help=DETECTOR_HELP),
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
    upscale: str | None = typer.Option(
        None,
        "--upscale",
        help="Super-resolve each edited face crop before paste-back: realesrgan-x4, srresnet-x4, srgan-x4 or a "
        "super-resolution model folder (docs/superres.md).",
    ),
    then: list[str] | None = typer.Option(
        None,
        "--then",
        help="Another edit run on each face crop after MODEL, in order (repeatable): MODEL or "
        "MODEL:key=value,... e.g. models/hair:hair=blond or models/cyclegan:direction=older.",
    ),
    backend: str = backend_option(),
    detect_every: int = detect_every_option(),
    smooth: float = smooth_option(),
    stabilise: float = stabilise_option(),
) -> None:
    """Edit every face in photos (older/younger, or a target age and attributes) and paste it back.

    The rest of each photo is untouched. `ageshift info MODEL` lists the conditions a model accepts.
    Videos (.mp4 .mov .mkv .avi .webm) are aged frame by frame with faces tracked (docs/video.md).
    """
    if has_video(photos):
        return age_videos(**locals())
    from rich.console import Console
    from rich.progress import track
    from rich.table import Column, Table

    import ageshift

    from ..faces import age_photo, create_detector
    from ..io import load_image, save_image
    from ..outputs import write_json

    if whole_image and box:
        raise AgeshiftError("--whole-image and --box exclude each other: choose one")
    boxes = [_parse_box(text) for text in box] if box else None
    files = _collect_photos(photos, out)
    plan, targets = _plan_outputs(files, out, report, save_crops)
    translator = load_with_backend(model, backend)
    upscaler = ageshift.load(upscale) if upscale else None
    if upscaler is not None and not hasattr(upscaler, "upscale"):
        raise AgeshiftError(
            f"--upscale {upscale}: is a {upscaler.family} model, not a super-resolution model"
        )
    request = condition_request(translator, direction, target_age, attribute, strength)
    label = translator.condition(**request).label()
    check_current_age(translator, current_age)
    if then:
        from ..faces.chain import chain_with

        translator, request = chain_with(translator, request, then)
        label = f"{label} then {len(then)} more"  # no stage paths: the label also names --save-crops files
    face_detector = None if whole_image or boxes else create_detector(detector)
    # long names wrap ("fold") instead of losing characters to "…"
    columns = [Column(name, overflow="fold") for name in ("photo", "faces", "output")]
    table = Table(*columns, title=cell(f"ageshift age: {label}"))
    summary: list[dict[str, Any]] = []
    failures: list[str] = []
    for path in track(files, description="aging photos", transient=True):
        try:
            image = load_image(path)
        except ImageLoadError as error:
            # One unreadable file must not stop a folder: list it, go on, and exit 1 at the end.
            failures.append(str(error))
            table.add_row(cell(path.name), cell("unreadable", "red"), "")
            continue
        result = age_photo(
            image, translator, **request, detector=face_detector, mode="whole" if whole_image else "faces",
            boxes=boxes, max_faces=max_faces, min_face_size=min_face_size, color_match=color_match,
            keep_detail=keep_detail, in_place=True, upscaler=upscaler, current_age=current_age,
        )  # fmt: skip
        target = save_image(result.image, targets[path])
        if save_crops is not None:
            edit = label.replace(", ", "_").replace(" ", "").replace("=", "-")
            for index, face in enumerate(result.faces):
                for crop, kind in ((face.aligned.crop, "input"), (face.translated, edit)):
                    save_image(crop, plan.claim(save_crops / f"{target.stem}_face{index}_{kind}.png", path))
        faces_text = "whole image" if whole_image else str(len(result.faces))
        table.add_row(cell(path.name), faces_text, cell(target.name))
        summary.append({"input": str(path), "output": str(target), **result.to_json()})
    Console().print(table)
    if report is not None:
        condition = {"model": model, "direction": request["direction"], "condition": request}
        write_json(report, {**condition, "photos": summary, "errors": failures})
    if not summary:
        raise AgeshiftError(
            f"none of the {len(files)} photo(s) could be read; no photo written; first: {failures[0]}"
        )
    written = f"wrote {len(summary)} of {len(files)} photo(s) to {out}"
    report_skipped(failures, len(files), written)
    say(written, err=False)


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
    detector: str = typer.Option("mtcnn", "--detector", help=DETECTOR_HELP),
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
    import ageshift

    from ..faces import create_detector
    from ..faces.sweep import (
        STRIP_SUFFIXES,
        NoFaceError,
        parse_number_list,
        sweep_photo,
        sweep_requests,
        write_sweep,
    )
    from ..io import load_image
    from ..models.conditions import parse_attribute_options
    from ..outputs import OutputPlan

    if out.suffix.lower() not in STRIP_SUFFIXES:
        raise AgeshiftError(f"{out}: write the sweep as one of {', '.join(STRIP_SUFFIXES)}")
    OutputPlan([photo]).file(out, "--out")
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
    try:
        frames = sweep_photo(
            image, translator, requests, detector=create_detector(detector) if not whole_image else detector,
            mode="whole" if whole_image else "faces", whole_photo=whole_photo, frame_size=frame_size, judge=judge,
        )  # fmt: skip
    except NoFaceError as error:
        raise NoFaceError(f"{photo}: {error}") from None
    written = write_sweep(frames, out)
    say(f"wrote {len(frames)} frames to {written}: " + ", ".join(frame.caption for frame in frames))


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
    detector: str = typer.Option("mtcnn", help=DETECTOR_HELP),
    test_fraction: float = typer.Option(0.1, help="Share of photos put in the test split."),
    min_face_size: float = typer.Option(48.0, help="Skip faces smaller than this (pixels)."),
) -> None:
    """Detect and align every face in a folder of photos into training crops."""
    from rich.progress import Progress

    from ..faces import create_detector, prepare_face_dataset
    from ..faces.align import AlignmentSpec
    from ..io import list_images
    from ..outputs import check_folder_writable

    check_folder_writable(out, "--out")
    spec = AlignmentSpec(template=template, size=size, padding=padding)
    face_detector = create_detector(detector)
    with Progress(transient=True) as progress:
        task = progress.add_task("aligning faces", total=len(list_images(source)))
        result = prepare_face_dataset(
            source, out, spec=spec, domain=domain, label=label, detector=face_detector,
            test_fraction=test_fraction, min_face_size=min_face_size,
            progress=lambda _path: progress.advance(task),
        )  # fmt: skip
    say(f"{result.crops} face crops from {result.photos} photos written to {out}", err=False)
    if result.photos_without_faces:
        say(f"{len(result.photos_without_faces)} photos without a usable face", err=False)
    for name, reason in result.skipped.items():
        say(f"{name}: {reason}", "yellow", label="skipped ", err=False)
