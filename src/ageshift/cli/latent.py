"""ageshift CLI: ``latent fit-direction | edit | project`` and ``prepare generated`` (thin shells over
``ageshift.latent``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..outputs import check_folder_writable, refuse_inputs_inside, refuse_same_folder
from ._app import app, prepare_app
from ._console import say

latent_app = typer.Typer(
    help="Latent editing with a pretrained generator: age directions, progression videos, photo projection.",
    no_args_is_help=True,
)
app.add_typer(latent_app, name="latent")


GENERATOR_HELP = "'dcgan' (the packaged 64x64 face DCGAN) or the folder of an exported stylegan model."
SPACE_HELP = "Latent space of a stylegan generator: w (one vector) or w+ (one per layer)."


def _generator(spec: str, space: str):  # -> LatentGenerator (imported lazily: no torch at CLI start)
    from ..latent.sources import load_generator

    return load_generator(spec, space)


def _limit_threads() -> None:
    import torch

    # The machines we run on have two cores shared by several jobs: more threads only add contention.
    torch.set_num_threads(min(2, torch.get_num_threads()))


def _print_measured(console: Console, measured: dict) -> None:
    console.print(
        f"  estimated age change: {measured['units_per_strength']:+.2f} years per unit strength "
        f"(correlation {measured['change_correlation']:.2f}, {measured['num_samples']} samples)",
        highlight=False,
    )
    for row in measured["per_strength"]:
        identity = row["identity_distance"]
        identity_text = "" if identity is None else f", identity distance {identity:.3f}"
        console.print(
            f"  strength {row['strength']:+.1f}: mean age {row['mean_score']:.1f} "
            f"({row['mean_change']:+.1f}){identity_text}",
            highlight=False,
        )


@latent_app.command("fit-direction")
def fit_direction_command(
    out: Path = typer.Option(..., "--out", help="Folder to write the direction to."),
    samples: int = typer.Option(2000, help="Generated samples labelled by the age estimator for the fit."),
    method: str = typer.Option(
        "ridge", help="ridge (regression normal) or mean-difference (old minus young)."
    ),
    measure: int = typer.Option(500, help="Fresh samples edited and re-estimated to measure it (0: skip)."),
    identity: bool = typer.Option(
        True, "--identity/--no-identity", help="Also measure dlib identity distance (slow: ~0.1 s a face)."
    ),
    seed: int = typer.Option(0, help="Seed of the labelled samples."),
    generator_spec: str = typer.Option("dcgan", "--generator", help=GENERATOR_HELP),
    space: str = typer.Option("w", "--space", help=SPACE_HELP),
) -> None:
    """Label generated faces with the age estimator, fit an age direction, measure it and save it."""
    import numpy as np

    from ..latent import fit_direction, label_latents, measure_direction
    from ..latent.directions import PACKAGED_AGE_LABELLER
    from ..latent.scoring import packaged_age_function, packaged_identity_distance

    check_folder_writable(out, "--out")
    _limit_threads()
    console = Console(stderr=True)
    generator = _generator(generator_spec, space)
    ages = packaged_age_function()
    labelled = label_latents(generator, ages, samples, seed=seed)
    direction = fit_direction(
        labelled.latents,
        labelled.scores,
        method=method,
        generator_name=generator.name,
        labelled_by=PACKAGED_AGE_LABELLER,
    )
    stats = direction.fit_stats
    console.print(
        f"fitted {method} direction on {samples} samples: median estimated age "
        f"{float(np.median(labelled.scores)):.1f}, held-out correlation "
        f"{stats['holdout_correlation']:.2f}",
        highlight=False,
    )
    if measure > 0:
        distance = packaged_identity_distance() if identity else None
        _print_measured(console, measure_direction(direction, generator, ages, distance, count=measure))
    direction.save(out)
    say(out, "green", label="wrote ")


@latent_app.command("edit")
def edit_command(
    direction: str = typer.Option(
        ..., "--direction", help="Direction folder ('latent fit-direction') or 'age' (fitted once, cached)."
    ),
    out: Path = typer.Option(Path("age.mp4"), "--out", help="Video to write (.mp4 or .gif)."),
    strength: str = typer.Option("-2..2", help="Strength range START..STOP (standard deviations)."),
    frames: int = typer.Option(48, help="Number of video frames."),
    count: int = typer.Option(4, help="Faces side by side."),
    seed: int = typer.Option(0, help="Seed of the sampled faces."),
    fps: float = typer.Option(12.0, help="Frames per second."),
    upscale: int = typer.Option(4, help="Enlarge each 64 px face this many times in the video."),
    gif: bool = typer.Option(True, "--gif/--no-gif", help="Also write a GIF beside an MP4."),
    generator_spec: str = typer.Option("dcgan", "--generator", help=GENERATOR_HELP),
    space: str = typer.Option("w", "--space", help=SPACE_HELP),
) -> None:
    """Render sampled faces moving along a direction: video, GIF and contact sheet."""
    import torch

    from ..latent import parse_strength_range, write_edit_outputs
    from ..latent.edit import edit_output_paths
    from ..latent.sources import resolve_direction
    from ..outputs import OutputPlan

    folder = Path(direction)
    plan = (
        OutputPlan(path for path in folder.glob("*") if path.is_file()) if folder.is_dir() else OutputPlan()
    )
    for path in edit_output_paths(out, gif):
        plan.file(path, "--out")
    _limit_threads()
    generator = _generator(generator_spec, space)
    loaded = resolve_direction(direction, generator)
    latents = generator.sample_latents(count, torch.Generator().manual_seed(seed))
    outputs = write_edit_outputs(
        generator, loaded, latents, out, parse_strength_range(strength), frames, fps, upscale, gif
    )
    width, height = outputs.frame_size
    say(f"{outputs.video} ({outputs.num_frames} frames, {width}x{height})", "green", label="wrote ")
    if outputs.gif:
        say(outputs.gif, "green", label="wrote ")
    say(outputs.contact_sheet, "green", label="wrote ")


@latent_app.command("project")
def project_command(
    photo: Path = typer.Argument(..., help="Photo with a face (or an aligned face crop)."),
    out: Path = typer.Option(..., "--out", help="Folder for the crop, reconstruction, edits and report."),
    direction: str = typer.Option(
        None, "--direction", help="Direction folder or 'age': also edit and paste back."
    ),
    strengths: str = typer.Option("-2,-1,1,2", help="Comma-separated edit strengths."),
    steps: int = typer.Option(200, help="Optimisation steps."),
    restarts: int = typer.Option(4, help="Random starting latents (the best one is kept)."),
    feature_loss: bool = typer.Option(
        True, "--feature-loss/--no-feature-loss", help="Add the packaged age network's features to the loss."
    ),
    video_frames: int = typer.Option(0, help="Also write a progression video with this many frames."),
    generator_spec: str = typer.Option("dcgan", "--generator", help=GENERATOR_HELP),
    space: str = typer.Option("w", "--space", help=SPACE_HELP),
) -> None:
    """Project a photo's face into the generator's latent space; with a direction, edit it and paste back."""
    from ..errors import ConfigError
    from ..latent import ProjectionConfig
    from ..latent.photo import edit_photo
    from ..latent.projection import packaged_age_features
    from ..latent.sources import resolve_direction

    check_folder_writable(out, "--out")
    refuse_inputs_inside(out, [photo])
    _limit_threads()
    try:
        values = tuple(float(v) for v in strengths.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"--strengths {strengths!r} must be comma-separated numbers, e.g. -2,-1,1,2"
        ) from None
    generator = _generator(generator_spec, space)
    report = edit_photo(
        photo,
        generator,
        out,
        resolve_direction(direction, generator) if direction else None,
        values or (1.0,),
        ProjectionConfig(steps=steps, restarts=restarts),
        packaged_age_features() if feature_loss else None,
        video_frames,
    )
    console = Console(stderr=True)
    found = "aligned on the detected face" if report.face_found else "no face found: used a centred crop"
    console.print(
        f"{found}; reconstruction PSNR {report.psnr:.1f} dB (loss {report.initial_loss:.3f} → "
        f"{report.final_loss:.3f})",
        highlight=False,
    )
    say(f"{len(report.files)} files to {out}", "green", label="wrote ")


@latent_app.command("direction-from-photos")
def direction_from_photos_command(
    old: list[Path] = typer.Option(..., "--old", help="Photos (or folders) with more of the attribute."),
    young: list[Path] = typer.Option(..., "--young", help="Photos (or folders) with less of it."),
    out: Path = typer.Option(..., "--out", help="Folder to write the direction to."),
    steps: int = typer.Option(200, help="Projection steps per photo."),
    attribute: str = typer.Option("age", help="What the direction changes (recorded)."),
    generator_spec: str = typer.Option("dcgan", "--generator", help=GENERATOR_HELP),
    space: str = typer.Option("w", "--space", help=SPACE_HELP),
) -> None:
    """Project both photo sets and save mean(old latents) - mean(young latents) as a direction."""
    from ..latent import ProjectionConfig
    from ..latent.sources import direction_from_photos
    from .faces import _collect_photos  # files as given, folders expanded, missing paths refused

    positive, negative = _collect_photos(old, out), _collect_photos(young, out)
    check_folder_writable(out, "--out")
    refuse_inputs_inside(out, [*positive, *negative])
    _limit_threads()
    generator = _generator(generator_spec, space)
    found = direction_from_photos(
        generator, positive, negative, ProjectionConfig(steps=steps), attribute=attribute
    )
    found.direction.save(out)
    mean = {name: sum(values) / len(values) for name, values in found.psnr.items()}
    say(
        f"{out} ({len(positive)} --old, {len(negative)} --young photos; mean projection PSNR "
        f"{mean['positive']:.1f} / {mean['negative']:.1f} dB; strength 1 = the whole difference)",
        "green",
        label="wrote ",
    )


@prepare_app.command("generated")
def prepare_generated_command(
    out: Path = typer.Option(..., "--out", help="Dataset folder to write (trainA/ trainB/ testA/ testB/ …)."),
    count: int = typer.Option(1000, help="Images per domain (train + test)."),
    young: str = typer.Option("18-29", help="Inclusive estimated-age range of domain A (young)."),
    old: str = typer.Option("50-80", help="Inclusive estimated-age range of domain B (old)."),
    direction: Path = typer.Option(
        None,
        "--direction",
        help="Age direction folder or 'age' (built in, fitted once per generator and cached); without one, "
        "one is fitted first (--fit-samples).",
    ),
    fit_samples: int = typer.Option(
        2000, help="Samples for the age direction when --direction is not given."
    ),
    test_fraction: float = typer.Option(0.1, help="Share of each domain held out for testing."),
    seed: int = typer.Option(0, help="Seed of the samples, the steering and the split."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
    generator_spec: str = typer.Option("dcgan", "--generator", help=GENERATOR_HELP),
    space: str = typer.Option("w", "--space", help=SPACE_HELP),
) -> None:
    """Make a young/old face dataset from a latent generator (the packaged DCGAN by default), steering samples
    along the age direction."""
    from ..data.manifest import parse_age_range
    from ..latent import (
        GeneratedDatasetConfig,
        fit_direction,
        label_latents,
        measure_direction,
        prepare_generated_dataset,
    )
    from ..latent.scoring import packaged_age_function
    from ..latent.sources import resolve_direction

    check_folder_writable(out, "--out")
    model = None if generator_spec == "dcgan" else Path(generator_spec)
    inputs = [path for path in (direction, model) if path is not None and path.is_dir()]
    refuse_same_folder(out, inputs, nested=True)  # --overwrite must never replace the model or direction
    _limit_threads()
    console = Console(stderr=True)
    generator = _generator(generator_spec, space)
    ages = packaged_age_function()
    if (
        direction is not None
    ):  # a folder, or the built-in name ``age`` (fitted once for this generator, cached)
        age_direction = resolve_direction(direction, generator)
    else:
        labelled = label_latents(generator, ages, fit_samples, seed=seed + 1_000_003)
        age_direction = fit_direction(labelled.latents, labelled.scores, generator_name=generator.name)
        measure_direction(age_direction, generator, ages, count=min(500, fit_samples), strengths=(1.0, 2.0))
        console.print(
            f"fitted an age direction on {fit_samples} samples (not counted below)", highlight=False
        )
    config = GeneratedDatasetConfig(
        count=count,
        young=parse_age_range(young, "--young"),
        old=parse_age_range(old, "--old"),
        test_fraction=test_fraction,
        seed=seed,
    )
    report = prepare_generated_dataset(out, generator, ages, age_direction, config, overwrite)
    say(
        f"{report.root}: {report.counts}; cost {report.raw_samples} raw samples, "
        f"{report.renders_scored} renders scored; old faces kept raw {report.kept_raw['B']}, steered "
        f"{report.kept_steered['B']}; {report.duplicates_dropped} near-duplicates dropped",
        "green",
        label="wrote ",
    )
