"""The conditional (StarGAN-style) family against CycleGAN: inference ms per face and training steps per second.

Run ``python benchmarks/bench_conditional.py --help``; see benchmarks/README.md. Inference variants are
timed round-robin in one loop (a busy machine slows them alike), and so are the training steps.

- inference: one 256² face (batch 1 and 8) through the exported translator's ``translate_batch``: CycleGAN
  ``fast`` (``direction="older"``) and the conditional ``fast`` model (``target_age=70`` with the source
  condition read by its classifier, then ``G(x, c)``), each also with the bare generator call;
- training: steps per second of the generic trainer's ``train_step`` on random batches at 64² for both
  families' ``fast`` presets (batch 8 for the conditional model, its preset's; 4 for CycleGAN).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch

from ageshift.config import to_dict
from ageshift.models.cyclegan import CycleGAN, cyclegan_config
from ageshift.models.family import StepContext
from ageshift.models.stargan import StarGANFamily
from ageshift.models.translator import TwoDomainTranslator
from ageshift.training.phases import optimizer_step

ATTRIBUTES = {"hair": ["black", "blond", "brown"], "beard": ["none", "beard"], "glasses": ["none", "glasses"]}


def conditional_model(preset: str = "fast"):  # noqa: ANN201
    config = StarGANFamily.model_config(preset, {"age_range": [15, 80], "attributes": ATTRIBUTES})
    return StarGANFamily.build(config)


def inference_runners(size: int, batch: int) -> dict[str, Callable[[], torch.Tensor]]:
    images = torch.rand(batch, 3, size, size) * 2 - 1
    cyclegan = CycleGAN(cyclegan_config("fast"))
    two_domain = TwoDomainTranslator(
        cyclegan.generators(), "cyclegan", to_dict(cyclegan.config), size, fast_inference=False
    )
    star = conditional_model()
    conditional = StarGANFamily.export(star, size, {}, {})
    condition = torch.zeros(batch, star.layout.dim)
    return {
        "cyclegan_translate": lambda: two_domain.translate_batch(images, "older"),
        "cyclegan_generator": lambda: cyclegan.generator_older.eval()(images),
        "stargan_translate": lambda: conditional.translate_batch(images, target_age=70),
        "stargan_generator": lambda: star.generator.eval()(images, condition, condition.flip(0)),
    }


def _steps_per_second(model, data, context, steps: int) -> float:  # noqa: ANN001
    optimizers = {key: torch.optim.Adam(params, 2e-4) for key, params in model.optimizer_groups().items()}
    scaler = torch.amp.GradScaler("cpu", enabled=False)

    def step() -> None:
        carry: dict = {}
        for phase in model.phases():
            output = model.run_phase(phase, data, carry, context)
            optimizer_step(output.loss, optimizers[phase.optimizer], scaler)
            carry.update(output.carry)

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def training_steps(steps: int) -> dict[str, float]:
    """Steps per second of each family's phases (no data loading: random batches at 64²)."""
    generator = torch.Generator().manual_seed(0)
    cyclegan = CycleGAN(cyclegan_config("fast"))
    unpaired = {"A": torch.rand(4, 3, 64, 64) * 2 - 1, "B": torch.rand(4, 3, 64, 64) * 2 - 1}
    plain = StepContext(torch.device("cpu"), contextlib.nullcontext, generator)
    labels = {"age": torch.rand(8) * 65 + 15} | {
        k: torch.randint(len(v), (8,)) for k, v in ATTRIBUTES.items()
    }
    labelled = {"images": torch.rand(8, 3, 64, 64) * 2 - 1, **labels}

    def targets(count: int) -> dict[str, torch.Tensor]:
        return {key: value[:count] for key, value in labels.items()}

    conditional = StepContext(torch.device("cpu"), contextlib.nullcontext, generator, sample_targets=targets)
    return {
        "cyclegan_fast (batch 4)": _steps_per_second(cyclegan, unpaired, plain, steps),
        "stargan_fast (batch 8)": _steps_per_second(conditional_model(), labelled, conditional, steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads")
    for size in args.sizes:
        for batch in args.batches:
            runners = inference_runners(size, batch)
            times: dict[str, list[float]] = {name: [] for name in runners}
            with torch.inference_mode():
                for run in runners.values():
                    run()  # warm-up
                for _ in range(args.repeats):
                    for name, run in runners.items():
                        start = time.perf_counter()
                        run()
                        times[name].append((time.perf_counter() - start) * 1000 / batch)
            row = ", ".join(f"{name} {statistics.median(values):.1f}" for name, values in times.items())
            print(f"{size}² batch {batch}: ms/face median of {args.repeats}: {row}")
    if args.train_steps:
        rates = training_steps(args.train_steps)
        print("training at 64² (steps/s): " + ", ".join(f"{name} {rate:.2f}" for name, rate in rates.items()))


if __name__ == "__main__":
    main()
