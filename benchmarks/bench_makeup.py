"""Makeup transfer (beautygan family): train on procedural faces, measure on held-out pairs and on real photos.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_makeup.py --steps 600 --work /tmp/makeup-bench

1. ``ageshift prepare makeup --synthetic``: ``--count`` bare faces and as many others wearing lipstick, eye shadow
   and blush (10 % held out), at ``--size``.
2. The shared trainer, ``fast`` preset (``--region-weights`` to change the makeup loss per region), ``--steps``
   steps (wall time and images/s printed).
3. Held-out pairs (new people): median CIE76 ΔE of lips, eye shadow and skin to the reference before and after,
   synthetic identity distance (same person < 0.3; two people ~1.2), change outside the makeup regions.
4. Real public-domain photos (astronaut, Grace Hopper): each wears the other's makeup through the face pipeline
   (``makeup_photo``). Region colours are measured on the aligned crops with dlib's 68 landmarks, identity with
   dlib's descriptor; a before / reference / after sheet is written to ``--sheet`` (docs/images/makeup_sheet.jpg).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch
from PIL import Image


def real_photos() -> dict[str, Image.Image]:
    import matplotlib
    from skimage import data as skdata

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return {
        "astronaut": Image.fromarray(skdata.astronaut()),
        "grace_hopper": Image.open(hopper).convert("RGB"),
    }


def real_photo_figures(model_dir: Path, sheet: Path) -> None:
    """Each photo wearing the other's makeup: region ΔE on aligned crops and dlib identity distance."""
    import ageshift
    from ageshift.data.synthetic_makeup import delta_e, region_colours
    from ageshift.faces.makeup import makeup_photo, reference_face
    from ageshift.faces.regions import face_regions
    from ageshift.image import pil_to_tensor
    from ageshift.latent.scoring import packaged_identity_distance

    model = ageshift.load(model_dir)
    photos = real_photos()
    distance = packaged_identity_distance()
    rows = []
    for source, reference in (("astronaut", "grace_hopper"), ("grace_hopper", "astronaut")):
        result = makeup_photo(photos[source], model, photos[reference])
        face = result.faces[0]
        before, after = face.aligned.crop, face.translated
        target = reference_face(photos[reference], model)
        big = 256
        points, _ = face_regions(before.resize((big, big), Image.Resampling.BICUBIC))
        reference_points, _ = face_regions(target.resize((big, big), Image.Resampling.BICUBIC))
        colours = {
            name: region_colours(crop.resize((big, big), Image.Resampling.BICUBIC), landmarks)
            for name, crop, landmarks in (
                ("before", before, points), ("after", after, points), ("reference", target, reference_points),
            )
        }  # fmt: skip
        parts = []
        for region in ("lips", "eyes", "skin"):
            want = colours["reference"][region]
            first, last = colours["before"][region], colours["after"][region]
            if want is not None and first is not None and last is not None:
                parts.append(f"{region} ΔE {delta_e(first, want):.1f} → {delta_e(last, want):.1f}")
        crops = [pil_to_tensor(crop.resize((128, 128), Image.Resampling.BICUBIC)) for crop in (before, after)]
        identity = float(distance(crops[0][None], crops[1][None])[0])
        print(
            f"real {source} wearing {reference}'s makeup: {'; '.join(parts)}; dlib identity distance {identity:.3f}"
        )
        side = 192
        row = [img.resize((side, side), Image.Resampling.BICUBIC) for img in (before, target, after)]
        rows.append(row)
    canvas = Image.new("RGB", (3 * 192 + 8, len(rows) * 192 + 4 * (len(rows) - 1)), "white")
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            canvas.paste(image, (c * 196, r * 196))
    sheet.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(sheet, quality=88)
    print(f"sheet (rows: astronaut, Grace Hopper; columns: before, reference, after): {sheet}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/makeup-bench"))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument(
        "--region-weights",
        default="",
        help="model.region_weights as 'LIPS,EYES,SKIN' (default: the preset's)",
    )
    parser.add_argument("--sheet", type=Path, default=Path("docs/images/makeup_sheet.jpg"))
    parser.add_argument(
        "--skip-real", action="store_true", help="Leave out the real-photo figures and sheet."
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    import ageshift
    from ageshift.evaluation.makeup import evaluate_makeup
    from ageshift.models.beautygan.data import make_synthetic_makeup
    from ageshift.training import export_run, train, train_config

    data = args.work / "data"
    if not (data / "landmarks.json").is_file():
        make_synthetic_makeup(data, count=args.count, size=args.size, seed=0)
    model_overrides = {}
    if args.region_weights:
        model_overrides["region_weights"] = [float(value) for value in args.region_weights.split(",")]
    config = train_config(
        "fast",
        family="beautygan",
        overrides={
            "model": model_overrides,
            "stages": [{"size": args.size, "batch_size": args.batch, "steps": args.steps}],
            "sample_every": max(args.steps // 3, 1),
            "checkpoint_every": max(args.steps // 3, 1),
        },
    )
    runs = args.work / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    torch.manual_seed(0)
    start = time.perf_counter()
    run = train(config, data, runs, quiet=True, tensorboard=False, handle_signals=False)
    seconds = time.perf_counter() - start
    images = args.steps * args.batch
    print(
        f"trained {args.steps} steps × {args.batch} pairs at {args.size}² in {seconds:.0f} s ({images / seconds:.1f} pairs/s)"
    )
    model_dir = args.work / "model"
    shutil.rmtree(model_dir, ignore_errors=True)
    export_run(run, model_dir)
    figures = evaluate_makeup(
        ageshift.load(model_dir), data, args.work / "report", sections=("colour", "identity")
    )
    for region, values in figures["regions"].items():
        print(
            f"held-out {region}: median ΔE to the reference {values['before']:.1f} → {values['after']:.1f} "
            f"({values['ratio']:.0%} of before)"
        )
    for region, values in figures["removal"].items():
        print(
            f"held-out {region} removed: median ΔE to bare faces {values['before']:.1f} → {values['after']:.1f} "
            f"({values['ratio']:.0%} of wearing)"
        )
    identity = figures["identity"]
    print(
        f"held-out identity (synthetic features): source→output {identity['source_to_output']:.3f}, "
        f"two different people {identity['different_people']:.3f}; outside the regions "
        f"{figures['outside_change_255']:.2f}/255 on {figures['pairs']} pairs"
    )
    if not args.skip_real:
        real_photo_figures(model_dir, args.sheet)


if __name__ == "__main__":
    main()
