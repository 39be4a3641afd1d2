"""ageshift CLI: the demo (the README's first command)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ._app import app
from ._console import say


@app.command()
def demo(
    out: Path = typer.Option(
        Path("demo-out"), "--out", help="Output folder (data, run, model, report, page)."
    ),
    count: int = typer.Option(1200, help="Synthetic faces to render."),
    steps: int = typer.Option(None, help="Training steps (default: the conditional fast preset's)."),
    seed: int = typer.Option(0, help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    no_eval: bool = typer.Option(
        False, "--no-eval", help="Skip the realism (FID/KID) part of the evaluation."
    ),
) -> None:
    """Make synthetic faces of every age, train the fast conditional model on the CPU, sweep held-out faces
    from 20 to 80 with the measured age under each image, and write an HTML page."""
    from ..demo import run_demo
    from ..outputs import check_folder_writable

    check_folder_writable(out, "--out")
    result = run_demo(out, count=count, steps=steps, seed=seed, quiet=quiet, evaluate=not no_eval)
    table = Table(title="held-out faces: requested vs measured age (years, synthetic age cue)")
    for column in ("target", "measured", "abs. error", "if unchanged"):
        table.add_column(column, justify="right")
    for entry in result.by_target:
        table.add_row(
            f"{entry['target_age']:g}",
            f"{entry['mean_achieved_age']:.1f}",
            f"{entry['mae']:.1f}",
            f"{entry['unchanged_mae']:.1f}",
        )
    console = Console()
    console.print(table)
    for name, accuracy in result.attribute_accuracy.items():
        if accuracy is not None:
            console.print(f"{name}: {accuracy:.0%} of outputs show the requested value")
    say(f"page: {result.page.resolve()}  ({result.seconds / 60:.1f} min)", err=False)
