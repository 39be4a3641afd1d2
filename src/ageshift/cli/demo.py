"""ageshift CLI: the demo (the README's first command)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ._app import app


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Output folder (data, run, model, page)."),
    count: int = typer.Option(1200, help="Synthetic faces to render (both domains)."),
    steps: int = typer.Option(None, help="Training steps (default: the fast preset's)."),
    seed: int = typer.Option(0, help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the full evaluation report."),
) -> None:
    """Make synthetic faces, train the fast CycleGAN on the CPU, export it, translate held-out faces both
    ways and write an HTML page with sample grids and the measured age-cue shift."""
    from ..demo import run_demo

    result = run_demo(out, count=count, steps=steps, seed=seed, quiet=quiet, evaluate=not no_eval)
    table = Table(title="measured age cue on held-out faces (apparent years)")
    for column in ("direction", "faces", "before", "after", "moved the right way"):
        table.add_column(column, justify="right")
    for d in result.directions:
        table.add_row(
            d.direction, str(d.count), f"{d.cue_before:.1f}", f"{d.cue_after:.1f}", f"{d.moved_right_way:.0%}"
        )
    console = Console()
    console.print(table)
    console.print(f"page: {result.page.resolve()}  ({result.seconds / 60:.1f} min)")
