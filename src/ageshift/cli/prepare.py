"""ageshift CLI: ``prepare utkface`` and ``prepare synthetic`` (thin shells over ``ageshift.data``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ._app import app, prepare_app  # noqa: F401


def _quote(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@prepare_app.command("utkface")
def prepare_utkface_command(
    source: Path = typer.Argument(
        ..., help="UTKFace images folder (searched recursively) or the folder holding UTKFace/."
    ),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write (trainA/ trainB/ testA/ testB/ …)."),
    young: str = typer.Option("20-29", help="Inclusive age range of domain A (young)."),
    old: str = typer.Option("50-59", help="Inclusive age range of domain B (old)."),
    gender: str = typer.Option("any", help="Keep only: male, female or any."),
    balance: bool = typer.Option(False, "--balance", help="Subsample so both domains have the same size."),
    test_fraction: float = typer.Option(0.1, help="Share of each domain held out for testing."),
    size: int = typer.Option(256, help="Side of the written square images."),
    seed: int = typer.Option(0, help="Random seed for balancing and the train/test split."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
) -> None:
    """Select two age groups from UTKFace, split them and write the standard dataset layout."""
    from ..data.manifest import parse_age_range
    from ..data.utkface import prepare_utkface

    console = Console(stderr=True)
    report = prepare_utkface(
        source,
        out,
        young=parse_age_range(young, "--young"),
        old=parse_age_range(old, "--old"),
        gender=gender,
        balance=balance,
        test_fraction=test_fraction,
        size=size,
        seed=seed,
        overwrite=overwrite,
        progress=True,
    )
    if report.malformed:
        console.print(
            f"[yellow]skipped {len(report.malformed)} malformed names:[/] {_quote(report.malformed)}",
            highlight=False,
        )
    if report.unreadable:
        console.print(
            f"[yellow]skipped {len(report.unreadable)} unreadable images:[/] {_quote(report.unreadable)}",
            highlight=False,
        )
    counts = ", ".join(f"{folder} {count}" for folder, count in report.counts.items())
    console.print(f"{report.found} labelled images found; wrote {counts} to {report.out}", highlight=False)


@prepare_app.command("synthetic")
def prepare_synthetic_command(
    out: Path = typer.Option(
        ..., "--out", help="Dataset folder (or, with --utkface-names, a flat image folder)."
    ),
    count: int = typer.Option(1200, help="Number of faces."),
    size: int = typer.Option(64, help="Side of the square images."),
    young: str = typer.Option("18-30", help="Inclusive age range of domain A (young)."),
    old: str = typer.Option("55-80", help="Inclusive age range of domain B (old)."),
    seed: int = typer.Option(0, help="Random seed: the same seed writes the same images."),
    test_fraction: float = typer.Option(0.1, help="Share of each domain held out for testing."),
    utkface_names: bool = typer.Option(
        False, "--utkface-names", help="Write a flat folder named like UTKFace (ages 1-90) instead."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
) -> None:
    """Render procedural faces whose age is a measurable cue (grey hair, forehead lines)."""
    from ..data.manifest import parse_age_range
    from ..data.synthetic import make_synthetic_dataset, make_utkface_named_folder

    console = Console(stderr=True)
    if utkface_names:
        written = make_utkface_named_folder(out, count=count, size=size, seed=seed, progress=True)
        console.print(f"wrote {len(written)} UTKFace-named faces to {out}", highlight=False)
        return
    report = make_synthetic_dataset(
        out,
        count=count,
        size=size,
        young=parse_age_range(young, "--young"),
        old=parse_age_range(old, "--old"),
        seed=seed,
        test_fraction=test_fraction,
        overwrite=overwrite,
        progress=True,
    )
    counts = ", ".join(f"{folder} {number}" for folder, number in report.counts.items())
    cues = ", ".join(f"{domain} {value:.1f}" for domain, value in report.mean_cue.items())
    console.print(f"wrote {counts} to {report.out}; mean measured age cue: {cues}", highlight=False)
