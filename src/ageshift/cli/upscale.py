"""ageshift CLI: ``upscale`` (super-resolution of an image or a folder)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import AgeshiftError
from ._app import app
from ._console import report_skipped, say


@app.command("upscale")
def upscale_command(
    source: Path = typer.Argument(..., metavar="INPUT", help="An image, or a folder of images (recursive)."),
    destination: Path = typer.Argument(
        ..., metavar="OUTPUT", help="Output image (its suffix picks the format) or folder (mirrors INPUT)."
    ),
    model: str = typer.Option(
        "realesrgan-x4",
        "--model",
        help="realesrgan-x4 (real photos), srresnet-x4 (highest PSNR on clean images), srgan-x4 (sharper), "
        "or a super-resolution model folder (`ageshift export` of a superres run).",
    ),
    scale: int | None = typer.Option(
        None,
        "--scale",
        help="2 or 4 (default: the model's); ×2 of a ×4 model runs ×4 and shrinks by 2 with Lanczos.",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    precision: str = typer.Option(
        "auto",
        "--precision",
        help="auto (bf16 on GPUs and on CPUs with native bf16, else fp32), fp32 (exact), bf16, fp16 (GPU).",
    ),
    tile: int | None = typer.Option(
        None, "--tile", min=16, help="Input pixels per tile side (memory vs speed)."
    ),
    image_format: str = typer.Option(
        "png", "--format", help="Format of files written into a folder: png or jpg."
    ),
) -> None:
    """Upscale an image or a folder ×2 or ×4 with a super-resolution model; unreadable files are skipped (exit 1)."""
    from ..device import resolve_device
    from ..files import plan_translation
    from ..io import load_image, save_image
    from ..models.superres.inference import check_upscale, resolve_precision
    from ..models.superres.resolver import SuperResolver
    from ..models.translator import load

    if image_format.lower() not in ("png", "jpg", "jpeg"):
        raise AgeshiftError(f"--format {image_format!r} is not supported; use png or jpg")
    pairs = plan_translation(source, destination, image_format)
    resolver = load(model, device=resolve_device(device))
    if not isinstance(resolver, SuperResolver):
        raise AgeshiftError(f"{model}: is a {resolver.family} model, not a super-resolution model")
    scale = resolver.scale if scale is None else scale
    check_upscale(64, 64, scale, resolver.scale, "--scale")  # a bad scale fails before any file is read
    resolve_precision(precision, resolver.device)
    resolver.precision = precision
    if tile is not None:
        resolver.tile = tile
    problems, written = [], []
    for index, (path, target) in enumerate(pairs):
        say(f"[{index + 1}/{len(pairs)}] {path}", "dim")
        try:
            image = load_image(path)
            result = resolver.upscale(image, scale, progress=True, source=str(path))
            written.append(save_image(result, target))
        except AgeshiftError as error:
            if len(pairs) == 1:
                raise
            problems.append(str(error) if str(path) in str(error) else f"{path}: {error}")
    if not written:
        raise AgeshiftError(f"{source}: no image could be upscaled ({len(problems)} failed); nothing written")
    target_name = destination if source.is_dir() else written[0]
    message = f"wrote {len(written)} image(s) ×{scale} to {target_name}"
    report_skipped(problems, len(pairs), message)
    say(message)


@app.command("evaluate-upscaling")
def evaluate_upscaling_command(
    model: str = typer.Argument(
        ..., metavar="MODEL", help="srresnet-x4, srgan-x4, realesrgan-x4 or a model folder."
    ),
    data: Path = typer.Option(..., "--data", help="A folder of photos (recursive): the originals."),
    scale: int | None = typer.Option(None, "--scale", help="2 or 4 (default: the model's)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many photos."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (exact), auto, bf16 or fp16 (GPU)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """PSNR and SSIM of a super-resolution model against the originals, next to bicubic and Lanczos."""
    from rich.console import Console
    from rich.table import Table

    from ..device import resolve_device
    from ..models.superres.evaluate import evaluate_upscaling
    from ..models.superres.inference import resolve_precision
    from ..models.superres.resolver import SuperResolver
    from ..models.translator import load
    from ..outputs import OutputPlan, write_json

    if json_path is not None:
        OutputPlan().file(json_path, "--json")
    resolver = load(model, device=resolve_device(device))
    if not isinstance(resolver, SuperResolver):
        raise AgeshiftError(f"{model}: is a {resolver.family} model, not a super-resolution model")
    resolve_precision(precision, resolver.device)
    resolver.precision = precision
    figures = evaluate_upscaling(resolver, data, scale, limit, progress=True)
    table = Table(title=f"×{figures['scale']} on {figures['images']} photo(s) of {data}")
    for column in ("method", "PSNR dB", "SSIM"):
        table.add_column(column)
    for name, values in figures["methods"].items():
        table.add_row(model if name == "model" else name, f"{values['psnr_db']:.2f}", f"{values['ssim']:.3f}")
    Console().print(table)
    for problem in figures["skipped"]:
        say(problem, "yellow", label="skipped: ")
    if json_path is not None:
        write_json(json_path, {"model": model, **figures})
