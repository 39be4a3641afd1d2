"""The training loop for every model family: phases per step, a numbered run directory, checkpoints, clean stops.

``train(config, data, runs_dir)`` runs (or resumes) a run and returns its folder. The family (found in the
registry by ``config.family``) brings its networks, data kind and phases; a step is
1. each of the family's phases due at this step, in order: its loss, then an optimiser step of its group
   (only that group's parameters get gradients);
2. the family's end-of-step hook (EMA, adaptive augmentation);
3. every learning-rate schedule advances.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..config import to_dict
from ..device import resolve_device
from ..errors import AgeshiftError, ConfigError, DataError
from ..models.family import Batch, StepContext, check_model_size
from ..registry import get_family
from .checkpoint import (
    checkpoint_path,
    clean_temporary_files,
    list_checkpoints,
    load_latest_checkpoint,
    save_checkpoint,
    use_latest_checkpoint,
)
from .config import TrainConfig, config_from_dict
from .data import DataSource, TrainingData, data_from_reference, open_training_data
from .distributed import (
    SINGLE,
    Distributed,
    agree_on_run,
    batch_layout,
    env_rank,
    family_generator,
    next_shard,
    setup_distributed,
    teardown_distributed,
)
from .divergence import FiniteWatch, diverged
from .phases import Precision, optimizer_step, resolve_precision
from .realism import REALISM_KEYS, RealismMeter, check_realism
from .rundir import (
    MetricsWriter,
    attach_log_file,
    create_run_dir,
    detach_log_file,
    latest_run,
    remove_tree,
    run_lock,
    write_run_files,
)
from .samples import write_progress_gif, write_sample_grid
from .state import (
    TrainingState,
    build_state,
    load_rank_state,
    load_state_dict,
    rank_seed,
    rank_state,
    seed_everything,
    state_dict,
    upgrade_checkpoint,
)
from .stopping import StopRequest, stop_on_signals

logger = logging.getLogger(__name__)


class TrainingInterrupted(AgeshiftError):
    """Training stopped early (a signal or a stop request) after writing a checkpoint to resume from."""

    def __init__(self, run_dir: Path, checkpoint: Path, step: int, reason: str) -> None:
        super().__init__(
            f"training stopped by {reason} at step {step}; checkpoint {checkpoint} written "
            f"(continue with: {resume_command(run_dir)})"
        )
        self.run_dir, self.checkpoint, self.step, self.reason = run_dir, checkpoint, step, reason


def resume_command(run_dir: Path) -> str:
    """The command line that continues ``run_dir`` (``--run`` names the run; ``--resume`` alone takes a flag)."""
    return f"ageshift train --resume --run {shlex.quote(str(run_dir))}"


def _target_sampler(data: TrainingData | None, state: TrainingState) -> Callable[[int], Batch] | None:
    """The step context's ``sample_targets``: draws from the data with the trainer's generator."""
    if data is None:
        return None

    def sample(count: int) -> Batch:
        targets = data.sample_targets(count, state.step_random)
        if targets is None:
            raise ConfigError(f"{data.kind} training data has no labels to sample target labels from")
        return targets

    return sample


def train_step(
    state: TrainingState,
    batch: Batch,
    config: TrainConfig,
    precision: Precision,
    device: torch.device,
    data: TrainingData | None = None,
    dist: Distributed = SINGLE,
) -> dict[str, torch.Tensor]:
    """One training step of any family on one batch; returns the detached loss terms.

    Args:
        state: the training state (updated in place: weights, optimisers, family state, schedules, step).
        batch: the data's batch, already on ``device``.
        config: the training config.
        precision: the resolved precision.
        device: the model's device.
        data: the training data (families that sample target labels draw from it).
        dist: the processes training together (their gradients are averaged before each optimiser step).

    Returns:
        Loss terms by name, detached scalars.
    """
    model = state.model
    context = StepContext(
        device=device,
        autocast=lambda: precision.autocast(device),
        random=state.step_random,
        step=state.step,
        total_steps=config.total_steps,
        sample_targets=_target_sampler(data, state),
    )
    groups = model.optimizer_groups()
    terms: dict[str, torch.Tensor] = {}
    carry: dict = {}
    state.phase_losses = []
    for phase in model.phases():
        if state.step % phase.every:
            continue
        # A phase's loss may flow through other networks, but only its own group may get gradients.
        for name, parameters in groups.items():
            for parameter in parameters:
                parameter.requires_grad_(name == phase.optimizer)
        output = model.run_phase(phase, batch, carry, context)
        reduce = dist.average_gradients if dist.enabled else None
        optimizer_step(output.loss, state.optimizers[phase.optimizer], state.scalers[phase.optimizer], reduce)
        state.phase_losses.append(output.loss.detach())
        carry.update(output.carry)
        terms.update(output.terms)
    for parameters in groups.values():
        for parameter in parameters:
            parameter.requires_grad_(True)
    model.end_step(context)
    for scheduler in state.schedulers.values():
        scheduler.step()
    state.step += 1
    return terms


@dataclass
class _Run:
    """What the loop needs besides the training state (kept together so helpers stay small)."""

    run_dir: Path
    config: TrainConfig
    data: DataSource
    device: torch.device
    precision: Precision
    dataset: TrainingData
    state: TrainingState
    metrics: MetricsWriter | None
    size: int
    samples: Batch | None = None
    dist: Distributed = SINGLE
    realism: RealismMeter | None = None  # FID/KID every ``metrics_every`` steps (main process only)


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
    """Train a model of any registered family, or resume a run, and return its run folder.

    Args:
        config: the training config (on resume: defaults to the one saved in the checkpoint).
        data: ``DATA`` as the family's data kind needs it (unpaired: ``trainA/``, ``trainB/``, or a
            ``(folder_a, folder_b)`` pair; labelled: ``manifest.csv`` with labels); ``test*`` folders feed the
            sample grids. On resume: defaults to the run's data.
        runs_dir: parent of the numbered run folders.
        resume: ``True`` for the newest run in ``runs_dir``, or a run folder; continues from its newest
            loadable checkpoint.
        name: label of a new run folder (default ``<family>-<model preset>``).
        quiet: no progress bars.
        should_stop: called with the step count after each step; ``True`` stops like a signal would.
        handle_signals: turn SIGINT/SIGTERM into a checkpoint and a clean stop.
        tensorboard: also log to TensorBoard when it is installed.

    Returns:
        The run folder ``runs_dir/NNN-name``.

    Raises:
        TrainingInterrupted: after a signal or stop request, once the checkpoint is written.
    """
    with contextlib.ExitStack() as held:
        run_dir, checkpoint, config, data = _resolve_run(
            config, data, runs_dir, resume, held, env_rank() == 0
        )
        family = get_family(config.family)
        dist, device = setup_distributed(resolve_device(config.device))
        held.callback(teardown_distributed, dist)
        if dist.enabled:
            run_dir, checkpoint = agree_on_run(dist, run_dir, checkpoint, config)
        precision = resolve_precision(config.precision, device)
        # Stored resolved, so resuming from another working folder finds the same data.
        data = _resolved(data)
        size = config.stage_at(int(checkpoint[1]["step"]) if checkpoint else 0)[1].size
        dataset = open_training_data(family.data_kind, data, size, config.seed, config, progress=not quiet)
        if checkpoint is not None and "model_config" in checkpoint[1]:
            model_config = family.config_from_dict(checkpoint[1]["model_config"])
        else:
            model_config = family.adapt_to_data(config.model_config(), dataset.describe())
        check_model_size(family, model_config, "model")  # the data's labels can widen a conditional model
        created = run_dir is None
        if run_dir is None:
            if dist.is_main:
                run_dir = create_run_dir(runs_dir, name or f"{config.family}-{config.model_preset}")
                held.enter_context(run_lock(run_dir))
            run_dir = dist.broadcast_object(run_dir)
        assert run_dir is not None
        try:
            setup = _Setup(run_dir, config, data, device, precision, dataset, model_config, size, dist)
            _train_run(setup, checkpoint, quiet, should_stop, handle_signals, tensorboard)
        except BaseException:
            # A start that never wrote a checkpoint leaves nothing to resume: no empty folder for --resume.
            if created and dist.is_main and not list_checkpoints(run_dir):
                remove_tree(run_dir)
            raise
    return run_dir


@dataclass
class _Setup:
    """What :func:`train` resolved before the run's state is built."""

    run_dir: Path
    config: TrainConfig
    data: DataSource
    device: torch.device
    precision: Precision
    dataset: TrainingData
    model_config: Any
    size: int
    dist: Distributed = SINGLE


