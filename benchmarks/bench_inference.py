"""Generator inference speed on the CPU: eager fp32 against faster paths, side by side.

Run ``python benchmarks/bench_inference.py --help``; see benchmarks/README.md. Every variant is timed in
the same round-robin loop, so a busy machine slows them all alike and the ratios stay meaningful.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from ageshift.models.cyclegan import ResnetGenerator, cyclegan_config

Runner = Callable[[torch.Tensor], torch.Tensor]


def eager(generator: nn.Module, example: torch.Tensor) -> Runner:
    """The plain module."""
    return generator


def channels_last(generator: nn.Module, example: torch.Tensor) -> Runner:
    """NHWC memory layout for weights and inputs (oneDNN's preferred layout)."""
    moved = _copy(generator).to(memory_format=torch.channels_last)
    return lambda images: moved(images.contiguous(memory_format=torch.channels_last))


def frozen_trace(generator: nn.Module, example: torch.Tensor) -> Runner:
    """TorchScript trace, frozen: weights become constants, conv+bias folding, no Python overhead."""
    with torch.inference_mode(False), torch.no_grad():
        return torch.jit.freeze(torch.jit.trace(_copy(generator), example.clone()))


def frozen_trace_channels_last(generator: nn.Module, example: torch.Tensor) -> Runner:
    """Frozen trace of the channels-last module."""
    moved = _copy(generator).to(memory_format=torch.channels_last)
    example = example.clone().contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.freeze(torch.jit.trace(moved, example))
    return lambda images: traced(images.contiguous(memory_format=torch.channels_last))


def mkldnn_optimized(generator: nn.Module, example: torch.Tensor) -> Runner:
    """``torch.jit.optimize_for_inference``: frozen trace converted to oneDNN (MKL-DNN) ops."""
    with torch.inference_mode(False), torch.no_grad():
        return torch.jit.optimize_for_inference(torch.jit.trace(_copy(generator), example.clone()))


def bfloat16_autocast(generator: nn.Module, example: torch.Tensor) -> Runner:
    """bf16 autocast (fast only where the CPU has native bf16 instructions, e.g. AVX512-BF16/AMX)."""

    def run(images: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return generator(images).float()

    return run


def compiled(generator: nn.Module, example: torch.Tensor) -> Runner:
    """``torch.compile`` (Inductor); its one-off compile time is reported separately, not in ms/image."""
    return torch.compile(_copy(generator), dynamic=False)


def _copy(generator: nn.Module) -> nn.Module:
    clone = ResnetGenerator(generator.config)
    clone.load_state_dict(generator.state_dict())
    return clone.eval()


VARIANTS: dict[str, Callable[[nn.Module, torch.Tensor], Runner]] = {
    "eager": eager,
    "channels_last": channels_last,
    "frozen_trace": frozen_trace,
    "frozen_trace_cl": frozen_trace_channels_last,
    "mkldnn_opt": mkldnn_optimized,
    "bf16": bfloat16_autocast,
    "compile": compiled,
}


def measure(
    preset: str,
    size: int,
    batch: int,
    variants: list[str],
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
    generator: nn.Module | None = None,
) -> dict[str, dict[str, float]]:
    """Median ms per image and max |difference to eager| for each variant, timed round-robin.

    Args:
        preset: CycleGAN preset name (``fast`` or ``paper``).
        size: image side in pixels.
        batch: images per forward pass.
        variants: names from :data:`VARIANTS` (``eager`` is always measured first).
        repeats: timed forward passes per variant.
        clock: seconds counter: ``time.perf_counter`` (wall) or ``time.process_time`` (CPU of this process).
        generator: an existing generator to time instead of a fresh one of ``preset``.

    Returns:
        ``{variant: {"ms_per_image": float, "max_abs_diff": float, "setup_s": float}}``.
    """
    torch.manual_seed(0)
    generator = (generator or ResnetGenerator(cyclegan_config(preset).generator)).eval()
    images = torch.rand(batch, 3, size, size) * 2 - 1
    runners, results = {}, {}
    for name in ["eager", *[v for v in variants if v != "eager"]]:
        started = time.perf_counter()
        runners[name] = VARIANTS[name](generator, images)
        with torch.inference_mode():
            runners[name](images)  # warm-up (and, for compile/trace, the build)
        results[name] = {"setup_s": time.perf_counter() - started}
    with torch.inference_mode():
        reference = runners["eager"](images)
        for name, runner in runners.items():
            results[name]["max_abs_diff"] = (runner(images).float() - reference).abs().max().item()
        timings: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(repeats):
            for name, runner in runners.items():
                started = clock()
                runner(images)
                timings[name].append((clock() - started) * 1000 / batch)
    for name, values in timings.items():
        results[name]["ms_per_image"] = statistics.median(values)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["fast", "paper"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument(
        "--variants", nargs="+", default=["eager", "channels_last", "frozen_trace", "frozen_trace_cl"],
        choices=list(VARIANTS), help="bf16, mkldnn_opt and compile are slow to set up; add them explicitly",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per variant (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall",
        help="cpu: CPU seconds of this process, steadier on a shared machine (use with --threads 1)",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.clock}-clock ms/image "
        f"(median of {args.repeats})"
    )
    print(
        f"{'preset':6} {'size':>4} {'batch':>5}  {'variant':16} {'ms/image':>9} {'× eager':>8} {'max|Δ|':>9}"
    )
    for preset in args.presets:
        for size in args.sizes:
            for batch in args.batches:
                results = measure(preset, size, batch, args.variants, args.repeats, clock)
                base = results["eager"]["ms_per_image"]
                for name, result in results.items():
                    speed = base / result["ms_per_image"]
                    print(
                        f"{preset:6} {size:4d} {batch:5d}  {name:16} {result['ms_per_image']:9.1f} "
                        f"{speed:7.2f}x {result['max_abs_diff']:9.1e}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
