"""The teaching GANs' closing figures: cGAN label accuracy, vanilla-GAN mode coverage, CPU training time.

Prepares the scikit-learn digits, trains ``gan`` and ``cgan`` with a training preset (``fast`` by default)
through the ordinary trainer, exports both, draws samples and judges them with a logistic-regression digit
classifier trained on the real training digits (its accuracy on the real held-out digits is printed too, for
reference). Prints:

- the classifier's accuracy on ``--per-digit`` cGAN samples of each digit (1,000 by default);
- the vanilla GAN's coverage: the share of ``10 × --per-digit`` samples the classifier puts in each class,
  the number of classes seen, and the entropy of that distribution relative to uniform;
- training wall-clock time and steps per second (on however many threads ``--threads`` allows).

Run on a quiet machine for timing: ``OMP_NUM_THREADS=2 python benchmarks/bench_teaching_gans.py --threads 2``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def real_digits(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A prepared split as ``(N, pixels)`` grey values in ``[-1, 1]`` and ``(N,)`` class ids."""
    from ageshift.data.labelled import LabelledImages

    images = LabelledImages(root, 16, split)
    pixels = images.load(range(len(images))).mean(dim=1).flatten(1).numpy()
    return pixels, images.labels(range(len(images)))["label"].numpy()


def grey(images: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` samples as ``(N, H·W)`` grey values, the classifier's input."""
    return images.mean(dim=1).flatten(1).numpy()


def spread(pixels: np.ndarray, pairs: int = 2000, seed: int = 0) -> float:
    """Mean L2 distance between random pairs of images: how varied a set is (0 when all are the same)."""
    rng = np.random.default_rng(seed)
    first, second = rng.integers(len(pixels), size=(2, pairs))
    return float(np.linalg.norm(pixels[first] - pixels[second], axis=1).mean())


def train_and_export(
    family: str, preset: str, data: Path, work: Path, steps: int | None
) -> tuple[Path, Path, float, int]:
    """Train ``family`` with ``preset`` and export it; returns (run folder, model folder, seconds, steps)."""
    from ageshift.training import export_run, train
    from ageshift.training.config import train_config

    overrides = {"precision": "fp32", "device": "cpu"}
    if steps is not None:
        overrides["stages"] = [{"size": 16, "batch_size": 64, "steps": steps}]
    config = train_config(preset, overrides=overrides, family=family)
    start = time.perf_counter()
    run = train(config, data, work / "runs", quiet=True, tensorboard=False)
    seconds = time.perf_counter() - start
    model = work / f"{family}-model"
    export_run(run, model)
    return run, model, seconds, config.total_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", help="training preset of both families (fast, dcgan)")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's step count")
    parser.add_argument("--per-digit", type=int, default=1000, help="cGAN samples per digit")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--work", type=Path, default=None, help="keep data, runs and models here")
    parser.add_argument("--docs", type=Path, default=None, help="also write the tutorial's images here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from sklearn.linear_model import LogisticRegression

    import ageshift
    from ageshift.data.digits import prepare_digits

    work = args.work or Path(tempfile.mkdtemp(prefix="teaching-gans-"))
    data = work / "digits"
    if not (data / "manifest.csv").is_file():
        prepare_digits(data)
    train_x, train_y = real_digits(data, "train")
    test_x, test_y = real_digits(data, "test")
    classifier = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    print(
        f"classifier: logistic regression on {len(train_x)} real 16² digits; real held-out accuracy "
        f"{classifier.score(test_x, test_y):.3f} ({len(test_x)} digits)"
    )

    runs: dict[str, Path] = {}
    for family in ("cgan", "gan"):
        run, model_dir, seconds, steps = train_and_export(family, args.preset, data, work, args.steps)
        runs[family] = run
        print(
            f"{family} ({args.preset}): {steps} steps in {seconds:.1f} s ({steps / seconds:.0f} steps/s, "
            f"{args.threads} thread(s))"
        )
        model = ageshift.load(str(model_dir))
        if family == "cgan":
            # diversity: the samples' spread over the real training digits' spread of that class (1: as varied).
            print("digit  accuracy  diversity")
            total = 0.0
            for digit in range(10):
                samples = grey(model.generate(args.per_digit, label=str(digit), seed=digit))  # type: ignore[attr-defined]
                accuracy = float((classifier.predict(samples) == digit).mean())
                total += accuracy
                diversity = spread(samples) / spread(train_x[train_y == digit])
                print(f"{digit:>5}  {accuracy:8.3f}  {diversity:9.2f}")
            print(f"  all  {total / 10:8.3f}")
        else:
            samples = model.generate(10 * args.per_digit, seed=0)  # type: ignore[attr-defined]
            shares = np.bincount(classifier.predict(grey(samples)), minlength=10) / len(samples)
            entropy = -sum(p * math.log(p) for p in shares if p > 0) / math.log(10)
            print("class  share")
            for digit, share in enumerate(shares):
                print(f"{digit:>5}  {share:.3f}")
            print(
                f"classes seen (share > 1%): {int((shares > 0.01).sum())}/10; normalised entropy {entropy:.3f}"
            )
            print(
                f"diversity (spread of the samples / of the real digits): {spread(grey(samples)) / spread(train_x):.2f}"
            )
    print(f"work folder: {work}")
    if args.docs is not None:
        write_docs_images(runs, work / "cgan-model", args.docs)
        print(f"images written to {args.docs}")


def write_docs_images(runs: dict[str, Path], cgan_model: Path, out: Path) -> None:
    """The tutorial's pictures (docs/teaching-gans.md), each well under 200 KB."""
    import csv
    import shutil

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image, ImageOps

    from ageshift.cli import main as ageshift_cli

    out.mkdir(parents=True, exist_ok=True)
    for family, run in runs.items():
        grids = sorted((run / "samples").glob("step-*.png"))
        shutil.copyfile(grids[-1], out / f"teaching-{family}-samples.png")
        if family == "cgan":
            # Eight grids through the run, 8 grey levels: GIF's LZW packs flat greys far better than noise.
            picks = [grids[round(i * (len(grids) - 1) / 7)] for i in range(8)]
            frames = [ImageOps.posterize(Image.open(path).convert("L"), 3) for path in picks]
            frames[0].save(
                out / "teaching-cgan-progress.gif", save_all=True, append_images=frames[1:],
                duration=[400] * 7 + [2000], loop=0,
            )  # fmt: skip
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=90, sharey=True)
    for axis, (family, run) in zip(axes, runs.items(), strict=True):
        with (run / "metrics.csv").open() as stream:
            rows = list(csv.DictReader(stream))
        steps = [int(row["step"]) for row in rows]
        for key, label in (
            ("d_total", "D loss"),
            ("g_total", "G loss"),
            ("d_real", "D(real)"),
            ("d_fake", "D(fake)"),
        ):
            axis.plot(steps, [float(row[key]) for row in rows], label=label)
        axis.axhline(0.5, color="grey", linewidth=0.5)
        axis.set_title(family)
        axis.set_xlabel("step")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "teaching-curves.png")
    command = ["generate", str(cgan_model), "--label", "7", "--count", "64", "--seed", "0", "--scale", "2"]
    try:
        ageshift_cli([*command, "--out", str(out / "teaching-sevens.png")])
    except SystemExit as exit_:
        if exit_.code:
            raise


if __name__ == "__main__":
    main()
