"""ageshift CLI: ``translate`` (run a model over files) and ``import-cyclegan`` (reference checkpoints)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..errors import AgeshiftError
from ._app import app


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
    direction: str = typer.Option(..., "--direction", "-d", help="older (A→B) or younger (B→A)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    image_format: str = typer.Option(
        "png", "--format", help="Format of files written into a folder: png or jpg."
    ),
) -> None:
    """Translate an image or a folder of images; unreadable files are skipped and listed at the end."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..models.translator import load, plan_translation, resolve_device, translate_files

    if image_format.lower() not in ("png", "jpg", "jpeg"):
        raise AgeshiftError(f"--format {image_format!r} is not supported; use png or jpg")
    pairs = plan_translation(source, destination, image_format)
    translator = load(model, device=resolve_device(device))
    console = Console(stderr=True)
    columns = (TextColumn("translating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("translate", total=len(pairs))
        summary = translate_files(
            translator, pairs, direction, batch_size, progress=lambda done: progress.advance(task, done)
        )
    for path, reason in summary.failed:
        message = reason if str(path) in reason else f"{path}: {reason}"
        # markup off: file names may contain square brackets
        console.print(f"skipped {message}", style="yellow", markup=False, highlight=False, soft_wrap=True)
    if not summary.written:
        raise AgeshiftError(f"{source}: no image could be translated ({len(summary.failed)} failed)")
    target = destination if source.is_dir() else summary.written[0]
    console.print(
        f"wrote {len(summary.written)} image(s) to {target}"
        + (f"; skipped {len(summary.failed)}" if summary.failed else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


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

    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise AgeshiftError(
            f"{out}: already exists and is not empty; pass --overwrite or choose another --out"
        )
    folder = import_cyclegan(older, younger, out, image_size=image_size, name=name)
    directions = "older and younger" if younger is not None else "older only"
    Console(stderr=True).print(
        f"wrote model {folder} ({directions})", markup=False, highlight=False, soft_wrap=True
    )
