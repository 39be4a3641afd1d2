"""Benchmark the face pipeline: decode → detect → align → translate → paste → encode, per stage.

Runs on a ~1-megapixel photo with one face (built from scikit-image's astronaut), with CycleGAN generators of
the ``fast`` and ``paper`` presets (random weights: only the timing matters), and measures peak memory
(RSS) for a 50-megapixel photo in a fresh process. Prints medians over repeats; the CPU may be shared.

    .venv/bin/python benchmarks/bench_faces.py [--repeats 7] [--big-megapixels 50]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

STAGES = ("decode", "detect", "align", "translate", "paste", "encode")


def make_photo(path: Path, megapixels: float) -> Path:
    """A JPEG of about ``megapixels`` (4:3) with the astronaut's face filling about a third of its height."""
    from PIL import Image
    from skimage import data

    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    canvas = Image.new("RGB", (width, height), (96, 120, 150))
    face = Image.fromarray(data.astronaut()).crop((100, 0, 400, 300))
    side = height // 2
    canvas.paste(face.resize((side, side), Image.Resampling.BICUBIC), (width // 3, height // 4))
    canvas.save(path, quality=92)
    return path


def build_translator(preset: str):
    """A CycleGAN translator of ``preset`` with random weights (``identity`` for the built-in one)."""
    import ageshift
    from ageshift.config import to_dict
    from ageshift.models.translator import TwoDomainTranslator

    if preset == "identity":
        return ageshift.load("identity")
    model = ageshift.create_model("cyclegan", preset=preset)
    return TwoDomainTranslator(model.generators(), "cyclegan", to_dict(model.config), model.config.image_size)


class _StageClock:
    """Wall and CPU seconds per stage: on a shared machine CPU time shows the work, wall time the wait."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.times[stage] = time.perf_counter() - wall
        self.times[f"{stage}_cpu"] = time.process_time() - cpu


def run_once(path: Path, translator, detector) -> dict[str, float]:
    """One end-to-end pass with each stage timed separately (seconds)."""
    from ageshift.faces import AlignmentSpec, align_face, detect_faces, filter_detections
    from ageshift.faces.blend import face_mask, paste_face
    from ageshift.io import load_image

    stage = _StageClock()
    spec = AlignmentSpec.from_metadata(translator.metadata, translator.image_size)
    with stage("decode"):
        photo = load_image(path)
    with stage("detect"):
        faces = filter_detections(detect_faces(photo, detector, 1024, 40), 40, 0.9, 10)
    with stage("align"):
        aligned = [align_face(photo, face, spec) for face in faces]
    with stage("translate"):
        translated = translator.translate([a.crop for a in aligned], "older") if aligned else []
    with stage("paste"):
        mask = face_mask(spec.size, spec.points())
        for crop, face in zip(translated, aligned, strict=True):
            paste_face(photo, crop, mask, face)
    with stage("encode"):
        photo.save(io.BytesIO(), format="JPEG", quality=92)
    times = stage.times
    times["total"] = sum(times[s] for s in STAGES)
    times["total_cpu"] = sum(times[f"{s}_cpu"] for s in STAGES)
    times["faces"] = len(faces)
    return times


def time_presets(photo: Path, presets: list[str], repeats: int) -> dict[str, dict[str, float]]:
    from ageshift.faces import create_detector

    detector = create_detector("mtcnn")
    results = {}
    for preset in presets:
        translator = build_translator(preset)
        run_once(photo, translator, detector)  # warm-up: onnxruntime and torch allocate on first use
        runs = [run_once(photo, translator, detector) for _ in range(repeats)]
        results[preset] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return results


def _resident_mb(field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (current) of this process in MB, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024
    return float("nan")


def measure_big(photo: Path, preset: str) -> None:
    """Child-process body: one ``age_photo`` on ``photo``; prints baseline and peak RSS (MB), seconds, faces."""
    from ageshift.faces import age_photo, create_detector
    from ageshift.io import load_image, save_image

    translator, detector = build_translator(preset), create_detector("mtcnn")
    baseline = _resident_mb("VmHWM")
    start = time.perf_counter()
    image = load_image(photo)
    result = age_photo(image, translator, "older", detector=detector, in_place=True)
    save_image(result.image, photo.with_suffix(".out.jpg"))
    seconds = time.perf_counter() - start
    print(baseline, _resident_mb("VmHWM"), seconds, len(result.faces))


def peak_memory(photo: Path, preset: str, threads: int) -> dict[str, float]:
    """Run :func:`measure_big` in a fresh process (its peak RSS is its own, not this process's)."""
    command = [
        sys.executable,
        __file__,
        "--measure-big",
        str(photo),
        "--presets",
        preset,
        "--threads",
        str(threads),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    base, peak, seconds, faces = (float(v) for v in output.split()[-4:])
    return {"baseline_mb": base, "peak_mb": peak, "seconds": seconds, "faces": faces}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--big-megapixels", type=float, default=50.0, help="0 to skip the memory run")
    parser.add_argument("--presets", default="fast,paper")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--measure-big", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    import torch

    torch.set_num_threads(arguments.threads)
    if arguments.measure_big:
        measure_big(arguments.measure_big, arguments.presets)
        return
    with tempfile.TemporaryDirectory() as folder:
        photo = make_photo(Path(folder) / "photo.jpg", arguments.megapixels)
        results = time_presets(photo, arguments.presets.split(","), arguments.repeats)
        for preset, times in results.items():
            stages = "  ".join(f"{s} {times[s] * 1000:6.1f}" for s in STAGES)
            cpu = "  ".join(f"{s} {times[s + '_cpu'] * 1000:6.1f}" for s in STAGES)
            print(
                f"{preset:>6} wall: {times['total'] * 1000:7.1f} ms | {stages} ms | faces {times['faces']:.0f}"
            )
            print(f"{preset:>6}  cpu: {times['total_cpu'] * 1000:7.1f} ms | {cpu} ms")
        if arguments.big_megapixels > 0:
            big = make_photo(Path(folder) / "big.jpg", arguments.big_megapixels)
            memory = peak_memory(big, "fast", arguments.threads)
            raw_mb = arguments.big_megapixels * 1e6 * 3 / 2**20
            print(
                f"{arguments.big_megapixels:.0f} MP photo (fast): peak RSS {memory['peak_mb']:.0f} MB "
                f"(after imports {memory['baseline_mb']:.0f} MB; one RGB copy of the photo is {raw_mb:.0f} MB), "
                f"{memory['seconds']:.1f} s, faces {memory['faces']:.0f}"
            )
            results["memory"] = memory
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
