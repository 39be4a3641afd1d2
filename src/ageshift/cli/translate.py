"""ageshift CLI: ``translate`` (run a model over files) and ``import-cyclegan`` (reference checkpoints)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..errors import AgeshiftError
from ._app import app
from ._conditions import (
    attribute_option,
    condition_request,
    direction_option,
    strength_option,
    target_age_option,
)
from ._console import report_skipped, say
from .onnx import backend_option, load_with_backend


@app.command("translate")
def translate_command(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="Model folder (from `ageshift export` or `import-cyclegan`), or 'identity'.",
    ),
    source: Path = typer.Argument(
        ..., metavar="INPUT", help="An image, or a folder of aligned face crops (recursive)."
    ),
    destination: Path = typer.Argument(
        ..., metavar="OUTPUT", help="Output image (its suffix picks the format) or folder (mirrors INPUT)."
    ),
    direction: str | None = direction_option(),
    target_age: float | None = target_age_option(),
    attribute: list[str] | None = attribute_option(),
    strength: float | None = strength_option(),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    image_format: str = typer.Option(
        "png", "--format", help="Format of files written into a folder: png or jpg."
    ),
    backend: str = backend_option(),
) -> None:
    """Translate an image or a folder of images; unreadable files are skipped, listed, and the exit code is 1."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..files import plan_translation, translate_files

    if image_format.lower() not in ("png", "jpg", "jpeg"):
        raise AgeshiftError(f"--format {image_format!r} is not supported; use png or jpg")
    pairs = plan_translation(source, destination, image_format)
    translator = load_with_backend(model, backend, device)
    request = condition_request(translator, direction, target_age, attribute, strength)
    console = Console(stderr=True)  # the progress bar only: messages go through say()
    columns = (TextColumn("translating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("translate", total=len(pairs))
        summary = translate_files(
            translator,
            pairs,
            batch_size=batch_size,
            progress=lambda done: progress.advance(task, done),
            **request,
        )
    problems = [reason if str(path) in reason else f"{path}: {reason}" for path, reason in summary.failed]
    if not summary.written:
        for problem in problems:
            say(problem, "yellow", label="skipped: ")
        raise AgeshiftError(
            f"{source}: no image could be translated ({len(summary.failed)} failed); nothing written"
        )
    target = destination if source.is_dir() else summary.written[0]
    written = f"wrote {len(summary.written)} image(s) to {target}"
    report_skipped(problems, len(pairs), written)
    say(written)


@app.command("import-cyclegan")
def import_cyclegan_command(
    older: Path = typer.Argument(
        ..., metavar="G_A", help="Reference latest_net_G_A.pth (A→B): the 'older' direction."
    ),
    younger: Path | None = typer.Argument(
        None, metavar="G_B", help="Reference latest_net_G_B.pth (B→A): the 'younger' direction."
    ),
    out: Path = typer.Option(..., "--out", help="Model folder to write."),
    image_size: int = typer.Option(256, "--image-size", help="Side the generators were trained at."),
    name: str | None = typer.Option(None, "--name", help="Name stored in the model's metadata."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing model folder's files."),
) -> None:
    """Import generators of junyanz/pytorch-CycleGAN-and-pix2pix as an ageshift model folder."""
    from ..models.cyclegan.reference import import_cyclegan
    from ..outputs import OutputPlan
    from ..pretrained import CONFIG_FILE, WEIGHTS_FILE

    plan = OutputPlan([path for path in (older, younger) if path is not None])
    plan.folder(out, "--out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise AgeshiftError(
            f"{out}: already exists and is not empty; pass --overwrite or choose another --out"
        )
    for file_name in (CONFIG_FILE, WEIGHTS_FILE):
        plan.claim(out / file_name, option="--out")
    folder = import_cyclegan(older, younger, out, image_size=image_size, name=name)
    directions = "older and younger" if younger is not None else "older only"
    say(f"wrote model {folder} ({directions})")


@app.command("info")
def info_command(
    model: str = typer.Argument(..., metavar="MODEL", help="Model folder, or 'identity'."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """What a model is and which conditions it accepts (the options `age`, `translate` and the page offer)."""
    import json

    from ..models.translator import load

    translator = load(model)
    description = translator.describe()
    if as_json:
        typer.echo(json.dumps(description, indent=2, default=str))
        return
    card = translator.card
    lines = [
        f"{model}: {translator.family}, {translator.image_size}² ({card.get('summary') or 'no summary'})"
    ]
    for entry in translator.conditions.describe():
        if entry["type"] == "choice":
            lines.append(f"  {entry['name']}: one of {', '.join(entry['choices'])}")
        else:
            lines.append(f"  {entry['name']}: {entry['min']:g}..{entry['max']:g}")
    data = card.get("training_data") or {}
    if data.get("name"):
        lines.append(f"  trained on: {data['name']} {data.get('size') or ''}".rstrip())
    for licence in card.get("licences") or []:
        lines.append(f"  uses: {licence.get('name')} ({licence.get('licence')})")
    typer.echo("\n".join(lines))


@app.command("models")
def models_command() -> None:
    """The registered model families with their presets and the data they train on."""
    from ..registry import get_family, list_models

    for name in list_models():
        family = get_family(name)
        typer.echo(
            f"{name}: {family.summary} [data: {family.data_kind}; presets: {', '.join(family.train_presets)}]"
        )
