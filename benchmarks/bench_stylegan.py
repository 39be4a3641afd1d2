"""StyleGAN2-ADA on a CPU: FID of a model trained on packaged-DCGAN samples, ADA vs no ADA on 1,000 images,
and projection of the two public-domain photos.

    OMP_NUM_THREADS=1 python benchmarks/bench_stylegan.py --steps 400 --work /tmp/sg-bench

Steps (each prints its figures; ``--only`` picks some):

- ``data``: ``--train-images`` samples of the packaged 64×64 DCGAN (seed 0), downsampled to the preset's 32²,
  and ``--held-out`` further samples (seed 1) as the FID reference: an offline stand-in for a face set.
- ``full``: the ``fast`` preset (batch 16, ADA with p's speed ``--ada-speed``) for ``--steps`` steps on all training images.
- ``ada`` / ``noada``: the same budget on the first ``--small-images`` (1,000) images with ADA and with
  ``model.augment=none``; each prints its ADA ``p`` and overfitting signal ``r_t`` at quarters of the run.
- each run: FID and KID (packaged TF-Inception features) of ``--fid-images`` EMA samples (ψ = 1) against the
  held-out samples, the final ADA ``p``, wall time and images/s.
- ``toonify``: fine-tune the ``full`` model (``model.init_from``) for ``--toonify-steps`` on 300 procedural
  synthetic faces (the offline style), stylize the astronaut at ``--swap-at`` 8 and 16, save a JPEG strip
  (target, reconstruction, stylized) to ``--toonify-image``.
- ``project``: the ``full`` model's W+ projection (300 steps) of astronaut and Grace Hopper: PSNR at 32² and
  dlib identity distance between the aligned photo crop and the reconstruction (both enlarged to 128²).

FID from a few hundred images is biased upwards (compare runs with the same counts only); KID is unbiased.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def make_data(work: Path, train_images: int, held_out: int, size: int) -> tuple[Path, Path, Path]:
    from ageshift.image import tensor_to_pil
    from ageshift.latent import load_packaged_dcgan

    generator = load_packaged_dcgan()
    folders = {"train": work / "train", "held": work / "held-out", "small": work / "train-1k"}
    if (work / "done").is_file():
        return folders["train"], folders["held"], folders["small"]
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    for name, count, seed in (("train", train_images, 0), ("held", held_out, 1)):
        random = torch.Generator().manual_seed(seed)
        for start in range(0, count, 250):
            with torch.no_grad():
                images = generator.synthesize(generator.sample_latents(min(250, count - start), random))
            images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
            for offset, image in enumerate(images):
                index = start + offset
                tensor_to_pil(image.clamp(-1, 1)).save(folders[name] / f"{index:05d}.png")
                if name == "train" and index < 1000:
                    shutil.copy(folders[name] / f"{index:05d}.png", folders["small"] / f"{index:05d}.png")
    (work / "done").write_text("ok")
    print(f"data: {train_images} training and {held_out} held-out DCGAN samples at {size}²")
    return folders["train"], folders["held"], folders["small"]


def subset_folder(work: Path, train: Path, count: int) -> Path:
    """The first ``count`` training images in their own folder (``train-1k`` is made with the data)."""
    if count == 1000:
        return work / "train-1k"
    folder = work / f"train-{count}"
    if not folder.is_dir() or len(list(folder.glob("*.png"))) != count:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for path in sorted(train.glob("*.png"))[:count]:
            shutil.copy(path, folder / path.name)
    return folder


def print_ada_trace(name: str, metrics: Path) -> None:
    """ADA's p and the overfitting signal r_t at each quarter of the run (from the trainer's metrics.jsonl)."""
    import json

    rows = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [row for row in rows if "ada_r_t" in row]
    if not rows:
        return
    picks = [rows[min(len(rows) - 1, round(len(rows) * q / 4) - 1)] for q in (1, 2, 3, 4)]
    points = [f"step {row['step']} p {row['ada_p']:.3f} r_t {row['ada_r_t']:.2f}" for row in picks]
    peak = max(rows, key=lambda row: row["ada_p"])
    print(f"{name}: ADA " + ", ".join(points) + f"; peak p {peak['ada_p']:.3f} at step {peak['step']}")


def load_folder(folder: Path, count: int) -> torch.Tensor:
    from ageshift.image import pil_to_tensor
    from ageshift.io import list_images, load_image

    return torch.stack([pil_to_tensor(load_image(p)) for p in list_images(folder)[:count]])


def train_and_score(
    name: str,
    data: Path,
    work: Path,
    steps: int,
    reference: np.ndarray,
    fid_images: int,
    augment: str,
    ada_speed: float,
) -> Path:
    from ageshift import load
    from ageshift.evaluation.fid import InceptionFeatures, fid_from_features, kid_from_features
    from ageshift.training import export_run, train, train_config

    config = train_config(
        "fast",
        family="stylegan",
        overrides={
            "model": {"augment": augment, "ada_speed_images": ada_speed},
            "stages": [{"size": 32, "batch_size": 16, "steps": steps}],
            "sample_every": max(steps // 4, 1),
            "checkpoint_every": steps,
            # FID/KID against training images during the run: the curve per kimg (biased by few images).
            "metrics_every": max(steps // 3, 1),
            "metrics_images": 100,
        },
    )
    runs = work / f"runs-{name}"
    shutil.rmtree(runs, ignore_errors=True)
    start = time.perf_counter()
    run = train(config, data, runs, quiet=True, tensorboard=False, handle_signals=False)
    seconds = time.perf_counter() - start
    print_fid_curve(name, run / "metrics.csv", 16)
    print_ada_trace(name, run / "metrics.jsonl")
    model_dir = work / f"model-{name}"
    shutil.rmtree(model_dir, ignore_errors=True)
    export_run(run, model_dir)
    model = load(model_dir)
    images = model.generate(fid_images, seed=123)
    features = InceptionFeatures()(images)
    fid = fid_from_features(features, reference)
    kid, kid_std = kid_from_features(features, reference)
    p = float(model.metadata.get("ada_p", 0.0)) if model.metadata else 0.0
    print(
        f"{name}: {steps} steps × 16 = {steps * 16} images in {seconds:.0f} s ({steps * 16 / seconds:.1f} img/s); "
        f"FID {fid:.1f}, KID {kid * 1000:.1f} ± {kid_std * 1000:.1f} ×10⁻³; ADA p {p:.3f}; run {run}"
    )
    return model_dir


def print_fid_curve(name: str, metrics: Path, batch: int) -> None:
    """The run's FID during training (100 samples against 100 training images) per thousand images shown."""
    import csv

    with metrics.open(newline="", encoding="utf-8") as stream:
        rows = [row for row in csv.DictReader(stream) if row.get("fid")]
    points = [f"{int(row['step']) * batch / 1000:.1f} kimg {float(row['fid']):.0f}" for row in rows]
    print(f"{name}: FID during training (100 vs 100 training images): " + ", ".join(points))


