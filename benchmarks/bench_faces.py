"""Benchmark the face pipeline: decode → detect → align → translate → paste → encode, per stage.

Runs on a ~1-megapixel photo with one face (built from scikit-image's astronaut), with CycleGAN generators of
the ``fast`` and ``paper`` presets and the ``reager`` student (``fast`` preset; random weights: only the timing
matters; the student is given the current age, so no age estimator runs; ``reager-onnx`` is the same student
exported to ONNX and run by onnxruntime), and measures peak memory (RSS) for a
50-megapixel photo in a fresh process. Every stage is reported as the minimum over the repeats of its wall time
and of this process's CPU time (the minimum is the figure least disturbed by a shared machine).

``--detect-sizes 40,64,80`` also times detection alone on the 1-MP photo for each smallest face size (pixels);
``--photos DIR`` runs the detector on every JPEG in ``DIR`` (for example the group photos of
``@vladmandic/face-api``'s ``demo/``, which are not in the repository), at full size and scaled to 1 megapixel,
and prints the faces found and the time (compare a run before and after a detector change); with a detector other
than MTCNN it also counts how many of MTCNN's faces it found (IoU ≥ 0.5).

``--detector blazeface`` (or ``blazeface:front``) times the whole path with the BlazeFace detector; its graphs come
from a user's copy (``$AGESHIFT_BLAZEFACE``, see ``ageshift.faces.blazeface``).

    .venv/bin/python benchmarks/bench_faces.py [--repeats 15] [--big-megapixels 50] [--photos DIR] [--detector D]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
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
    """A CycleGAN translator of ``preset`` with random weights (``identity`` for the built-in one, ``reager`` for
    the fast re-aging student)."""
    import ageshift
    from ageshift.config import to_dict
    from ageshift.models.translator import TwoDomainTranslator

    if preset == "identity":
        return ageshift.load("identity")
    if preset in ("reager", "reager-onnx"):
        from ageshift.models.reager.translator import ReagerTranslator

        student = ageshift.create_model("reager", preset="fast")
        config = student.config  # type: ignore[attr-defined]
        translator = ReagerTranslator(student.student.eval(), to_dict(config), config.image_size)  # type: ignore[attr-defined]
        if preset == "reager":
            return translator
        # The same student on onnxruntime (`ageshift export-onnx`, then `--backend onnxruntime`).
        import torch

        from ageshift.onnx.export import export_onnx
        from ageshift.onnx.runtime import load_onnx

        folder = Path(tempfile.mkdtemp(prefix="bench-faces-"))
        translator.save_pretrained(folder)
        export_onnx(translator, folder)
        return load_onnx(folder, threads=torch.get_num_threads())
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
    if getattr(translator, "predicts_delta", False):  # the student: its change, added at the face's real size
        import torch

        from ageshift.faces.delta import paste_delta
        from ageshift.image import pil_to_tensor

        with stage("translate"):
            crops = torch.stack([pil_to_tensor(a.crop) for a in aligned])
            deltas = translator.predict_delta(crops, 70.0, 30.0)
        with stage("paste"):
            mask = face_mask(spec.size, spec.points())
            for delta, face in zip(deltas, aligned, strict=True):
                paste_delta(photo, delta.permute(1, 2, 0).numpy() * 127.5, mask, face)
    else:
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


def make_detector(spec: str):
    """``mtcnn``, ``dlib``, ``blazeface`` or ``blazeface:front``: the detector a benchmark row uses."""
    from ageshift.faces import create_detector

    return create_detector(spec)


def time_presets(
    photo: Path, presets: list[str], repeats: int, detector_spec: str
) -> dict[str, dict[str, float]]:
    detector = make_detector(detector_spec)
    results = {}
    for preset in presets:
        translator = build_translator(preset)
        run_once(photo, translator, detector)  # warm-up: onnxruntime and torch allocate on first use
        runs = [run_once(photo, translator, detector) for _ in range(repeats)]
        results[preset] = {key: min(run[key] for run in runs) for key in runs[0]}
    return results


def time_detection(
    photo: Path, sizes: list[float], repeats: int, detector_spec: str
) -> dict[str, dict[str, float]]:
    """Detection alone on ``photo`` for each smallest face size: minimum wall and CPU ms, faces found."""
    from ageshift.faces import detect_faces
    from ageshift.io import load_image

    detector, image = make_detector(detector_spec), load_image(photo)
    results = {}
    for size in sizes:
        runs = []
        for _ in range(repeats + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            faces = detect_faces(image, detector, 1024, size)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu, len(faces)))
        runs = runs[1:]  # the first run allocates
        results[f"{size:g}"] = {
            "wall_ms": min(r[0] for r in runs) * 1000, "cpu_ms": min(r[1] for r in runs) * 1000,
            "faces": runs[-1][2],
        }  # fmt: skip
    return results


def _matched(found, reference) -> int:
    """How many of the ``reference`` faces have a face in ``found`` with IoU ≥ 0.5."""
    import numpy as np

    from ageshift.faces.types import overlaps

    boxes = np.array([f.box for f in found], np.float64).reshape(-1, 4)
    return sum(bool((overlaps(np.asarray(r.box, np.float64), boxes) >= 0.5).any()) for r in reference)


def detect_photos(folder: Path, repeats: int, detector_spec: str) -> dict[str, dict[str, float]]:
    """Faces found (pipeline defaults: copy ≤ 1024 px, faces ≥ 40 px) and minimum wall ms on each JPEG of
    ``folder``, at full size and scaled to 1 megapixel; for a detector other than MTCNN, also how many of MTCNN's
    faces it found."""
    from PIL import Image

    from ageshift.faces import detect_faces
    from ageshift.io import load_image

    detector, results = make_detector(detector_spec), {}
    reference = None if detector_spec == "mtcnn" else make_detector("mtcnn")
    for path in sorted(folder.glob("*.jp*g")):
        photo = load_image(path)
        scale = (1e6 / (photo.width * photo.height)) ** 0.5
        small = photo.resize(
            (round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS
        )
        for name, image in ((path.name, photo), (f"{path.name}@1MP", small)):
            walls, faces = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                faces = detect_faces(image, detector, 1024, 40)
                walls.append(time.perf_counter() - start)
            results[name] = {
                "faces": len(faces),
                "wall_ms": min(walls) * 1000,
                "sizes": [round(f.size) for f in faces],
            }
            if reference is not None:
                expected = detect_faces(image, reference, 1024, 40)
                results[name]["mtcnn_faces"] = len(expected)
                results[name]["mtcnn_matched"] = _matched(faces, expected)
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
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--big-megapixels", type=float, default=50.0, help="0 to skip the memory run")
    parser.add_argument("--presets", default="fast,reager,paper")
    parser.add_argument("--detect-sizes", default="40,64,80", help="smallest face sizes to time detection at")
    parser.add_argument(
        "--photos", type=Path, help="a folder of photos to count faces in (e.g. group photos)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--detector", default="mtcnn", help="mtcnn, dlib, blazeface or blazeface:front")
    parser.add_argument("--measure-big", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    import torch

    torch.set_num_threads(arguments.threads)
    if arguments.measure_big:
        measure_big(arguments.measure_big, arguments.presets)
        return
    with tempfile.TemporaryDirectory() as folder:
        photo = make_photo(Path(folder) / "photo.jpg", arguments.megapixels)
        results = time_presets(photo, arguments.presets.split(","), arguments.repeats, arguments.detector)
        for preset, times in results.items():
            stages = "  ".join(f"{s} {times[s] * 1000:6.1f}" for s in STAGES)
            cpu = "  ".join(f"{s} {times[s + '_cpu'] * 1000:6.1f}" for s in STAGES)
            print(
                f"{preset:>6} wall: {times['total'] * 1000:7.1f} ms | {stages} ms | faces {times['faces']:.0f}"
            )
            print(f"{preset:>6}  cpu: {times['total_cpu'] * 1000:7.1f} ms | {cpu} ms")
        sizes = [float(v) for v in arguments.detect_sizes.split(",") if v]
        detection = time_detection(photo, sizes, arguments.repeats, arguments.detector)
        for size, row in detection.items():
            print(
                f"detect only, faces >= {size} px: {row['wall_ms']:6.1f} ms wall, {row['cpu_ms']:6.1f} ms cpu, "
                f"faces {row['faces']}"
            )
        results["detect_sizes"] = detection
        if arguments.photos:
            found = detect_photos(arguments.photos, max(3, arguments.repeats // 5), arguments.detector)
            for name, row in found.items():
                versus = (
                    f" (MTCNN's: {row['mtcnn_matched']}/{row['mtcnn_faces']})" if "mtcnn_faces" in row else ""
                )
                print(f"{name:>18}: {row['faces']} faces {row['sizes']}{versus}, {row['wall_ms']:6.1f} ms")
            results["photos"] = found
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
