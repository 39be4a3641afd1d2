"""Video input for ``ageshift age``: a video given as input is aged frame by frame, tracked and stabilised
(see :mod:`ageshift.video`). ``age`` routes video inputs here; the options below are added to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import AgeshiftError
from ..outputs import OutputPlan
from ..video.formats import (
    DEFAULT_DETECT_EVERY,
    DEFAULT_SMOOTH,
    DEFAULT_STABILISE,
    VIDEO_SUFFIXES,
    VideoError,
    is_video_path,
)
from ._console import report_skipped, say

#: Containers the output may use (H.264 does not go in WebM or AVI here).
OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv")


def detect_every_option() -> Any:
    """``--detect-every N`` for ``age``."""
    return typer.Option(
        DEFAULT_DETECT_EVERY, "--detect-every", min=1,
        help="Videos: run the face detector every N frames and follow faces by motion in between.",
    )  # fmt: skip


def smooth_option() -> Any:
    """``--smooth S`` for ``age``."""
    return typer.Option(
        DEFAULT_SMOOTH, "--smooth", min=0.0,
        help="Videos: landmark smoothing over time (One-Euro filter; 0 off, higher steadier but laggier).",
    )  # fmt: skip


def stabilise_option() -> Any:
    """``--stabilise W`` for ``age``."""
    return typer.Option(
        DEFAULT_STABILISE, "--stabilise", min=0.0, max=0.95,
        help="Videos: weight of the previous frame's edit blended into each frame (0: frame by frame).",
    )  # fmt: skip


def has_video(inputs: list[Path]) -> bool:
    """Whether any input is a video file (by suffix)."""
    return any(is_video_path(path) and not path.is_dir() for path in inputs)


def _plan(files: list[Path], out: Path, report: Path | None) -> dict[Path, Path]:
    """Each video's output path, checked before the model loads (none replaces an input)."""
    plan = OutputPlan(files)
    if report is not None:
        plan.file(report, "--report")
    if out.suffix.lower() in VIDEO_SUFFIXES:
        if len(files) != 1:
            raise AgeshiftError(
                f"{out}: --out names one video but {len(files)} videos were given; give a folder"
            )
        if out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise AgeshiftError(f"{out}: write the video as one of {', '.join(OUTPUT_SUFFIXES)}")
        return {files[0]: plan.file(out, "--out", files[0])}
    plan.folder(out, "--out")
    return {path: plan.file(out / f"{path.stem}.mp4", "--out", path) for path in files}


def _refuse_photo_only(options: dict[str, Any]) -> None:
    for name, flag in (("whole_image", "--whole-image"), ("box", "--box"), ("save_crops", "--save-crops")):
        if options.get(name):
            raise AgeshiftError(f"{flag} applies to photos only, not to videos")


def age_videos(photos: list[Path], model: str, out: Path, report: Path | None, **options: Any) -> None:
    """``ageshift age VIDEO…``: every input must be a video; each is written to ``--out`` (a file or folder).

    Args:
        photos: the inputs (videos, never modified).
        model: model folder or ``identity``.
        out: output video (one input) or folder.
        report: per-face JSON report path.
        **options: the other ``age`` options.
    """
    import ageshift

    from ..outputs import write_json
    from ._conditions import condition_request
    from .onnx import load_with_backend

    _refuse_photo_only(options)
    others = [path for path in photos if not is_video_path(path) or path.is_dir()]
    if others:
        raise AgeshiftError(f"{others[0]}: not a video; age photos and videos in separate runs")
    for path in photos:
        if not path.is_file():
            raise AgeshiftError(f"{path}: no such video file")
    targets = _plan(photos, out, report)
    translator = load_with_backend(model, options.get("backend", "torch"))
    upscale = options.get("upscale")
    upscaler = ageshift.load(upscale) if upscale else None
    if upscaler is not None and not hasattr(upscaler, "upscale"):
        raise AgeshiftError(
            f"--upscale {upscale}: is a {upscaler.family} model, not a super-resolution model"
        )
    request = condition_request(
        translator, options.get("direction"), options.get("target_age"), options.get("attribute"),
        options.get("strength"),
    )  # fmt: skip
    from .faces import check_current_age

    check_current_age(translator, options.get("current_age"))
    if options.get("then"):
        from ..faces.chain import chain_with

        translator, request = chain_with(translator, request, options["then"])
    summary, failures = _run_all(targets, translator, request, upscaler, options)
    if report is not None:
        write_json(report, {"model": model, "condition": request, "videos": summary, "errors": failures})
    if not summary:
        raise AgeshiftError(f"no video written; {failures[0]}")
    written = f"wrote {len(summary)} of {len(targets)} video(s): " + ", ".join(v["output"] for v in summary)
    report_skipped(failures, len(targets), written)
    say(written, err=False)


def _run_all(
    targets: dict[Path, Path],
    translator: Any,
    request: dict[str, Any],
    upscaler: Any,
    options: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Age each video with a progress bar (frames, ETA); an unreadable one is listed and skipped."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ..faces import create_detector
    from ..video.pipeline import age_video

    detector = create_detector(options.get("detector", "mtcnn"))
    photo_options = {
        "color_match": options.get("color_match", False), "keep_detail": options.get("keep_detail", False),
        "upscaler": upscaler, "current_age": options.get("current_age"),
    }  # fmt: skip
    summary: list[dict[str, Any]] = []
    failures: list[str] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, transient=True) as progress:
        for source, target in targets.items():
            task = progress.add_task(f"aging {source.name}", total=None)

            def advance(done: int, expected: int, task: Any = task) -> None:
                progress.update(task, completed=done, total=max(expected, done) or None)

            try:
                result = age_video(
                    source, target, translator, request, detector=detector,
                    detect_every=options.get("detect_every", DEFAULT_DETECT_EVERY),
                    smooth=options.get("smooth", DEFAULT_SMOOTH),
                    stabilise=options.get("stabilise", DEFAULT_STABILISE),
                    max_faces=options.get("max_faces", 10), min_face_size=options.get("min_face_size", 40.0),
                    photo_options=photo_options, progress=advance,
                )  # fmt: skip
            except VideoError as error:
                failures.append(str(error))
                continue
            expected = result.info.frame_estimate
            if result.frames < 0.9 * expected - 1:
                say(
                    f"{source}: only {result.frames} of the ~{expected} frames its header announces could be "
                    f"decoded (a truncated file?); {target} has {result.frames}",
                    "yellow", label="warning: ",
                )  # fmt: skip
            summary.append({"input": str(source), **result.to_json()})
    return summary, failures
