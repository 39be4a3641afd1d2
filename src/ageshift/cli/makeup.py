"""ageshift CLI: ``makeup`` (a reference face's makeup on every face of photos, or makeup removed) and
``prepare makeup`` (the MT dataset or procedural faces, with landmarks). Thin shells over
:mod:`ageshift.faces.makeup` and :mod:`ageshift.models.beautygan.data`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import AgeshiftError, ImageLoadError
from ._app import app, prepare_app
from ._conditions import DETECTOR_HELP, strength_option
from ._console import report_skipped, say
from .onnx import backend_option, load_with_backend


@app.command("makeup")
def makeup_command(
    photos: list[Path] = typer.Argument(..., help="Photos or folders of photos (never modified)."),
    model: str = typer.Option(..., "--model", "-m", help="A makeup (beautygan) model folder."),
    reference: Path | None = typer.Option(
        None, "--reference", "-r", help="Photo of the face whose makeup to copy (exactly one face)."
    ),
    remove: bool = typer.Option(False, "--remove", help="Take makeup off instead (no --reference)."),
    strength: float | None = strength_option(),
    out: Path = typer.Option(Path("makeup"), "--out", "-o", help="Folder for the results (PNG)."),
    report: Path | None = typer.Option(None, "--report", help="Write per-face details (JSON) here."),
    upscale: str | None = typer.Option(
        None,
        "--upscale",
        help="Super-resolve each edited face before paste-back (last stage): realesrgan-x4, srresnet-x4, "
        "srgan-x4 or a super-resolution model folder.",
    ),
    detector: str = typer.Option("mtcnn", "--detector", help=DETECTOR_HELP),
    reference_aligned: bool = typer.Option(
        False, "--reference-aligned", help="The reference is already an aligned face crop (a training image)."
    ),
    max_faces: int = typer.Option(10, help="At most this many faces per photo, largest first."),
    min_face_size: float = typer.Option(40.0, help="Ignore faces smaller than this (pixels)."),
    backend: str = backend_option(),
) -> None:
    """Put a reference face's makeup on every face in photos (BeautyGAN), or remove makeup with --remove.

    Each face is aligned like the model's training crops, transferred and pasted back; the rest of the photo is
    untouched. Train a model with `ageshift train --family beautygan` on `ageshift prepare makeup` data.
    """
    import ageshift

    from ..faces import create_detector
    from ..faces.makeup import is_makeup_model, makeup_photo
    from ..io import load_image, save_image
    from ..outputs import write_json
    from .faces import _collect_photos, _plan_outputs

    if remove == (reference is not None):
        raise AgeshiftError(
            "give --reference REF.jpg to put makeup on, or --remove to take it off (not both)"
        )
    files = _collect_photos(photos, out)
    if reference is not None and not reference.is_file():
        raise AgeshiftError(f"{reference}: no such reference photo")
    _, targets = _plan_outputs(files, out, report, None)
    translator: Any = load_with_backend(model, backend)
    if not is_makeup_model(translator):
        raise AgeshiftError(f"{model}: is a {translator.family} model, not a makeup model (family beautygan)")
    upscaler = ageshift.load(upscale) if upscale else None
    if upscaler is not None and not hasattr(upscaler, "upscale"):
        raise AgeshiftError(
            f"--upscale {upscale}: is a {upscaler.family} model, not a super-resolution model"
        )
    face_detector = create_detector(detector)
    reference_image = load_image(reference) if reference is not None else None
    options: dict[str, Any] = {
        "remove": remove, "strength": strength, "detector": face_detector, "upscaler": upscaler,
        "reference_aligned": reference_aligned, "reference_name": str(reference), "max_faces": max_faces,
        "min_face_size": min_face_size, "in_place": True,
    }  # fmt: skip
    summary: list[dict[str, Any]] = []
    failures: list[str] = []
    for path in files:
        try:
            image = load_image(path)
        except ImageLoadError as error:
            failures.append(str(error))
            continue
        result = makeup_photo(image, translator, reference_image, **options)
        target = save_image(result.image, targets[path])
        say(f"{path.name}: {len(result.faces)} face(s) -> {target}", err=False)
        summary.append({"input": str(path), "output": str(target), **result.to_json()})
    if report is not None:
        request = {"model": model, "reference": str(reference) if reference else None, "remove": remove}
        write_json(report, {**request, "strength": strength, "photos": summary, "errors": failures})
    if not summary:
        raise AgeshiftError(f"none of the {len(files)} photo(s) could be read; first: {failures[0]}")
    written = f"wrote {len(summary)} of {len(files)} photo(s) to {out}"
    report_skipped(failures, len(files), written)
    say(written, err=False)


@prepare_app.command("makeup")
def prepare_makeup_command(
    source: Path | None = typer.Argument(
        None, help="The MT dataset folder as downloaded (images/makeup, images/non-makeup; never modified)."
    ),
    out: Path = typer.Option(..., "--out", help="The prepared folder (images/, test/, landmarks.json)."),
    synthetic: bool = typer.Option(
        False, "--synthetic", help="Render procedural faces wearing makeup instead (no download)."
    ),
    count: int = typer.Option(400, help="--synthetic: bare faces, and as many made-up ones."),
    size: int = typer.Option(0, help="Side of the written faces (default: 256 for MT, 64 synthetic)."),
    seed: int = typer.Option(0, help="--synthetic: the same seed writes the same faces."),
    test_fraction: float = typer.Option(
        -1.0, help="Share held out under test/ (default: 0.05 for MT, 0.1 synthetic)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a prepared folder already in --out."),
    masks: str = typer.Option(
        "auto",
        help="MT: training masks from the face-parsing maps in segs/ ('parsing'), from the landmarks as at use "
        "('landmarks'), or parsing when segs/ exists ('auto').",
    ),
    parsing_labels: str = typer.Option(
        "",
        help="MT: the label values of the parsing maps, e.g. 'lips=9,13 skin=4,8' (the default: MT's own).",
    ),
) -> None:
    """Makeup training data with 68 landmarks per face: the MT dataset (dlib finds the points; lips and skin
    from its face-parsing maps when segs/ is there), or procedural faces wearing lipstick, eye shadow and blush
    in many colours (exact points)."""
    from ..faces.regions import parse_label_spec
    from ..models.beautygan.data import (
        LANDMARKS_FILE,
        MASK_CHOICES,
        make_synthetic_makeup,
        prepare_makeup_folder,
    )
    from ..outputs import check_folder_writable, is_within

    if synthetic == (source is not None):
        raise AgeshiftError("give the MT folder to prepare, or --synthetic (not both)")
    if (out / LANDMARKS_FILE).exists() and not overwrite:
        raise AgeshiftError(f"{out}: already holds prepared makeup data; pass --overwrite to replace it")
    if source is not None and (is_within(out, source) or is_within(source, out)):
        raise AgeshiftError(f"--out {out}: must lie outside the source folder {source} (it is only read)")
    check_folder_writable(out, "--out")
    if test_fraction >= 1:
        raise AgeshiftError(f"--test-fraction must be below 1, got {test_fraction}")
    if masks not in MASK_CHOICES:
        raise AgeshiftError(f"--masks must be one of {', '.join(MASK_CHOICES)}, got {masks!r}")
    if synthetic and (masks != "auto" or parsing_labels):
        raise AgeshiftError("--masks and --parsing-labels apply to the MT folder, not to --synthetic")
    labels = parse_label_spec(parsing_labels) if parsing_labels else None
    if synthetic:
        prepared = make_synthetic_makeup(
            out, count, size or 64, seed, 0.1 if test_fraction < 0 else test_fraction
        )
    else:
        assert source is not None
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("finding landmarks", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            prepared = prepare_makeup_folder(
                source,
                out,
                size or 256,
                0.05 if test_fraction < 0 else test_fraction,
                progress=progress,
                masks=masks,
                parsing_labels=labels,
            )
    counts = ", ".join(f"{folder} {number}" for folder, number in prepared.counts.items())
    written = f"wrote {counts} to {prepared.root}"
    if prepared.parsed:
        written += f" ({prepared.parsed} with masks from their parsing maps)"
    total = sum(prepared.counts.values()) + len(prepared.skipped)
    report_skipped([f"{item.path}: {item.reason}" for item in prepared.skipped], total, written)
    say(written, err=False)
