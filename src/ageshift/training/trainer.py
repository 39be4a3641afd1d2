"""The CycleGAN training loop: phases per step, a numbered run directory, checkpoints and clean stops.

``train(config, data, runs_dir)`` runs (or resumes) a run and returns its folder. A step is
1. the generator phase (both directions: adversarial + cycle + identity) and its optimiser step;
2. the image pools swap the fresh fakes with older ones;
3. the discriminator phase on real batches and pooled fakes and its optimiser step;
4. both learning-rate schedules advance.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import to_dict
from ..data import UnpairedFolders, flip_horizontally, random_flip_mask
from ..errors import AgeshiftError, ConfigError, DataError
from ..models.translator import resolve_device
from .checkpoint import checkpoint_path, load_latest_checkpoint, save_checkpoint
from .config import TrainConfig, config_from_dict
from .phases import (
    Precision,
    discriminator_phase,
    generator_phase,
    optimizer_step,
    resolve_precision,
)
from .rundir import (
    MetricsWriter,
    attach_log_file,
    create_run_dir,
    detach_log_file,
    latest_run,
    write_run_files,
)
from .samples import sample_batches, translation_grid, write_sample_grid
from .state import TrainingState, build_state, load_state_dict, state_dict

logger = logging.getLogger(__name__)

DataSource = str | Path | tuple[str | Path, str | Path]


class TrainingInterrupted(AgeshiftError):
    """Training stopped early (a signal or a stop request) after writing a checkpoint to resume from."""

    def __init__(self, run_dir: Path, checkpoint: Path, step: int, reason: str) -> None:
        super().__init__(
            f"training stopped by {reason} at step {step}; checkpoint {checkpoint} written "
            f"(continue with: ageshift train --resume {run_dir})"
        )
        self.run_dir, self.checkpoint, self.step, self.reason = run_dir, checkpoint, step, reason


@dataclass
class _StopRequest:
    reason: str | None = None


@contextlib.contextmanager
def _stop_on_signals(enabled: bool) -> Iterator[_StopRequest]:
    """Turn SIGINT/SIGTERM into a stop request checked between steps; a second SIGINT stops at once."""
    request = _StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(number: int, _frame: object) -> None:
        name = signal.Signals(number).name
        if request.reason is not None and number == signal.SIGINT:
            raise KeyboardInterrupt
        request.reason = name
        logger.warning("%s received: saving a checkpoint after this step", name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _open_data(data: DataSource, config: TrainConfig, size: int, progress: bool) -> UnpairedFolders:
    options = {"cache_mb": config.cache_mb, "workers": config.data_workers, "progress": progress}
    if isinstance(data, tuple):
        return UnpairedFolders(data[0], data[1], size, **options)
    return UnpairedFolders.from_data_dir(data, size, **options)


def _data_reference(data: DataSource) -> dict[str, str]:
    if isinstance(data, tuple):
        return {"folder_a": str(data[0]), "folder_b": str(data[1])}
    return {"root": str(data)}


def _data_from_reference(reference: dict[str, str]) -> DataSource:
    if "root" in reference:
        return Path(reference["root"])
    return (Path(reference["folder_a"]), Path(reference["folder_b"]))


def _held_out_folders(data: DataSource) -> dict[str, Path | None]:
    if isinstance(data, tuple):
        return {"A": None, "B": None}
    return {"A": Path(data) / "testA", "B": Path(data) / "testB"}


def _next_batch(
    dataset: UnpairedFolders, domain: str, state: TrainingState, batch_size: int, flip_probability: float
) -> torch.Tensor:
    images = dataset.domains[domain].load(state.samplers[domain].next(batch_size))
    return flip_horizontally(images, random_flip_mask(batch_size, state.random, flip_probability))


def train_step(
    state: TrainingState,
    real_young: torch.Tensor,
    real_old: torch.Tensor,
    config: TrainConfig,
    precision: Precision,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """One CycleGAN step on a batch of each domain; returns the detached loss terms.

    Args:
        state: the training state (updated in place: weights, optimisers, pools, schedules, step).
        real_young: ``(B, 3, H, W)`` domain-A images in ``[-1, 1]`` on ``device``.
        real_old: ``(B, 3, H, W)`` domain-B images in ``[-1, 1]`` on ``device``.
        config: the training config.
        precision: the resolved precision.
        device: the model's device.

    Returns:
        Loss terms by name, detached scalars.
    """
    model, model_config = state.model, state.model.config
    # The generators' loss flows through the discriminators, but their weights must not get gradients.
    model.discriminators().requires_grad_(False)
    loss_g, terms_g, fake_old, fake_young = generator_phase(
        model, real_young, real_old, model_config, precision.autocast(device)
    )
    optimizer_step(loss_g, state.optimizer_g, state.scaler_g)
    model.discriminators().requires_grad_(True)
    pooled_old = state.pool_old.query(fake_old, state.random)
    pooled_young = state.pool_young.query(fake_young, state.random)
    loss_d, terms_d = discriminator_phase(
        model,
        real_young,
        real_old,
        pooled_young,
        pooled_old,
        model_config.gan_loss,
        precision.autocast(device),
    )
    optimizer_step(loss_d, state.optimizer_d, state.scaler_d)
    state.scheduler_g.step()
    state.scheduler_d.step()
    state.step += 1
    return {**terms_g, **terms_d}


@dataclass
class _Run:
    """What the loop needs besides the training state (kept together so helpers stay small)."""

    run_dir: Path
    config: TrainConfig
    data: DataSource
    device: torch.device
    precision: Precision
    dataset: UnpairedFolders
    state: TrainingState
    metrics: MetricsWriter
    size: int
    samples: dict[str, torch.Tensor] | None = None


def train(
    config: TrainConfig | None = None,
    data: DataSource | None = None,
    runs_dir: str | Path = "runs",
    *,
    resume: bool | str | Path = False,
    name: str | None = None,
    quiet: bool = False,
    should_stop: Callable[[int], bool] | None = None,
    handle_signals: bool = True,
    tensorboard: bool = True,
) -> Path:
    """Train a CycleGAN, or resume a run, and return its run folder.

    Args:
        config: the training config (on resume: defaults to the one saved in the checkpoint).
        data: ``DATA`` with ``trainA/`` and ``trainB/`` (``testA/``, ``testB/`` feed the sample grids),
            or a ``(folder_a, folder_b)`` pair. On resume: defaults to the run's data.
        runs_dir: parent of the numbered run folders.
        resume: ``True`` for the newest run in ``runs_dir``, or a run folder; continues from its newest
            loadable checkpoint.
        name: label of a new run folder (default ``cyclegan-<model preset>``).
        quiet: no progress bars.
        should_stop: called with the step count after each step; ``True`` stops like a signal would.
        handle_signals: turn SIGINT/SIGTERM into a checkpoint and a clean stop.
        tensorboard: also log to TensorBoard when it is installed.

    Returns:
        The run folder ``runs_dir/NNN-name``.

    Raises:
        TrainingInterrupted: after a signal or stop request, once the checkpoint is written.
    """
    run_dir, checkpoint, config, data = _resolve_run(config, data, runs_dir, resume)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    size = config.stage_at(int(checkpoint["step"]) if checkpoint else 0)[1].size
    dataset = _open_data(data, config, size, progress=not quiet)
    if run_dir is None:
        run_dir = create_run_dir(runs_dir, name or f"cyclegan-{config.model_preset}")
    # On resume too: a config changed with --set is what the run continues with, so record it.
    write_run_files(run_dir, to_dict(config), None if isinstance(data, tuple) else Path(data))
    log_handler = attach_log_file(run_dir)
    metrics = MetricsWriter(run_dir, tensorboard=tensorboard)
    try:
        state = build_state(config, device, precision, {k: len(v) for k, v in dataset.domains.items()})
        state.extra = {"data": _data_reference(data), "run": run_dir.name}
        if checkpoint is not None:
            load_state_dict(state, checkpoint, device)
        if config.compile:
            for module in (*state.model.generators().values(), *state.model.discriminators()):
                module.compile()
        run = _Run(run_dir, config, data, device, precision, dataset, state, metrics, size)
        _log_start(run, resumed=checkpoint is not None)
        with _stop_on_signals(handle_signals) as stop:
            _loop(run, stop, should_stop, quiet)
        logger.info("finished %d steps; run folder %s", config.total_steps, run_dir)
    finally:
        metrics.close()
        detach_log_file(log_handler)
    return run_dir


def _resolve_run(
    config: TrainConfig | None, data: DataSource | None, runs_dir: str | Path, resume: bool | str | Path
) -> tuple[Path | None, dict | None, TrainConfig, DataSource]:
    """(existing run folder or None, its checkpoint or None, config, data) for a new or resumed run."""
    if not resume:
        if config is None or data is None:
            raise ConfigError("train needs a config and data (or resume=True / a run folder to continue)")
        return None, None, config, data
    run_dir = latest_run(runs_dir) if resume is True else Path(resume)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run folder to resume does not exist")
    _, checkpoint = load_latest_checkpoint(run_dir)
    config = config or config_from_dict(checkpoint["config"])
    data = data or _data_from_reference(checkpoint["data"])
    return run_dir, checkpoint, config, data


def _log_start(run: _Run, resumed: bool) -> None:
    counts = {name: len(domain) for name, domain in run.dataset.domains.items()}
    verb = f"resuming at step {run.state.step}" if resumed else "starting"
    logger.info(
        "%s %s: %d+%d images (A+B), %d steps on %s, precision %s",
        verb, run.run_dir.name, counts["A"], counts["B"], run.config.total_steps, run.device, run.precision.name,
    )  # fmt: skip
    for skipped in run.dataset.skipped:
        logger.warning("skipped unreadable image: %s", skipped.reason)
    if run.dataset.skipped:
        logger.warning("%d unreadable image(s) skipped", len(run.dataset.skipped))


@dataclass
class _Interval:
    """Running sums between two metric rows."""

    sums: dict[str, torch.Tensor]
    steps: int = 0
    images: int = 0
    start: float = 0.0


def _loop(run: _Run, stop: _StopRequest, should_stop: Callable[[int], bool] | None, quiet: bool) -> None:
    config, state = run.config, run.state
    total = config.total_steps
    progress = tqdm(total=total, initial=state.step, desc=run.run_dir.name, disable=quiet, dynamic_ncols=True)
    interval = _Interval({}, start=time.perf_counter())
    with progress:
        while state.step < total:
            stage_index, stage = config.stage_at(state.step)
            if stage.size != run.size:
                _enter_stage(run, stage_index)
            real_young, real_old = (
                _next_batch(run.dataset, domain, state, stage.batch_size, config.flip_probability).to(
                    run.device
                )
                for domain in ("A", "B")
            )
            terms = train_step(state, real_young, real_old, config, run.precision, run.device)
            for key, value in terms.items():
                interval.sums[key] = interval.sums.get(key, 0.0) + value
            interval.steps, interval.images = interval.steps + 1, interval.images + 2 * stage.batch_size
            progress.update(1)
            step = state.step
            if step % config.log_every == 0 or step == total:
                values = _write_metrics(run, interval, stage.size)
                progress.set_postfix(
                    g=f"{values['g_total']:.3f}", d=f"{values['d_total']:.3f}", refresh=False
                )
                interval = _Interval({}, start=time.perf_counter())
            if step % config.sample_every == 0 or step == total:
                _write_samples(run, step)
            saved = step % config.checkpoint_every == 0 or step == total
            if saved:
                _checkpoint(run)
            reason = stop.reason or (
                "stop request" if should_stop is not None and should_stop(step) else None
            )
            if reason is not None and step < total:
                path = checkpoint_path(run.run_dir, step) if saved else _checkpoint(run)
                raise TrainingInterrupted(run.run_dir, path, step, reason)


def _write_metrics(run: _Run, interval: _Interval, size: int) -> dict[str, float]:
    elapsed = max(time.perf_counter() - interval.start, 1e-9)
    values = {key: float(value) / interval.steps for key, value in interval.sums.items()}
    values.update(
        lr=run.state.optimizer_g.param_groups[0]["lr"],
        images_per_second=interval.images / elapsed,
        steps_per_second=interval.steps / elapsed,
        size=float(size),
    )
    run.metrics.write(run.state.step, values)
    return values


def _enter_stage(run: _Run, stage_index: int) -> None:
    stage = run.config.stages[stage_index]
    logger.info("stage %d: %d² images, batch size %d", stage_index + 1, stage.size, stage.batch_size)
    run.dataset.set_size(stage.size)
    run.size, run.samples = stage.size, None


def _write_samples(run: _Run, step: int) -> None:
    if run.samples is None:
        run.samples = sample_batches(
            _held_out_folders(run.data), run.dataset.domains, run.config.sample_count, run.size
        )
    grid = translation_grid(run.state.model, run.samples["A"], run.samples["B"], run.device)
    image = write_sample_grid(grid, run.run_dir / "samples" / f"step-{step:07d}.png")
    run.metrics.add_image("samples", image, step)


def _checkpoint(run: _Run) -> Path:
    path = save_checkpoint(
        run.run_dir, run.state.step, state_dict(run.state, run.config), run.config.keep_checkpoints
    )
    logger.info("checkpoint %s", path)
    return path