def project_photos(model_dir: Path) -> None:
    import matplotlib
    from PIL import Image
    from skimage import data as skdata

    from ageshift.latent import ProjectionConfig, project_images
    from ageshift.latent.projection import align_for_generator
    from ageshift.latent.scoring import packaged_identity_distance
    from ageshift.latent.stylegan import load_stylegan_latent

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos = {
        "astronaut": Image.fromarray(skdata.astronaut()),
        "grace_hopper": Image.open(hopper).convert("RGB"),
    }
    generator = load_stylegan_latent(model_dir, "w+")
    distance = packaged_identity_distance()
    for name, photo in photos.items():
        target, aligned = align_for_generator(photo, 128)
        small = F.interpolate(target, size=generator.image_size, mode="bilinear", antialias=True)
        result = project_images(
            generator, small, ProjectionConfig(steps=300, learning_rate=0.1), progress=False
        )
        big = F.interpolate(result.reconstructions, size=128, mode="bilinear", align_corners=False)
        identity = float(distance(target, big)[0])
        print(
            f"project {name}: face {'found' if aligned else 'not found'}; PSNR {float(result.psnr[0]):.1f} dB at "
            f"{generator.image_size}²; dlib identity distance {identity:.2f}"
        )


def toonify(work: Path, steps: int, ada_speed: float, out: Path) -> None:
    """Fine-tune the ``full`` model on procedural synthetic faces (the offline "cartoon" style), then stylize
    the astronaut with the layer-swap blend and save the result as a small JPEG."""
    from PIL import Image
    from skimage import data as skdata

    from ageshift.data.synthetic import make_synthetic_dataset
    from ageshift.latent import ProjectionConfig
    from ageshift.latent.stylegan import load_stylegan_latent
    from ageshift.latent.toonify import stylize_photo
    from ageshift.training import export_run, train, train_config

    style = work / "style"
    if not (style / "trainA").is_dir():
        make_synthetic_dataset(style, count=300, size=32, seed=0)
    base = work / "model-full"
    config = train_config(
        "fast",
        family="stylegan",
        overrides={
            "model": {"init_from": str(base), "ada_speed_images": ada_speed},
            "stages": [{"size": 32, "batch_size": 16, "steps": steps}],
            "checkpoint_every": steps,
            "sample_every": steps,
        },
    )
    runs = work / "runs-style"
    shutil.rmtree(runs, ignore_errors=True)
    start = time.perf_counter()
    run = train(config, style, runs, quiet=True, tensorboard=False, handle_signals=False)
    tuned = work / "model-style"
    shutil.rmtree(tuned, ignore_errors=True)
    export_run(run, tuned)
    print(f"toonify: fine-tuned {steps} steps on 300 synthetic faces in {time.perf_counter() - start:.0f} s")
    photo = work / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(photo)
    for swap_at in (8, 16):
        result = work / f"toon-{swap_at}.png"
        report = stylize_photo(
            photo,
            load_stylegan_latent(base, "w+"),
            load_stylegan_latent(tuned, "w+"),
            result,
            swap_at,
            ProjectionConfig(steps=300, learning_rate=0.1),
            progress=False,
        )
        print(f"toonify swap-at {swap_at}: projection PSNR {report.psnr:.1f} dB; {result}, {report.strip}")
    strip = Image.open(work / "toon-8_strip.png")
    strip = strip.resize((strip.width * 4, strip.height * 4), Image.Resampling.NEAREST)
    out.parent.mkdir(parents=True, exist_ok=True)
    strip.convert("RGB").save(out, quality=85)
    print(f"toonify: wrote {out} ({out.stat().st_size // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/stylegan-bench"))
    parser.add_argument("--train-images", type=int, default=5000)
    parser.add_argument("--held-out", type=int, default=500)
    parser.add_argument("--small-images", type=int, default=1000, help="images in the ada / noada runs")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--fid-images", type=int, default=500)
    # The paper's 500k images for p to go 0 → 1 suits 25M-image runs; a CPU budget of ~10k images needs faster.
    parser.add_argument("--ada-speed", type=float, default=20000.0)
    parser.add_argument("--toonify-steps", type=int, default=150)
    parser.add_argument("--toonify-image", type=Path, default=Path("docs/images/toonify_astronaut.jpg"))
    parser.add_argument("--only", nargs="*", default=["full", "ada", "noada", "project"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    from ageshift.evaluation.fid import InceptionFeatures

    args.work.mkdir(parents=True, exist_ok=True)
    train_dir, held_dir, _ = make_data(args.work, args.train_images, args.held_out, 32)
    reference_file = args.work / "reference.npy"
    if not reference_file.is_file():
        np.save(reference_file, InceptionFeatures()(load_folder(held_dir, args.held_out)))
    reference = np.load(reference_file)
    if "full" in args.only:
        train_and_score(
            "full", train_dir, args.work, args.steps, reference, args.fid_images, "ada", args.ada_speed
        )
    small_dir = subset_folder(args.work, train_dir, args.small_images)
    small = "1k" if args.small_images == 1000 else str(args.small_images)
    if "ada" in args.only:
        train_and_score(
            f"{small}-ada" + ("" if args.ada_speed == 20000.0 else f"-speed{args.ada_speed:g}"),
            small_dir,
            args.work,
            args.steps,
            reference,
            args.fid_images,
            "ada",
            args.ada_speed,
        )
    if "noada" in args.only:
        train_and_score(
            f"{small}-noada",
            small_dir,
            args.work,
            args.steps,
            reference,
            args.fid_images,
            "none",
            args.ada_speed,
        )
    if "project" in args.only and (args.work / "model-full").is_dir():
        project_photos(args.work / "model-full")
    if "toonify" in args.only and (args.work / "model-full").is_dir():
        toonify(args.work, args.toonify_steps, args.ada_speed, args.toonify_image)


if __name__ == "__main__":
    main()
