"""Makeup transfer on synthetic faces: does a short training move lip and eye colour towards the reference?

A plain loop (not yet the shared trainer: the beautygan family is not written) trains the BeautyGAN generator
with the histogram-matching makeup loss, the cycle loss (transfer, then transfer back) and a pixel identity
term outside the makeup regions (a stand-in for the paper's VGG perceptual loss, which has no offline weights).
It prints, on held-out pairs of new people, the per-region CIE76 ΔE between output and reference before (the
bare source) and after transfer, and the mean absolute change outside the regions (identity).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_makeup.py --steps 400
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ageshift.data.synthetic_makeup import (
    Makeup,
    delta_e,
    makeup_identity,
    random_makeup,
    region_colours,
    render_made_up_face,
)
from ageshift.faces.regions import region_masks
from ageshift.image import pil_to_tensor, tensor_to_pil
from ageshift.models.beautygan import MakeupGenerator, makeup_loss


def pairs(count: int, size: int, seed: int) -> dict[str, torch.Tensor | list]:
    """Bare sources, made-up references (other people) and both faces' masks and landmarks."""
    rng = np.random.default_rng(seed)
    sources, references, source_masks, reference_masks, points = [], [], [], [], []
    for _ in range(count):
        bare, source_points = render_made_up_face(makeup_identity(rng), Makeup(), size)
        made, reference_points = render_made_up_face(makeup_identity(rng), random_makeup(rng), size)
        sources.append(pil_to_tensor(bare))
        references.append(pil_to_tensor(made))
        source_masks.append(torch.from_numpy(region_masks(source_points, size).stack()))
        reference_masks.append(torch.from_numpy(region_masks(reference_points, size).stack()))
        points.append((source_points, reference_points))
    return {
        "source": torch.stack(sources), "reference": torch.stack(references),
        "source_masks": torch.stack(source_masks), "reference_masks": torch.stack(reference_masks),
        "points": points,
    }  # fmt: skip


def measure(generator: MakeupGenerator, held_out: dict) -> dict[str, float]:
    """Median ΔE (lips, eyes) to the reference before and after, and the change outside the regions."""
    device = next(generator.parameters()).device
    with torch.no_grad():
        made_up = generator(held_out["source"].to(device), held_out["reference"].to(device))[0].cpu()
    before: dict[str, list[float]] = {"lips": [], "eyes": []}
    after: dict[str, list[float]] = {"lips": [], "eyes": []}
    for index, (source_points, reference_points) in enumerate(held_out["points"]):
        target = region_colours(tensor_to_pil(held_out["reference"][index]), reference_points)
        start = region_colours(tensor_to_pil(held_out["source"][index]), source_points)
        end = region_colours(tensor_to_pil(made_up[index]), source_points)
        for region in before:
            before[region].append(delta_e(start[region], target[region]))
            after[region].append(delta_e(end[region], target[region]))
    outside = 1 - held_out["source_masks"][:, :2].amax(1, keepdim=True)
    change = ((made_up - held_out["source"]).abs() * outside).sum() / (3 * outside.sum())
    figures = {f"{region}_before": float(np.median(before[region])) for region in before}
    figures |= {f"{region}_after": float(np.median(after[region])) for region in after}
    figures["outside_change_255"] = float(change) * 127.5
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--train-pairs", type=int, default=256)
    parser.add_argument("--test-pairs", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, held_out = pairs(args.train_pairs, args.size, 0), pairs(args.test_pairs, args.size, 1)
    generator = MakeupGenerator(channels=16, num_res_blocks=3).to(args.device)
    train = {key: value.to(args.device) if torch.is_tensor(value) else value for key, value in train.items()}
    optimiser = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    print("before training:", {k: round(v, 2) for k, v in measure(generator.eval(), held_out).items()})
    started = time.perf_counter()
    generator.train()
    for step in range(args.steps):
        index = torch.randint(args.train_pairs, (args.batch,)).to(args.device)
        source, reference = train["source"][index], train["reference"][index]
        source_masks, reference_masks = train["source_masks"][index], train["reference_masks"][index]
        made_up, removed = generator(source, reference)
        back_reference, back_source = generator(removed, made_up)
        outside = 1 - source_masks[:, :2].amax(1, keepdim=True)
        loss = (
            makeup_loss(made_up, reference, source_masks, reference_masks)
            + 10 * ((back_source - source).abs().mean() + (back_reference - reference).abs().mean())
            + 5 * ((made_up - source).abs() * outside).mean()
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}: loss {float(loss.detach()):.4f} ({time.perf_counter() - started:.0f} s)")
    figures = measure(generator.eval(), held_out)
    print("after training:", {k: round(v, 2) for k, v in figures.items()})
    for region in ("lips", "eyes"):
        ratio = figures[f"{region}_after"] / figures[f"{region}_before"]
        print(f"{region}: median ΔE to the reference {figures[f'{region}_before']:.1f} → "
              f"{figures[f'{region}_after']:.1f} ({ratio:.0%} of before)")  # fmt: skip


if __name__ == "__main__":
    main()