def _train_run(
    setup: _Setup,
    checkpoint: tuple[Path, dict] | None,
    quiet: bool,
    should_stop: Callable[[int], bool] | None,
    handle_signals: bool,
    tensorboard: bool,
) -> None:
    run_dir, config, dataset, device = setup.run_dir, setup.config, setup.dataset, setup.device
    dist = setup.dist
    log_handler: logging.Handler | None = None
    if dist.is_main:  # only rank 0 writes the run folder
        # On resume too: a config changed with --set is what the run continues with, so record it.
        write_run_files(run_dir, to_dict(config), None if isinstance(setup.data, tuple) else Path(setup.data))
        log_handler = attach_log_file(run_dir)
    metrics: MetricsWriter | None = None
    try:
        state = build_state(config, device, setup.precision, setup.model_config)
        state.extra = {"data": dataset.describe(), "run": run_dir.name}
        check_realism(config, state.model)
        if dist.enabled:
            state.family_random = family_generator(config.seed, dist.rank)
            state.extra["distributed"] = batch_layout(config, dist)
            if dist.rank:  # weights come from the shared seed; dropout and the like draw per rank
                seed_everything(rank_seed(config.seed, dist.rank, 0))
        if checkpoint is not None:

            def restore(path: Path, saved: dict) -> None:
                load_state_dict(state, saved, device)
                if dist.enabled:
                    load_rank_state(state, saved, dist.rank, config.seed, device)
                dataset.load_state_dict(saved["data_position"])

            # A checkpoint that reads but does not fit falls back to the one before, as an unreadable one does.
            use_latest_checkpoint(run_dir, restore, preloaded=checkpoint)
        dist.broadcast_parameters(state.model)
        if dist.is_main:
            metrics = MetricsWriter(
                run_dir,
                tensorboard,
                resume_step=state.step if checkpoint else None,
                extra_columns=REALISM_KEYS if config.metrics_every else (),
            )
        if config.compile:
            for module in state.model.children():
                module.compile()
        run = _Run(run_dir, config, setup.data, device, setup.precision, dataset, state, metrics, setup.size)
        run.dist = dist
        if config.metrics_every and dist.is_main:
            run.realism = RealismMeter(config, device)
        _log_start(run, resumed=checkpoint is not None)
        with stop_on_signals(handle_signals) as stop:
            _loop(run, stop, should_stop, quiet)
        logger.info("finished %d steps; run folder %s", config.total_steps, run_dir)
    finally:
        if metrics is not None:
            metrics.close()
        if log_handler is not None:
            detach_log_file(log_handler)


