"""Benchmark the re-aging student (``reager``) against its teacher and against the ``paper`` CycleGAN.

Parts:
- ``cost``: multiply-accumulates and ms per 256² face (resize to the student's size, the U-Net, the change
  upscaled and added at 256²) on 1 and 2 threads, next to the ``paper`` CycleGAN generator at 256² (random
  weights: speed does not depend on them).
- ``quality`` (needs ``--teacher``, ``--student``, ``--faces``): on the held-out synthetic faces
  (``FACES/test``), for target ages 25/40/55/70, the target-versus-measured age error (the synthetic data's
  measurable age cue, ``ageshift.data.synthetic.measure_age_cue``) and the identity drift (the synthetic
  identity descriptor's distance between input and output, ``ageshift.data.synthetic_identity``) of teacher and
  student, and the student's mean absolute difference from the teacher.
- ``latent`` (needs ``--student`` distilled from a latent teacher, e.g. ``ageshift distill dcgan``): on 60 fresh
  latents of the student's teacher (its generator and age direction, read from the student's config), for the same
  target ages, the packaged estimator's age error of the teacher's renders and of the student's outputs, the dlib
  identity distance input → output of both, and the student's mean absolute difference from the teacher.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_reager.py --part cost
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_reager.py --part quality \
        --teacher TEACHER --student STUDENT --faces FACES
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_reager.py --part latent --student STUDENT
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

TARGETS = (25.0, 40.0, 55.0, 70.0)


def milliseconds(function, repeats: int = 30) -> float:
    """Median wall time of ``function()`` in ms after three warm-up calls."""
    for _ in range(3):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def run_cost(student_folder: str | None) -> list[dict]:
    from ageshift.config import to_dict
    from ageshift.models.cyclegan.family import CycleGANFamily
    from ageshift.models.reager import ReagerFamily, ReagerTranslator, ReagerUNet, count_macs

    if student_folder:
        import ageshift

        student = ageshift.load(student_folder)
    else:
        config = ReagerFamily.model_config("fast")
        student = ReagerTranslator(ReagerUNet(config.channels), to_dict(config), config.image_size)
    network = student.networks["student"]
    cyclegan = CycleGANFamily.build(CycleGANFamily.model_config("paper")).generator_older.eval()
    face = torch.rand(1, 3, 256, 256) * 2 - 1
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            student_ms = milliseconds(lambda: student.translate(face, target_age=60.0, current_age=30.0))
            network_ms = milliseconds(
                lambda: network(torch.zeros(1, 5, student.image_size, student.image_size))
            )
            cyclegan_ms = milliseconds(lambda: cyclegan(face), repeats=5)
        rows.append({
            "threads": threads,
            "student_size": student.image_size,
            "student_macs_per_face": count_macs(network, student.image_size),
            "cyclegan_paper_macs_per_face": count_macs(cyclegan, 256),
            "student_ms_per_256_face": round(student_ms, 2),
            "student_network_ms": round(network_ms, 2),
            "cyclegan_paper_ms_per_256_face": round(cyclegan_ms, 1),
        })  # fmt: skip
        rows[-1]["macs_ratio"] = round(
            rows[-1]["cyclegan_paper_macs_per_face"] / rows[-1]["student_macs_per_face"], 1
        )
    return rows


def run_quality(teacher_folder: str, student_folder: str, faces_folder: str) -> list[dict]:
    import ageshift
    from ageshift.data.synthetic import measure_age_cue
    from ageshift.data.synthetic_identity import identity_distance, measure_identity
    from ageshift.models.reager.data import held_out_faces

    teacher, student = ageshift.load(teacher_folder), ageshift.load(student_folder)
    faces = torch.from_numpy(held_out_faces(Path(faces_folder), teacher.image_size))
    own = measure_identity(faces)
    current = teacher.estimate(faces)["age"] if hasattr(teacher, "estimate") else None
    rows = []
    for target in TARGETS:
        taught = teacher.translate(faces, target_age=target)
        learnt = student.translate(faces, target_age=target, current_age=current)
        row = {"target_age": target}
        for name, output in (("teacher", taught), ("student", learnt)):
            row[f"{name}_age_error"] = round(float(np.abs(measure_age_cue(output) - target).mean()), 2)
            row[f"{name}_identity_drift"] = round(
                float(identity_distance(own, measure_identity(output)).mean()), 4
            )
        row["student_vs_teacher_l1"] = round(float((learnt - taught).abs().mean()), 4)
        rows.append(row)
    return rows


def run_latent(student_folder: str, count: int = 60) -> list[dict]:
    import ageshift
    from ageshift.latent.scoring import packaged_age_function, packaged_identity_distance
    from ageshift.models.reager.config import ReagerConfig
    from ageshift.models.reager.latent_teacher import LatentTeacher

    student = ageshift.load(student_folder)
    config = ReagerConfig(**{**student.model_config, "image_size": student.image_size})
    teacher = LatentTeacher(config, progress=False)
    ages, identity = packaged_age_function(), packaged_identity_distance()
    latents = teacher.generator.sample_latents(count, torch.Generator().manual_seed(12345))
    rows = []
    for target in TARGETS:
        pairs = teacher.pairs_at(latents, torch.full((count,), target), teacher.generator.image_size)
        faces = pairs["images"]
        learnt = student.translate(faces, target_age=pairs["target_age"], current_age=pairs["current_age"])
        row = {"target_age": target, "mean_current_age": round(float(pairs["current_age"].mean()), 1),
               "mean_aimed_age": round(float(pairs["target_age"].mean()), 1)}  # fmt: skip
        for name, output in (("teacher", pairs["targets"]), ("student", learnt)):
            row[f"{name}_age_error"] = round(float(np.abs(ages(output) - target).mean()), 2)
            row[f"{name}_identity_drift"] = round(float(np.mean(identity(faces, output))), 4)
        row["student_vs_teacher_l1"] = round(float((learnt - pairs["targets"]).abs().mean()), 4)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("cost", "quality", "latent", "all"), default="cost")
    parser.add_argument("--teacher", help="teacher model folder (quality)")
    parser.add_argument(
        "--student", help="student model folder (quality; cost: instead of the default student)"
    )
    parser.add_argument("--faces", help="synthetic FACES folder with test/ (quality)")
    args = parser.parse_args()
    if args.part in ("cost", "all"):
        for row in run_cost(args.student):
            print(json.dumps(row))
    if args.part in ("quality", "all"):
        if not (args.teacher and args.student and args.faces):
            parser.error("--part quality needs --teacher, --student and --faces")
        torch.set_num_threads(1)
        for row in run_quality(args.teacher, args.student, args.faces):
            print(json.dumps(row))
    if args.part == "latent":
        if not args.student:
            parser.error("--part latent needs --student")
        torch.set_num_threads(1)
        for row in run_latent(args.student):
            print(json.dumps(row))


if __name__ == "__main__":
    main()
