"""Data-parallel training across processes started by ``torchrun``: one :class:`Distributed` per process.

The trainer knows no family, so it does not wrap networks in ``DistributedDataParallel``; instead, after each
phase's backward it averages the gradients of that phase's optimiser group across processes (flattened into
buckets, one ``all_reduce`` per bucket), before the optimiser step. Every process starts from the same
weights (the same seed, then a broadcast from rank 0), takes the same averaged step and so keeps the same
weights. Batch semantics: a stage's ``batch_size`` is the *global* batch, split evenly over the processes.

Per-process state: each process has its own image pools / family state, its own generator for what the
family draws during a step, and its own global RNG states; checkpoints save them per rank.

Control messages (stop requests, finiteness, metric sums, data-wait times) go through a CPU ``gloo`` group so
they never synchronise the GPU.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import ConfigError

if TYPE_CHECKING:
    from .config import TrainConfig

#: Gradients are all-reduced in flat buckets of at most this many bytes (DDP's default is 25 MiB).
BUCKET_BYTES = 25 * 2**20


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes; every method is a no-op for a single process.

    Attributes:
        rank: global rank (0 writes the run folder).
        world_size: number of processes.
        local_rank: rank on this machine (picks the GPU).
        backend: ``nccl`` (CUDA) or ``gloo`` (CPU); empty for a single process.
        initialised_here: whether :func:`setup_distributed` started the process group (and so ends it).
        control: the CPU (gloo) group for control messages; None means the default group (already gloo).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""
    initialised_here: bool = False
    control: Any = None

    @property
    def enabled(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, samples, logs and metrics."""
        return self.rank == 0

    def local_batch(self, global_batch: int) -> int:
        """The per-process share of a stage's global ``batch_size``.

        Raises:
            ConfigError: ``global_batch`` does not divide by the number of processes.
        """
        if global_batch % self.world_size:
            raise ConfigError(
                f"batch_size {global_batch} does not divide over {self.world_size} processes; stages' "
                f"batch_size is the global batch: use a multiple of {self.world_size}"
            )
        return global_batch // self.world_size

    def shard(self, global_batch: int) -> slice | None:
        """The slice of a global batch this process trains on (None for a single process)."""
        if not self.enabled:
            return None
        local = self.local_batch(global_batch)
        return slice(self.rank * local, (self.rank + 1) * local)

    def broadcast_object(self, value: Any) -> Any:
        """Rank 0's ``value`` on every process."""
        if not self.enabled:
            return value
        holder = [value]
        torch.distributed.broadcast_object_list(holder, src=0, group=self.control)
        return holder[0]

    def gather_to_main(self, value: Any) -> list[Any] | None:
        """Every process's ``value`` by rank, on rank 0 (None on the others)."""
        if not self.enabled:
            return [value]
        gathered: list[Any] | None = [None] * self.world_size if self.is_main else None
        torch.distributed.gather_object(value, gathered, dst=0, group=self.control)
        return gathered

    def reduce_floats(self, values: list[float], op: str = "sum") -> list[float]:
        """``op`` (``sum``, ``max`` or ``min``) of ``values`` element-wise over processes (on the CPU, gloo)."""
        if not self.enabled or not values:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        ops = {"sum": torch.distributed.ReduceOp.SUM, "max": torch.distributed.ReduceOp.MAX}
        ops["min"] = torch.distributed.ReduceOp.MIN
        torch.distributed.all_reduce(tensor, op=ops[op], group=self.control)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any process."""
        return bool(self.reduce_floats([float(flag)], "max")[0]) if self.enabled else flag

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every process (they start equal from the seed anyway)."""
        if not self.enabled:
            return
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                torch.distributed.broadcast(tensor.data, src=0)

    def average_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """Average the gradients of ``optimizer``'s parameters over processes, in flat buckets."""
        if not self.enabled:
            return
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        bucket: list[torch.Tensor] = []
        size = 0
        for grad in grads:
            bucket.append(grad)
            size += grad.numel() * grad.element_size()
            if size >= BUCKET_BYTES:
                self._reduce_bucket(bucket)
                bucket, size = [], 0
        if bucket:
            self._reduce_bucket(bucket)

    def _reduce_bucket(self, bucket: list[torch.Tensor]) -> None:
        flat = torch.cat([grad.reshape(-1) for grad in bucket])
        torch.distributed.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for grad in bucket:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def barrier(self) -> None:
        """Wait for every process (control group)."""
        if self.enabled:
            torch.distributed.barrier(group=self.control)


