"""GPU speed of training and inference, side by side in one run (made for a CUDA GPU; ``--device cpu --quick``
is a smoke check of the script itself).

Training, the CycleGAN ``paper`` preset at 128² and 256², batch 1 and 8, four ways on the same random batches:

- ``plain_fp32``: the textbook eager loop (six generator calls, four discriminator calls, fp32; cuDNN's
  default TF32 convolutions on Ampere and newer);
- ``trainer_fp32``: the ageshift trainer's step (paired calls batched, fused Adam), fp32;
- ``trainer_bf16_cl``: the trainer with bf16 autocast and channels-last weights and batches;
- ``trainer_bf16_cl_compile``: the same plus ``torch.compile`` of every network (build time excluded).

For each: iterations/s, images/s (a step trains on ``batch`` images of each domain: 2 × batch), peak GPU
memory (``torch.cuda.max_memory_allocated``: weights, Adam state, activations) and model FLOPs utilisation
(the plain step's FLOPs counted by ``torch.utils.flop_counter``, × iterations/s, ÷ the GPU's dense bf16
peak, from a small table or ``--peak-tflops``). Inference: images/s of every registered family's default
preset at its image size.

    python benchmarks/bench_gpu.py                       # the full matrix on cuda (about 10 minutes)
    python benchmarks/bench_gpu.py --json gpu.json       # also write the figures as JSON
    python benchmarks/bench_gpu.py --device cpu --quick  # smoke check: tiny sizes, 2 steps
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import plain_step  # noqa: E402  the same textbook loop as the CPU benchmark

import ageshift  # noqa: E402
from ageshift.models.cyclegan import CycleGAN  # noqa: E402
from ageshift.training import build_state, resolve_precision, train_config, train_step  # noqa: E402

VARIANTS = ("plain_fp32", "trainer_fp32", "trainer_bf16_cl", "trainer_bf16_cl_compile")
#: Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s from the vendors' data sheets, matched by name.
PEAK_BF16_TFLOPS = {
    "H200": 989.4, "H100 SXM": 989.4, "H100 NVL": 835.5, "H100 PCIe": 756.5, "H100": 756.5,
    "A100": 312.0, "L40S": 362.1, "L40": 181.0, "L4": 121.0, "A10G": 70.0, "A10": 125.0,
    "RTX 4090": 165.2, "RTX 3090": 71.0,
}  # fmt: skip


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (timings on CUDA measure the work, not its launch)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    """The dense bf16 peak of ``device`` in TFLOP/s (``override`` wins; None when unknown)."""
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((value for key, value in PEAK_BF16_TFLOPS.items() if key in name), None)


def random_batch(batch: int, size: int, device: torch.device, channels_last: bool) -> dict[str, torch.Tensor]:
    """``{"A", "B"}``: ``(batch, 3, size, size)`` in ``[-1, 1]`` on ``device``."""
    generator = torch.Generator().manual_seed(0)
    images = {name: torch.rand(batch, 3, size, size, generator=generator) * 2 - 1 for name in ("A", "B")}
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return {name: value.to(device).contiguous(memory_format=layout) for name, value in images.items()}


def make_step(variant: str, preset: str, size: int, batch: int, device: torch.device) -> Callable[[], None]:
    """One training step of ``variant`` as a callable (networks built, compiled and placed on ``device``)."""
    stages = f"stages=[{{size: {size}, batch_size: {batch}, steps: 100000}}]"
    if variant == "plain_fp32":
        config = train_config(preset, overrides=[stages, f"device={device}"])
        torch.manual_seed(0)
        model = CycleGAN(config.model_config()).to(device)
        generators = [*model.generator_older.parameters(), *model.generator_younger.parameters()]
        optimizers = (
            torch.optim.Adam(generators, lr=2e-4, betas=(0.5, 0.999)),
            torch.optim.Adam(model.discriminators().parameters(), lr=2e-4, betas=(0.5, 0.999)),
        )
        data = random_batch(batch, size, device, channels_last=False)
        return lambda: plain_step(model, optimizers, data["A"], data["B"])
    precision_name = "fp32" if variant == "trainer_fp32" else "bf16"
    config = train_config(preset, overrides=[stages, f"device={device}", f"precision={precision_name}"])
    precision = resolve_precision(config.precision, device)
    state = build_state(config, device, precision, config.model_config())
    channels_last = "_cl" in variant
    if channels_last:
        state.model.to(memory_format=torch.channels_last)
    if variant.endswith("compile"):
        for module in state.model.children():
            module.compile()
    data = random_batch(batch, size, device, channels_last)
    return lambda: train_step(state, data, config, precision, device)


def step_flops(preset: str, size: int, batch: int, device: torch.device) -> int:
    """FLOPs of one plain training step (forward and backward of every network call), counted once."""
    from torch.utils.flop_counter import FlopCounterMode

    step = make_step("plain_fp32", preset, size, batch, device)
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return int(counter.get_total_flops())


def time_steps(step: Callable[[], None], device: torch.device, warmup: int, steps: int) -> float:
    """Seconds per step: ``warmup`` untimed steps (compilation happens there), then ``steps`` timed ones."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def free_memory(device: torch.device) -> None:
    """Drop what the last variant left, so the next one's peak memory is its own."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def measure_training(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """One row per size × batch × variant: it/s, images/s, peak memory (GB), MFU."""
    peak = peak_tflops(device, args.peak_tflops)
    rows = []
    for size in args.sizes:
        for batch in args.batches:
            flops = step_flops(args.preset, size, batch, device)
            for variant in args.variants:
                free_memory(device)
                step = make_step(variant, args.preset, size, batch, device)
                warmup = args.warmup + (args.compile_warmup if variant.endswith("compile") else 0)
                seconds = time_steps(step, device, warmup, args.steps)
                memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
                rate = 1 / seconds
                row = {
                    "size": size, "batch": batch, "variant": variant, "iterations_per_second": rate,
                    "images_per_second": 2 * batch * rate, "peak_memory_gb": memory,
                    "step_gflops": flops / 1e9, "mfu": flops * rate / (peak * 1e12) if peak else None,
                }  # fmt: skip
                rows.append(row)
                print(format_training_row(row), flush=True)
                del step
    return rows


def format_training_row(row: dict) -> str:
    """One markdown table row of a training measurement."""
    memory = f"{row['peak_memory_gb']:.2f}" if row["peak_memory_gb"] is not None else "–"
    mfu = f"{100 * row['mfu']:.1f} %" if row["mfu"] is not None else "–"
    return (
        f"| {row['size']} | {row['batch']} | {row['variant']} | {row['iterations_per_second']:.2f} | "
        f"{row['images_per_second']:.1f} | {memory} | {row['step_gflops']:.1f} | {mfu} |"
    )


def default_condition(translator: ageshift.Translator) -> object:
    """A condition every family accepts: its first direction, or its default request, or a target age."""
    if translator.directions:
        return translator.condition(direction=translator.directions[0])
    for request in ({}, {"target_age": 60.0}):
        try:
            return translator.condition(**request)  # type: ignore[arg-type]
        except ageshift.errors.AgeshiftError:
            continue
    raise RuntimeError("no default condition")


def inference_call(
    translator: ageshift.Translator, batch: int, size: int, device: torch.device
) -> Callable[[], None]:
    """One inference batch: translate random images, or draw ``batch`` images from noise (``gan``, ``cgan``)."""
    if not translator.directions and hasattr(translator, "generate"):
        return lambda: translator.generate(batch, seed=0, batch_size=batch)  # type: ignore[attr-defined]
    condition = default_condition(translator)
    images = torch.rand(batch, 3, size, size, device=device) * 2 - 1

    def run() -> None:
        with torch.inference_mode():
            translator.run(images, condition)  # type: ignore[arg-type]

    return run


def measure_inference(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """Images/s of every registered family's default preset (randomly initialised networks)."""
    rows = []
    for name in ageshift.list_models():
        family = ageshift.get_family(name)
        preset = next(iter(family.presets))
        try:
            # Conditional families need something to condition on: an age range stands in for data labels.
            fields = {field.name for field in dataclasses.fields(family.config_class)}
            config = family.model_config(preset, {"age_range": [0.0, 100.0]} if "age_range" in fields else {})
            size = args.inference_size or getattr(config, "image_size", 128)
            translator = family.export(family.build(config), size, {}, {}).to(device)
            run = inference_call(translator, args.inference_batch, size, device)

            seconds = statistics.median(time_steps(run, device, args.warmup, args.steps) for _ in range(3))
            row = {"family": name, "preset": preset, "size": size, "batch": args.inference_batch}
            row["images_per_second"] = args.inference_batch / seconds
        except Exception as error:  # a family whose default cannot run here is reported, not fatal
            row = {"family": name, "preset": preset, "error": f"{type(error).__name__}: {error}"[:200]}
        rows.append(row)
        print(row, flush=True)
    return rows


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and few steps: checks the script runs"
    )
    parser.add_argument("--preset", default="paper", help="CycleGAN training preset whose networks train")
    parser.add_argument("--sizes", type=int, nargs="*", default=[128, 256])
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 8])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    parser.add_argument("--compile-warmup", type=int, default=3, help="extra untimed steps for torch.compile")
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak for the MFU")
    parser.add_argument("--inference-size", type=int, default=None, help="default: each family's image size")
    parser.add_argument("--inference-batch", type=int, default=8)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.batches, args.steps, args.warmup, args.compile_warmup = [32], [1, 2], 2, 1, 1
        args.inference_size, args.inference_batch = args.inference_size or 64, 2
    return args


def main() -> None:
    args = parse_arguments()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here; use --device cpu --quick for a smoke check")
    if device.type == "cpu":
        torch.set_num_threads(1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"# {name}, torch {torch.__version__}, CycleGAN preset {args.preset}")
    results: dict = {"device": name, "torch": torch.__version__, "preset": args.preset}
    if not args.skip_training:
        print("| size | batch | variant | it/s | images/s | peak GB | GFLOP/step | MFU |")
        print("|---|---|---|---|---|---|---|---|")
        results["training"] = measure_training(args, device)
    if not args.skip_inference:
        results["inference"] = measure_inference(args, device)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
