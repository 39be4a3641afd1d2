"""ageshift CLI: ``stylize`` (toonify a photo with a base StyleGAN and its style fine-tune; a thin shell over
``ageshift.latent.toonify``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app
from ._console import say


@app.command("stylize")
def stylize_command(
    photo: Path = typer.Argument(
        ..., help="Photo to stylize (a face is aligned; otherwise the centred square)."
    ),
    base: Path = typer.Option(..., "--base", help="Base stylegan model folder (`ageshift export` of a run)."),
    style: Path = typer.Option(
        ..., "--style", help="Its fine-tune on a style folder (model.init_from=BASE)."
    ),
    out: Path = typer.Option(Path("stylized.png"), "--out", help="Image to write (+ _strip.png and .json)."),
    swap_at: int = typer.Option(
        16, "--swap-at", help="Resolutions up to this one come from the base, the finer ones from the style."
    ),
    steps: int = typer.Option(300, help="Projection steps."),
    space: str = typer.Option("w+", "--space", help="Projection space: w+ (closer) or w."),
) -> None:
    """Project a photo with the base generator and render it with the base/style layer-swap blend."""
    import torch

    from ..latent import ProjectionConfig
    from ..latent.stylegan import load_stylegan_latent
    from ..latent.toonify import stylize_photo
    from ..outputs import OutputPlan

    plan = OutputPlan([photo])
    for path in (out, out.with_name(f"{out.stem}_strip.png"), out.with_suffix(".json")):
        plan.claim(path, option="--out")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    report = stylize_photo(
        photo,
        load_stylegan_latent(base, space),
        load_stylegan_latent(style, space),
        out,
        swap_at,
        ProjectionConfig(steps=steps, learning_rate=0.1),
    )
    found = "aligned on the detected face" if report.face_found else "no face found: used the centred square"
    say(f"{report.output} ({found}; projection PSNR {report.psnr:.1f} dB)", "green", label="wrote ")
    say(report.strip, "green", label="wrote ")
