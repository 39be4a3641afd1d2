"""ageshift CLI for the teaching GANs: ``generate`` (new images from a generator model) and ``prepare digits``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..errors import AgeshiftError
from ._app import app, prepare_app

#: Suffixes that make ``--out`` one grid image rather than a folder of images.
GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@app.command("generate")
def generate_command(
    model: str = typer.Argument(
        ..., metavar="MODEL", help="A generator model folder (ageshift export of a gan/cgan run)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="A grid image (.png/.jpg) or a folder to fill with one PNG per image."
    ),
    count: int = typer.Option(64, "--count", "-n", min=1, help="Number of images."),
    label: str | None = typer.Option(
        None, "--label", "-l", help="Conditional models: the class to draw, e.g. 7."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Fix the noise: the same seed draws the same images."
    ),
    columns: int = typer.Option(8, "--columns", min=1, help="Images per row of the grid."),
    scale: int = typer.Option(
        1, "--scale", min=1, max=16, help="Enlarge each pixel this many times (tiny digits)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """Draw new images from a generator (`ageshift generate MODEL --label 7 --count 64 --out sevens.png`)."""
    import torch.nn.functional as F

    from ..device import resolve_device
    from ..image import make_grid, tensor_to_pil
    from ..io import save_image
    from ..models.generator import ImageGenerator
    from ..models.translator import load
    from ..outputs import OutputError, OutputPlan

    generator = load(model, device=resolve_device(device))
    if not isinstance(generator, ImageGenerator):
        raise AgeshiftError(
            f"{model}: a {generator.family} model translates images and draws none; use `ageshift translate`"
        )
    grid = out.suffix.lower() in GRID_SUFFIXES
    # Checked before any work, against the model's own files too; earlier outputs are replaced atomically.
    plan = OutputPlan(path for path in Path(model).glob("*") if path.is_file())
    if grid:
        if out.is_dir():
            raise OutputError(
                f"{out}: is a folder; give a grid image path (.png, .jpg) or a folder without a suffix"
            )
        targets = [plan.file(out)]
    else:
        plan.folder(out)
        targets = [plan.claim(out / f"{index:05d}.png") for index in range(count)]
    images = generator.generate(count, label=label, seed=seed)
    if scale > 1:
        images = F.interpolate(images, scale_factor=scale, mode="nearest")
    if grid:
        rows = [images[start : start + columns] for start in range(0, count, columns)]
        save_image(tensor_to_pil(make_grid(rows)), targets[0])
    else:
        for image, path in zip(images, targets, strict=True):
            save_image(tensor_to_pil(image), path)
    what = f"label {label}" if label is not None else "all classes" if generator.labels else "unconditional"
    Console(stderr=True).print(
        f"wrote {count} image(s) ({what}) to {out}", markup=False, highlight=False, soft_wrap=True
    )


@prepare_app.command("digits")
def prepare_digits_command(
    out: Path = typer.Option(
        ..., "--out", help="Dataset folder to write (train/ test/ manifest.csv dataset.json)."
    ),
    source: str = typer.Option(
        "sklearn",
        "--source",
        help="sklearn (1,797 8×8 digits in scikit-learn), fashion (Debian's dataset-fashion-mnist), or a "
        "folder with MNIST-style IDX files (train-images-idx3-ubyte.gz …).",
    ),
    size: int | None = typer.Option(
        None, "--size", help="Image side; default 16 for sklearn, the files' own (28) for IDX."
    ),
    limit: int | None = typer.Option(
        None, "--limit", help="At most this many images per split (quick CPU runs)."
    ),
    test_fraction: float = typer.Option(
        0.1, help="sklearn: share held out for testing (IDX brings its own)."
    ),
    seed: int = typer.Option(0, help="sklearn: random seed of the held-out split."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
) -> None:
    """Write handwritten digits (or Fashion-MNIST) as a labelled folder for `ageshift train --family gan|cgan`."""
    from ..data.digits import prepare_digits

    report = prepare_digits(
        out,
        source,
        size=size,
        test_fraction=test_fraction,
        limit=limit,
        seed=seed,
        overwrite=overwrite,
        progress=True,
    )
    counts = ", ".join(f"{split} {number}" for split, number in report.counts.items())
    Console(stderr=True).print(
        f"wrote {report.name} ({counts}; classes {', '.join(report.classes)}) to {report.out}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