def _resolved(data: DataSource) -> DataSource:
    if isinstance(data, tuple):
        return (Path(data[0]).resolve(), Path(data[1]).resolve())
    return Path(data).resolve()


def _resolve_run(
    config: TrainConfig | None,
    data: DataSource | None,
    runs_dir: str | Path,
    resume: bool | str | Path,
    held: contextlib.ExitStack,
    main: bool = True,
) -> tuple[Path | None, tuple[Path, dict] | None, TrainConfig, DataSource]:
    """(existing run folder or None, its newest checkpoint or None, config, data) for a new or resumed run.

    A resumed run is locked (``held`` releases it) before anything of it is read or cleaned; only the main
    process (rank 0) locks and cleans, the others only read.
    """
    if not resume:
        if config is None or data is None:
            raise ConfigError("train needs a config and data (or resume=True / a run folder to continue)")
        return None, None, config, data
    run_dir = latest_run(runs_dir) if resume is True else Path(resume)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run folder to resume does not exist")
    if main:
        held.enter_context(run_lock(run_dir))
        clean_temporary_files(run_dir)
    path, checkpoint = load_latest_checkpoint(run_dir)
    checkpoint = upgrade_checkpoint(checkpoint)
    config = config or config_from_dict(checkpoint["config"])
    if config.family != checkpoint.get("family"):
        raise ConfigError(
            f"{run_dir}: the run trains a {checkpoint.get('family')} model; it cannot continue as {config.family}"
        )
    if data is None and not isinstance(checkpoint.get("data"), dict):
        raise DataError(f"{path}: the checkpoint does not record the run's data; give it with --data")
    data = data or data_from_reference(checkpoint["data"])
    return run_dir, (path, checkpoint), config, data


