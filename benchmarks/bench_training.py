"""Training speed and memory: the ageshift trainer step against a plain eager fp32 CycleGAN loop.

Both train the same networks (the ``paper`` preset unless told otherwise) on the same random batches.
The plain loop is the textbook one: six separate generator calls, four discriminator calls, fp32.
The trainer adds what it does by default (batched paired calls, ``precision=auto``) plus ``--compile``.

    python benchmarks/bench_training.py --sizes 64 128 --steps 3
    python benchmarks/bench_training.py --memory          # peak RSS of `paper` training at 256², batch 1

Not part of the test run; numbers on a shared CPU vary with the load of other processes.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from ageshift.losses import cycle_loss, discriminator_loss, generator_loss, identity_loss
from ageshift.models.cyclegan import CycleGAN
from ageshift.training import build_state, resolve_precision, train_config, train_step


def plain_step(model: CycleGAN, optimizers: tuple, real_a: torch.Tensor, real_b: torch.Tensor) -> None:
    """One textbook CycleGAN step: eager fp32, every network call on its own (no image pool)."""
    optimizer_g, optimizer_d = optimizers
    config = model.config
    g_ab, g_ba = model.generator_older, model.generator_younger
    d_b, d_a = model.discriminator_old, model.discriminator_young
    d_a.requires_grad_(False)
    d_b.requires_grad_(False)
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    loss_g = (
        generator_loss(config.gan_loss, d_b(fake_b))
        + generator_loss(config.gan_loss, d_a(fake_a))
        + cycle_loss(real_a, g_ba(fake_b), config.cycle_weight)
        + cycle_loss(real_b, g_ab(fake_a), config.cycle_weight)
        + identity_loss(real_b, g_ab(real_b), config.cycle_weight * config.identity_fraction)
        + identity_loss(real_a, g_ba(real_a), config.cycle_weight * config.identity_fraction)
    )
    optimizer_g.zero_grad()
    loss_g.backward()
    optimizer_g.step()
    d_a.requires_grad_(True)
    d_b.requires_grad_(True)
    loss_d = discriminator_loss(config.gan_loss, d_b(real_b), d_b(fake_b.detach())) + discriminator_loss(
        config.gan_loss, d_a(real_a), d_a(fake_a.detach())
    )
    optimizer_d.zero_grad()
    loss_d.backward()
    optimizer_d.step()


def time_interleaved(steps: dict, warmup: int, repeats: int, clock) -> dict[str, float]:
    """Median seconds per step of each callable, alternating them so load changes hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for index in range(warmup + repeats):
        for name, step in steps.items():
            start = clock()
            step()
            if index >= warmup:
                times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure_size(args: argparse.Namespace, size: int) -> tuple[float, float, str]:
    """(trainer s/step, plain s/step, trainer precision) at ``size``² with ``args.batch_size``."""
    overrides = [
        f"stages=[{{size: {size}, batch_size: {args.batch_size}, steps: 1000}}]",
        f"precision={args.precision}",
        "device=cpu",
        f"compile={str(args.compile).lower()}",
    ]
    config = train_config(args.preset, overrides=overrides)
    device = torch.device("cpu")
    precision = resolve_precision(config.precision, device)
    state = build_state(config, device, precision, config.model_config())
    if config.compile:
        for module in (*state.model.generators().values(), *state.model.discriminators()):
            module.compile()
    real_a = torch.rand(args.batch_size, 3, size, size) * 2 - 1
    real_b = torch.rand(args.batch_size, 3, size, size) * 2 - 1
    torch.manual_seed(0)
    model = CycleGAN(config.model_config())
    generators = [*model.generator_older.parameters(), *model.generator_younger.parameters()]
    optimizers = (
        torch.optim.Adam(generators, lr=2e-4, betas=(0.5, 0.999)),
        torch.optim.Adam(model.discriminators().parameters(), lr=2e-4, betas=(0.5, 0.999)),
    )
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    seconds = time_interleaved(
        {
            "trainer": lambda: train_step(state, {"A": real_a, "B": real_b}, config, precision, device),
            "plain": lambda: plain_step(model, optimizers, real_a, real_b),
        },
        args.warmup,
        args.steps,
        clock,
    )
    trainer, plain = seconds["trainer"], seconds["plain"]
    return trainer, plain, precision.name


MEMORY_SCRIPT = """
import sys, numpy as np, torch
from pathlib import Path
from PIL import Image
from ageshift.training import train, train_config
torch.set_num_threads(int(sys.argv[2]))
root = Path(sys.argv[1])
rng = np.random.default_rng(0)
for folder in ("trainA", "trainB"):
    (root / folder).mkdir(parents=True)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(root / folder / f"{i}.png")
config = train_config("paper", overrides=["stages=[{size: 256, batch_size: 1, steps: 1}]", "device=cpu",
                                          "sample_every=1", "checkpoint_every=1"])
train(config, root, root / "runs", quiet=True, tensorboard=False)
"""


def peak_memory(threads: int) -> float:
    """Peak RSS (GB) of a fresh process running a step of ``paper`` training at 256², batch 1 (+ sample, checkpoint)."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, folder, str(threads)], check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="paper", help="training preset whose network is timed")
    parser.add_argument("--sizes", type=int, nargs="*", default=[64, 128], help="image sides to time")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: process CPU time (steadier on a busy machine)",
    )
    parser.add_argument("--precision", default="auto", help="trainer precision: auto, fp32, bf16")
    parser.add_argument("--compile", action="store_true", help="torch.compile the trainer's networks")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS at 256² (paper)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"preset {args.preset}, batch {args.batch_size}, {args.threads} threads, median of {args.steps} "
        f"interleaved steps, {args.clock} clock"
    )
    print(
        f"{'size':>5} {'trainer it/s':>13} {'img/s':>7} {'plain it/s':>11} {'img/s':>7} {'ratio':>6}  precision"
    )
    for size in args.sizes:
        trainer, plain, precision = measure_size(args, size)
        images = 2 * args.batch_size
        print(
            f"{size:>5} {1 / trainer:>13.3f} {images / trainer:>7.2f} {1 / plain:>11.3f} "
            f"{images / plain:>7.2f} {plain / trainer:>5.2f}x  {precision}{' +compile' if args.compile else ''}",
            flush=True,
        )
    if args.memory:
        print(f"peak RSS, paper training at 256² batch 1: {peak_memory(args.threads):.2f} GB")


if __name__ == "__main__":
    main()
