"""ageshift CLI: ``prepare utkface`` and ``prepare synthetic`` (thin shells over ``ageshift.data``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, prepare_app  # noqa: F401
from ._console import say


def _quote(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@prepare_app.command("utkface")
def prepare_utkface_command(
    source: Path = typer.Argument(
        ..., help="UTKFace images folder (searched recursively) or the folder holding UTKFace/."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Dataset folder to write (trainA/ trainB/ testA/ testB/, or train/ test/ with --all-ages).",
    ),
    young: str = typer.Option(None, help="Inclusive age range of domain A (young); default 20-29."),
    old: str = typer.Option(None, help="Inclusive age range of domain B (old); default 50-59."),
    all_ages: bool = typer.Option(
        False,
        "--all-ages",
        help="Keep every age with its labels in train/ and test/ (for conditional models).",
    ),
    ages: str = typer.Option(None, help="With --all-ages: inclusive age range to keep (default every age)."),
    gender: str = typer.Option("any", help="Keep only: male, female or any."),
    balance: bool = typer.Option(
        False,
        "--balance",
        help="Subsample so both domains have the same size; with --all-ages, cap every age bucket at the "
        "median bucket's size.",
    ),
    max_per_bucket: int = typer.Option(
        None, help="With --all-ages: cap every age bucket at this many images (implies --balance)."
    ),
    bucket_width: int = typer.Option(5, help="With --all-ages: years per age bucket for balancing."),
    test_fraction: float = typer.Option(0.1, help="Share of each domain held out for testing."),
    size: int = typer.Option(256, help="Side of the written square images."),
    seed: int = typer.Option(0, help="Random seed for balancing and the train/test split."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
) -> None:
    """Select two age groups from UTKFace (or, with --all-ages, every age), split them and write the dataset."""
    from ..data.manifest import parse_age_range
    from ..data.utkface import prepare_utkface, prepare_utkface_all_ages
    from ..errors import ConfigError
    from ..outputs import check_folder_writable, refuse_same_folder

    check_folder_writable(out, "--out")
    refuse_same_folder(out, [source])
    if all_ages:
        if young is not None or old is not None:
            raise ConfigError(
                "--young/--old choose two domains; --all-ages keeps every age (narrow it with --ages)"
            )
        report = prepare_utkface_all_ages(
            source,
            out,
            ages=parse_age_range(ages, "--ages") if ages is not None else None,
            gender=gender,
            balance=balance,
            max_per_bucket=max_per_bucket,
            bucket_width=bucket_width,
            test_fraction=test_fraction,
            size=size,
            seed=seed,
            overwrite=overwrite,
            progress=True,
        )
    else:
        if ages is not None or max_per_bucket is not None:
            raise ConfigError("--ages and --max-per-bucket need --all-ages (two domains use --young/--old)")
        report = prepare_utkface(
            source,
            out,
            young=parse_age_range(young or "20-29", "--young"),
            old=parse_age_range(old or "50-59", "--old"),
            gender=gender,
            balance=balance,
            test_fraction=test_fraction,
            size=size,
            seed=seed,
            overwrite=overwrite,
            progress=True,
        )
    if report.malformed:
        say(_quote(report.malformed), "yellow", label=f"skipped {len(report.malformed)} malformed names: ")
    if report.unreadable:
        say(
            _quote(report.unreadable), "yellow", label=f"skipped {len(report.unreadable)} unreadable images: "
        )
    counts = ", ".join(f"{folder} {count}" for folder, count in report.counts.items())
    say(f"{report.found} labelled images found; wrote {counts} to {report.out}")


@prepare_app.command("synthetic")
def prepare_synthetic_command(
    out: Path = typer.Option(
        ..., "--out", help="Dataset folder (or, with --utkface-names, a flat image folder)."
    ),
    count: int = typer.Option(1200, help="Number of faces."),
    size: int = typer.Option(64, help="Side of the square images."),
    young: str = typer.Option(None, help="Inclusive age range of domain A (young); default 18-30."),
    old: str = typer.Option(None, help="Inclusive age range of domain B (old); default 55-80."),
    all_ages: bool = typer.Option(
        False, "--all-ages", help="Every age with its labels in train/ and test/ (for conditional models)."
    ),
    ages: str = typer.Option(None, help="With --all-ages: age range in years (default 15-80)."),
    attributes: str = typer.Option(
        "hair,beard,glasses,hair_length",
        help="Attributes drawn at random per face (comma-separated, or 'none'); the others are fixed.",
    ),
    fixed: str = typer.Option(
        "", help="Values of the attributes that do not vary, e.g. hair=blond,glasses=glasses."
    ),
    seed: int = typer.Option(0, help="Random seed: the same seed writes the same images."),
    test_fraction: float = typer.Option(0.1, help="Share of each domain held out for testing."),
    utkface_names: bool = typer.Option(
        False, "--utkface-names", help="Write a flat folder named like UTKFace (ages 1-90) instead."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
) -> None:
    """Render procedural faces whose age and attributes (hair colour, beard, glasses, hair length) are
    labelled and measurable from pixels."""
    from ..data.manifest import parse_age_range
    from ..data.synthetic import make_synthetic_dataset, make_utkface_named_folder
    from ..data.synthetic_attributes import parse_attribute_names, parse_attribute_values
    from ..errors import ConfigError
    from ..outputs import check_folder_writable

    check_folder_writable(out, "--out")
    if utkface_names:
        written = make_utkface_named_folder(out, count=count, size=size, seed=seed, progress=True)
        say(f"wrote {len(written)} UTKFace-named faces to {out}")
        return
    if all_ages and (young is not None or old is not None):
        raise ConfigError(
            "--young/--old choose two domains; --all-ages draws every age (narrow it with --ages)"
        )
    if not all_ages and ages is not None:
        raise ConfigError("--ages needs --all-ages (two domains use --young/--old)")
    report = make_synthetic_dataset(
        out,
        count=count,
        size=size,
        young=parse_age_range(young or "18-30", "--young"),
        old=parse_age_range(old or "55-80", "--old"),
        seed=seed,
        test_fraction=test_fraction,
        overwrite=overwrite,
        progress=True,
        all_ages=all_ages,
        ages=parse_age_range(ages or "15-80", "--ages"),
        attributes=parse_attribute_names(attributes),
        fixed_attributes=parse_attribute_values(fixed),
    )
    counts = ", ".join(f"{folder} {number}" for folder, number in report.counts.items())
    cues = ", ".join(f"{domain} {value:.1f}" for domain, value in report.mean_cue.items())
    summary = (
        f"mean measured age cue: {cues}" if cues else f"age cue correlation {report.cue_correlation:.3f}"
    )
    say(f"wrote {counts} to {report.out}; {summary}")