def _log_start(run: _Run, resumed: bool) -> None:
    counts = ", ".join(
        f"{count}" if name == "images" else f"{count} {name}" for name, count in run.dataset.counts().items()
    )
    verb = f"resuming at step {run.state.step}" if resumed else "starting"
    logger.info(
        "%s %s (%s): %s images, %d steps on %s, precision %s",
        verb, run.run_dir.name, run.config.family, counts, run.config.total_steps, run.device, run.precision.name,
    )  # fmt: skip
    if run.dist.enabled:
        layout = batch_layout(run.config, run.dist)
        logger.info(
            "distributed: %d processes (%s); batch per stage global %s = per process %s",
            layout["world_size"], layout["backend"], layout["global_batch_sizes"], layout["per_process_batch_sizes"],
        )  # fmt: skip
    for skipped in run.dataset.skipped:
        logger.warning("skipped unreadable image: %s", skipped.reason)
    if run.dataset.skipped:
        logger.warning("%d unreadable image(s) skipped", len(run.dataset.skipped))


@dataclass
class _Interval:
    """Running sums between two metric rows."""

    sums: dict[str, torch.Tensor]
    #: steps that logged each term (phases that run every N steps log less often).
    counts: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    images: int = 0
    start: float = 0.0
    #: seconds the loop waited for batches (loading and the copy to the device).
    data_wait: float = 0.0


def _loop(run: _Run, stop: StopRequest, should_stop: Callable[[int], bool] | None, quiet: bool) -> None:
    config, state = run.config, run.state
    total = config.total_steps
    dist = run.dist
    progress = tqdm(
        total=total,
        initial=state.step,
        desc=run.run_dir.name,
        disable=quiet or not dist.is_main,
        dynamic_ncols=True,
    )
    # Pinned host memory lets the copy to a GPU run while the loop goes on.
    pin = run.device.type == "cuda"
    interval = _Interval({}, start=time.perf_counter())
    watch = FiniteWatch(state.step + 1)
    with progress:
        while state.step < total:
            stage_index, stage = config.stage_at(state.step)
            if stage.size != run.size:
                _enter_stage(run, stage_index)
            waiting = time.perf_counter()
            batch = next_shard(run.dataset, stage.batch_size, state.random, config.flip_probability, dist)
            batch = {
                name: (value.pin_memory() if pin else value).to(run.device, non_blocking=pin)
                for name, value in batch.items()
            }
            interval.data_wait += time.perf_counter() - waiting
            terms = train_step(state, batch, config, run.precision, run.device, run.dataset, dist)
            watch.record([*state.phase_losses, *terms.values()])
            for key, value in terms.items():
                interval.sums[key] = interval.sums.get(key, 0.0) + value
                interval.counts[key] = interval.counts.get(key, 0) + 1
            images = sum(value.shape[0] for value in batch.values() if value.ndim == 4)
            interval.steps, interval.images = interval.steps + 1, interval.images + images
            progress.update(1)
            step = state.step
            measuring = bool(config.metrics_every) and (step % config.metrics_every == 0 or step == total)
            logging_now = step % config.log_every == 0 or step == total or measuring
            saved = step % config.checkpoint_every == 0 or step == total
            if logging_now or saved or run.device.type == "cpu":  # a CPU check costs no GPU synchronisation
                _check_finite(run, watch, interval)
            if logging_now:
                realism: dict[str, float] = {}
                if measuring and run.realism is not None:
                    began = time.perf_counter()
                    realism = run.realism.measure(state.model, run.dataset, stage.size)
                    interval.start += time.perf_counter() - began  # not training time
                values = _write_metrics(run, interval, stage.size, realism)
                shown: dict[str, str] = {
                    key: f"{values[key]:.3f}" for key in ("g_total", "d_total", "fid") if key in values
                }
                progress.set_postfix(shown, refresh=False)
                interval = _Interval({}, start=time.perf_counter())
            if dist.is_main and (step % config.sample_every == 0 or step == total):
                _write_samples(run, step)
            if saved:
                _checkpoint(run, stop, watch, interval)
            reason = stop.reason or (
                "stop request" if should_stop is not None and should_stop(step) else None
            )
            if dist.enabled and dist.any(reason is not None):  # every process stops at the same step
                reason = reason or "a stop on another process"
            if reason is not None and step < total:
                if interval.steps:  # the steps since the last row would otherwise never be logged
                    _write_metrics(run, interval, stage.size)
                path = (
                    checkpoint_path(run.run_dir, step) if saved else _checkpoint(run, stop, watch, interval)
                )
                raise TrainingInterrupted(run.run_dir, path, step, reason)


