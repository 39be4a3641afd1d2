"""ageshift CLI: ``distill`` (a teacher model → a fast ``reager`` student, through the shared trainer)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import AgeshiftError, ConfigError
from ._app import app
from ._console import say


def parse_ages(text: str) -> tuple[float, float]:
    """``"20-80"`` → ``(20.0, 80.0)``; raises :class:`ConfigError` naming the option."""
    low, sep, high = text.partition("-")
    try:
        ages = (float(low), float(high))
    except ValueError:
        ages = None
    if not sep or ages is None or not 0 <= ages[0] < ages[1] <= 150:
        raise ConfigError(f"--ages {text!r}: expected MIN-MAX years with 0 <= MIN < MAX <= 150, e.g. 20-80")
    return ages


def _default_estimator(data: Path) -> str:
    """``cue`` for ageshift's synthetic faces (their measurable age), else the packaged photo estimator."""
    from ..data.manifest import read_dataset_json

    crop = read_dataset_json(data).get("crop") or {}
    return "cue" if isinstance(crop, dict) and crop.get("template") == "synthetic" else "packaged"


@app.command("distill")
def distill_command(
    teacher: Path = typer.Argument(
        ...,
        help="Model folder that re-ages faces (conditional or two-domain), or a latent generator: dcgan (the "
        "packaged one) or a stylegan model folder, walking --direction.",
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="FACES folder (train/ and test/, or images); a latent teacher makes its own faces.",
    ),
    cache: Path | None = typer.Option(
        None,
        "--cache",
        help="Folder of cached teacher pairs: made once (resumable), then this and later runs train from it "
        "without running the teacher.",
    ),
    pairs_per_face: int = typer.Option(
        4, "--pairs-per-face", min=1, help="With --cache: target ages per face."
    ),
    direction: str = typer.Option(
        "age",
        "--direction",
        help="A latent teacher's age direction: a direction folder, or age (fitted once).",
    ),
    out: Path = typer.Option(..., "--out", help="Model folder the student is exported to."),
    ages: str = typer.Option("20-80", "--ages", help="Target ages the student learns, MIN-MAX years."),
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder of numbered training runs."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Training steps (default: the preset's)."),
    size: int | None = typer.Option(
        None, "--size", min=8, help="Side the student works at (default: the teacher's)."
    ),
    preset: str = typer.Option(
        "fast", "--preset", help="Training preset: fast (CPU minutes) or paper (GPU)."
    ),
    age_estimator: str | None = typer.Option(
        None,
        "--age-estimator",
        help="Reads faces' current age: packaged, cue or a folder (default: by data).",
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config key, e.g. --set model.channels=[8,16]."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the newest run in --runs, then export it."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the model files in a non-empty --out."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Distil TEACHER into a fast re-aging U-Net (FRAN-style) trained on pairs the teacher makes on the fly."""
    from ..models.reager.latent_teacher import is_latent_teacher
    from ..models.translator import load
    from ..outputs import OutputPlan, refuse_same_folder
    from ..pretrained import CONFIG_FILE, WEIGHTS_FILE
    from ..training import TrainingInterrupted, export_run, train
    from ..training.config import train_config
    from ..training.rundir import latest_run

    low, high = parse_ages(ages)
    inputs = [path for path in (teacher, data) if path is not None and str(path) != "dcgan"]
    plan = OutputPlan(inputs)
    plan.folder(out, "--out")
    plan.folder(runs, "--runs")
    if cache is not None:
        plan.folder(cache, "--cache")
        refuse_same_folder(cache, [*inputs, out])
    refuse_same_folder(out, [*inputs, runs])
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise AgeshiftError(
            f"{out}: folder exists and is not empty (use --overwrite to replace its model files)"
        )
    for file_name in (CONFIG_FILE, WEIGHTS_FILE):
        plan.claim(out / file_name, option="--out")
    resume_run = latest_run(runs) if resume else None
    latent = is_latent_teacher(str(teacher))
    if resume_run is None:
        if latent:
            if data is not None:
                raise ConfigError(
                    f"{teacher} is a latent generator: it makes its own faces, so drop --data {data}"
                )
            from ..latent.sources import load_generator

            side = size or load_generator(str(teacher)).image_size  # a bad generator fails here
            # The run records the generator as its data source; nothing is read from it as a folder.
            data = teacher if teacher.is_dir() else runs
            reader = age_estimator or "packaged"
            spec = str(teacher) if str(teacher) == "dcgan" else str(teacher.resolve())
        else:
            if data is None:
                raise ConfigError("--data FACES is required to start a distillation (or --resume a run)")
            if not data.is_dir():
                raise AgeshiftError(f"{data}: face folder does not exist")
            side = size or load(teacher).image_size  # a bad teacher fails here, before a run folder exists
            reader = age_estimator or _default_estimator(data)
            spec = str(teacher.resolve())
        settings = [
            f"model.teacher={spec}",
            f"model.teacher_direction={Path(direction).resolve() if Path(direction).exists() else direction}",
            f"model.age_range=[{low:g}, {high:g}]",
            f"model.age_estimator={reader}",
            *(
                [f"model.pair_cache={cache.resolve()}", f"model.pairs_per_face={pairs_per_face}"]
                if cache
                else []
            ),
            *overrides,
        ]
        config = train_config(preset, None, settings, family="reager")
        stage = config.stages[-1]
        config = train_config(
            preset, None,
            [*settings, f"stages=[{{size: {side}, batch_size: {stage.batch_size}, steps: {steps or stage.steps}}}]"],
            family="reager",
        )  # fmt: skip
    else:
        config = None
    try:
        run_dir = train(config, data, runs, resume=resume_run or False, quiet=quiet)
    except TrainingInterrupted as stopped:
        say(stopped, "yellow")
        raise typer.Exit(1) from None
    student = export_run(run_dir, out)
    first, last = student.conditions.age or (low, high)
    say(
        f"distilled {teacher} into {out} ({student.image_size}², ages {first:g}-{last:g}); run folder {run_dir}"
    )
