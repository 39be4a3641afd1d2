"""ageshift CLI: ``train`` (a run of any model family, resumable) and ``export`` (a run → a model folder)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from ..errors import AgeshiftError, ConfigError
from ._app import app
from ._console import say


class _TqdmWarnings(logging.Handler):
    """Prints warnings above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        tqdm.write(f"warning: {record.getMessage()}")


def _resolve_config(
    preset: str,
    config_file: Path | None,
    overrides: list[str],
    resume_run: Path | None,
    family: str,
):
    """The config to train with: preset/file/overrides for a new run; the run's saved one (+ overrides) on resume."""
    from ..config import load_yaml, merge, parse_overrides
    from ..training.config import config_from_dict, train_config

    if resume_run is None:
        return train_config(preset, config_file, overrides, family=family)
    if config_file is None and not overrides:
        return None  # the checkpoint's own config
    saved = load_yaml(resume_run / "config.yaml")
    if config_file is not None:
        saved = merge(saved, load_yaml(config_file))
    return config_from_dict(merge(saved, parse_overrides(overrides)))


@app.command("train")
def train_command(
    data: Path | None = typer.Option(
        None,
        "--data",
        help="DATA folder: trainA/ and trainB/ for two-domain families, manifest.csv labels for conditional ones.",
    ),
    family: str = typer.Option(
        "cyclegan", "--family", "-f", help="Model family (`ageshift models` lists them): cyclegan, stargan, …"
    ),
    out: Path = typer.Option(Path("runs"), "--out", help="Folder of numbered runs (RUNS/NNN-name)."),
    preset: str = typer.Option(
        "fast", "--preset", help="The family's training preset: fast (minutes on a CPU) or paper (a GPU)."
    ),
    config_file: Path | None = typer.Option(None, "--config", help="YAML file with training config keys."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config key, e.g. --set log_every=10 --set model.generator.channels=32."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the newest run in --out (or --run RUN) from its newest checkpoint."
    ),
    run: Path | None = typer.Option(None, "--run", help="The run folder to continue (implies --resume)."),
    name: str | None = typer.Option(None, "--name", help="Label of the new run folder."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    precision: str | None = typer.Option(None, "--precision", help="auto, fp32, bf16 or fp16."),
    folder_a: Path | None = typer.Option(
        None, "--folder-a", help="Domain A (young) folder, instead of --data."
    ),
    folder_b: Path | None = typer.Option(
        None, "--folder-b", help="Domain B (old) folder, instead of --data."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    devices: int = typer.Option(
        1,
        "--devices",
        min=1,
        help="Data-parallel processes on this machine (one per GPU; CPU processes without one), launched "
        "through torchrun. A stage's batch_size is the global batch, split over them.",
    ),
) -> None:
    """Train a model of any family. Ctrl-C or SIGTERM saves a checkpoint; --resume continues it."""
    if devices > 1:
        arguments = _train_arguments(locals())
        if not resume and run is None:  # a bad config or batch is one line here, not one per process
            from ..training.distributed import Distributed

            extra = [*overrides, *([f"device={device}"] if device else [])]
            for stage in _resolve_config(preset, config_file, extra, None, family).stages:
                Distributed(world_size=devices).local_batch(stage.batch_size)
        raise typer.Exit(_launch_torchrun(devices, arguments, device))
    from ..outputs import OutputPlan, refuse_same_folder
    from ..training import TrainingInterrupted, train
    from ..training.rundir import latest_run

    OutputPlan().folder(out, "--out")
    if run is not None:
        OutputPlan().folder(run, "--run")
    if (folder_a is None) != (folder_b is None):
        raise ConfigError("give both --folder-a and --folder-b (or --data)")
    source: tuple[Path, Path] | Path | None = data
    if folder_a is not None and folder_b is not None:
        source = (folder_a, folder_b)
    resume_run = run if run is not None else (latest_run(out) if resume else None)
    if resume_run is None and source is None:
        raise ConfigError("--data DATA (or --folder-a and --folder-b) is required to start a run")
    # Runs are new numbered folders, so only --out being the data folder itself could mix the two.
    refuse_same_folder(out, [path for path in (data, folder_a, folder_b) if path is not None])
    extra = [*overrides]
    extra += [f"device={device}"] if device else []
    extra += [f"precision={precision}"] if precision else []
    config = _resolve_config(preset, config_file, extra, resume_run, family)
    handler = _TqdmWarnings(logging.WARNING)
    logging.getLogger("ageshift").addHandler(handler)
    try:
        run_dir = train(config, source, out, resume=resume_run or False, name=name, quiet=quiet)
    except TrainingInterrupted as stopped:
        say(stopped, "yellow")
        code = {"SIGINT": 130, "SIGTERM": 143}.get(stopped.reason, 1)
        raise typer.Exit(code) from None
    finally:
        logging.getLogger("ageshift").removeHandler(handler)
    from ..training.distributed import env_rank

    if env_rank() == 0:  # under torchrun every process returns here; one line is enough
        say(f"run folder: {run_dir} (export it with: ageshift export {run_dir} --out MODEL)")


def _train_arguments(options: dict) -> list[str]:
    """The ``ageshift train`` arguments that repeat ``options`` (the parsed options, without ``--devices``)."""
    arguments = ["train"]
    valued = [
        ("data", "--data"), ("family", "--family"), ("out", "--out"), ("preset", "--preset"),
        ("config_file", "--config"), ("run", "--run"), ("name", "--name"), ("device", "--device"),
        ("precision", "--precision"), ("folder_a", "--folder-a"), ("folder_b", "--folder-b"),
    ]  # fmt: skip
    for key, flag in valued:
        if options[key] is not None:
            arguments += [flag, str(options[key])]
    for override in options["overrides"]:
        arguments += ["--set", override]
    arguments += ["--resume"] if options["resume"] else []
    arguments += ["--quiet"] if options["quiet"] else []
    return arguments


def _launch_torchrun(devices: int, arguments: list[str], device: str | None) -> int:
    """Run ``ageshift`` with ``arguments`` on ``devices`` processes via ``torch.distributed.run``; its exit code."""
    import signal
    import subprocess

    import torch

    from ..training.distributed import launched_by_torchrun, torchrun_command

    if launched_by_torchrun():
        raise ConfigError("--devices cannot be used inside torchrun (torchrun already starts the processes)")
    wants_cuda = device is None or device in ("auto", "cuda") or device.startswith("cuda")
    if wants_cuda and torch.cuda.is_available() and devices > torch.cuda.device_count():
        raise ConfigError(
            f"--devices {devices}: this machine has {torch.cuda.device_count()} GPU(s); use at most that many"
        )
    command = torchrun_command(devices, arguments)
    say(f"launching {devices} processes: {' '.join(command)}")
    launcher = subprocess.Popen(command)

    def forward(number: int, _frame: object) -> None:
        # torchrun turns it into SIGTERM for every process, which each answers with a checkpoint and a stop.
        launcher.send_signal(number)

    previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        return launcher.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@app.command("export")
def export_command(
    run: Path = typer.Argument(..., metavar="RUN", help="A run folder written by `ageshift train`."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (config.json + model.safetensors)."),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="A checkpoint file of the run (default: the newest)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the files of an existing model folder."
    ),
    onnx: bool = typer.Option(
        False, "--onnx", help="Also write ONNX graphs for `--backend onnxruntime` (docs/onnx.md)."
    ),
) -> None:
    """Export a training run's generators as a model for `ageshift translate` and `ageshift.load`."""
    from ..outputs import OutputPlan, refuse_same_folder
    from ..pretrained import CONFIG_FILE, WEIGHTS_FILE
    from ..training import export_run

    if not run.is_dir():
        raise AgeshiftError(f"{run}: run folder does not exist")
    plan = OutputPlan([checkpoint] if checkpoint is not None else [])
    plan.folder(out, "--out")
    refuse_same_folder(out, [run])
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise AgeshiftError(
            f"{out}: folder exists and is not empty (use --overwrite to replace its model files)"
        )
    for file_name in (CONFIG_FILE, WEIGHTS_FILE):
        plan.claim(out / file_name, option="--out")
    translator = export_run(run, out, checkpoint)
    steps = translator.metadata["training"]["steps"]
    say(f"exported {run} (step {steps}, {translator.image_size}²) to {out}")
    if onnx:
        from .onnx import write_onnx

        write_onnx(translator, out)