#: A single process: every collective is the identity.
SINGLE = Distributed()


def agree_on_run(
    dist: Distributed, run_dir: Path | None, checkpoint: tuple[Path, dict] | None, config: TrainConfig
) -> tuple[Path | None, tuple[Path, dict] | None]:
    """Every process continues rank 0's run from rank 0's checkpoint (they read the same folder).

    Raises:
        ConfigError: a stage's batch size does not divide over the processes.
    """
    for stage in config.stages:
        dist.local_batch(stage.batch_size)
    chosen = dist.broadcast_object((run_dir, checkpoint[0] if checkpoint else None))
    if chosen[1] is not None and (checkpoint is None or checkpoint[0] != chosen[1]):
        from .checkpoint import load_checkpoint
        from .state import upgrade_checkpoint

        checkpoint = (chosen[1], upgrade_checkpoint(load_checkpoint(chosen[1])))
    return chosen[0], checkpoint


def batch_layout(config: TrainConfig, dist: Distributed) -> dict[str, Any]:
    """The processes and each stage's global / per-process batch (logged and saved in checkpoints)."""
    return {
        "world_size": dist.world_size,
        "backend": dist.backend,
        "global_batch_sizes": [stage.batch_size for stage in config.stages],
        "per_process_batch_sizes": [dist.local_batch(stage.batch_size) for stage in config.stages],
    }


def next_shard(
    dataset: Any, batch_size: int, random: torch.Generator, flip_probability: float, dist: Distributed
) -> dict[str, torch.Tensor]:
    """This process's part of the next global batch of ``dataset`` (the whole batch for one process).

    Data that can load just a shard (``loads_shards``) does; other data loads the global batch and keeps this
    process's rows (tensors whose first dimension is the batch), which costs decoding but keeps the position.
    """
    shard = dist.shard(batch_size)
    if shard is None:
        return dataset.next_batch(batch_size, random, flip_probability)
    if getattr(dataset, "loads_shards", False):
        return dataset.next_batch(batch_size, random, flip_probability, shard=shard)
    batch = dataset.next_batch(batch_size, random, flip_probability)
    return {
        name: value[shard] if value.ndim and value.shape[0] == batch_size else value
        for name, value in batch.items()
    }


def env_rank() -> int:
    """The global rank ``torchrun`` gave this process (0 outside ``torchrun``), readable before joining."""
    return int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup_distributed(device: torch.device) -> tuple[Distributed, torch.device]:
    """Join the process group ``torchrun`` set up in the environment (once per process).

    Args:
        device: the device the config resolved to; ``cuda`` becomes ``cuda:LOCAL_RANK``.

    Returns:
        ``(Distributed, device)``; :data:`SINGLE` and ``device`` unchanged outside ``torchrun``.
    """
    if not launched_by_torchrun():
        return SINGLE, device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ConfigError(f"distributed training runs on CUDA (nccl) or the CPU (gloo), not {device.type}")
    backend = "nccl" if device.type == "cuda" else "gloo"
    initialised_here = not torch.distributed.is_initialized()
    if initialised_here:
        timeout = datetime.timedelta(seconds=float(os.environ.get("AGESHIFT_DIST_TIMEOUT", "1800")))
        torch.distributed.init_process_group(backend, timeout=timeout)
    control = torch.distributed.new_group(backend="gloo") if backend != "gloo" else None
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    return Distributed(rank, world, local_rank, backend, initialised_here, control), device


def teardown_distributed(dist: Distributed) -> None:
    """Leave the process group if :func:`setup_distributed` joined it."""
    if dist.initialised_here and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def family_generator(seed: int, rank: int) -> torch.Generator:
    """The generator for what a family draws during a step on ``rank`` (pools, target labels): one per rank."""
    return torch.Generator().manual_seed((seed * 1_000_003 + 7919 * (rank + 1)) % 2**63)


def torchrun_command(devices: int, module_args: list[str]) -> list[str]:
    """The ``python -m torch.distributed.run`` command that runs ``ageshift`` with ``module_args`` on ``devices``.

    Args:
        devices: processes on this machine (one per GPU, or CPU processes).
        module_args: the ``ageshift`` arguments (``["train", "--data", ...]``) without ``--devices``.

    Returns:
        The argument vector for :func:`subprocess.run`.
    """
    import sys

    # "--" ends torchrun's own options: without it, argparse takes ``--run`` for an abbreviation of its
    # ``--run-path`` (it looks at every argument, even those after the script).
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={devices}",
        "-m", "ageshift", "--", *module_args,
    ]  # fmt: skip