def _write_metrics(
    run: _Run, interval: _Interval, size: int, measured: dict[str, float] | None = None
) -> dict[str, float]:
    elapsed = max(time.perf_counter() - interval.start, 1e-9)
    values = {key: float(value) / interval.counts[key] for key, value in interval.sums.items()}
    images, wait = float(interval.images), interval.data_wait
    dist = run.dist
    if dist.enabled:  # losses of the global batch: the mean of the processes' means
        keys = sorted(values)
        sums = dist.reduce_floats([values[key] for key in keys] + [images, wait])
        values.update({key: total / dist.world_size for key, total in zip(keys, sums, strict=False)})
        images, slowest = sums[-2], dist.reduce_floats([wait], "max")[0]
        wait = sums[-1] / dist.world_size
    values.update(
        lr=next(iter(run.state.optimizers.values())).param_groups[0]["lr"],
        images_per_second=images / elapsed,
        steps_per_second=interval.steps / elapsed,
        size=float(size),
        data_wait_ms=1000 * wait / max(interval.steps, 1),
    )
    if dist.enabled:
        values["data_wait_max_ms"] = 1000 * slowest / max(interval.steps, 1)
    values.update(measured or {})
    if run.metrics is not None:
        run.metrics.write(run.state.step, values)
    return values


def _enter_stage(run: _Run, stage_index: int) -> None:
    stage = run.config.stages[stage_index]
    logger.info("stage %d: %d² images, batch size %d", stage_index + 1, stage.size, stage.batch_size)
    if run.dist.enabled:
        per_process = run.dist.local_batch(stage.batch_size)
        logger.info(
            "  global batch %d = %d per process × %d", stage.batch_size, per_process, run.dist.world_size
        )
    run.dataset.set_size(stage.size)
    run.size, run.samples = stage.size, None


def _write_samples(run: _Run, step: int) -> None:
    if run.samples is None:
        run.samples = run.dataset.samples(run.config.sample_count)
    assert run.metrics is not None
    model = run.state.model
    was_training = model.training
    model.eval()
    try:
        grid = model.sample_grid({name: value.to(run.device) for name, value in run.samples.items()})
    finally:
        model.train(was_training)
    image = write_sample_grid(grid, run.run_dir / "samples" / f"step-{step:07d}.png")
    write_progress_gif(run.run_dir)
    run.metrics.add_image("samples", image, step)


def _check_finite(run: _Run, watch: FiniteWatch, interval: _Interval) -> None:
    """Raise :class:`TrainingDiverged` if a step since the last check had a non-finite loss."""
    step = watch.first_bad_step()
    if run.dist.enabled and run.dist.any(step is not None):
        step = int(run.dist.reduce_floats([float(step if step is not None else math.inf)], "min")[0])
    if step is not None:
        terms = [key for key, value in interval.sums.items() if not math.isfinite(float(value))]
        raise diverged(run.run_dir, step, terms, run.config, run.state.model_config, run.precision.name)


def _checkpoint(run: _Run, stop: StopRequest, watch: FiniteWatch, interval: _Interval) -> Path:
    """Write the checkpoint of the current step: never of non-finite weights, never cut short by Ctrl-C."""
    _check_finite(run, watch, interval)
    broken = [
        name
        for name, tensor in run.state.model.state_dict().items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if broken:
        config, state = run.config, run.state
        raise diverged(
            run.run_dir, state.step, [f"weights {broken[0]}"], config, state.model_config, run.precision.name
        )
    ranks = run.dist.gather_to_main(rank_state(run.state)) if run.dist.enabled else None
    if not run.dist.is_main:
        return checkpoint_path(run.run_dir, run.state.step)
    payload = state_dict(run.state, run.config, run.dataset.state_dict(), ranks)
    with stop.finishing_writes():
        path = save_checkpoint(run.run_dir, run.state.step, payload, run.config.keep_checkpoints)
    logger.info("checkpoint %s", path)
    return path
