"""Benchmark video aging: flicker with and without tracking/smoothing/stabilisation, ms per frame, peak memory.

Flicker: a clip is rendered from scikit-image's public-domain astronaut with known motion (pan, zoom, a slow
rotation and a brightness ramp). Each output frame is mapped back to the astronaut's coordinates through the
known motion (and the brightness ramp divided out); the flicker figure is the mean absolute change of the face
region between consecutive frames, in grey levels. The same figure for the input itself (resampling and codec
noise only) is the floor. The "model" is a ``fast`` CycleGAN with random weights (seeded): a fixed nonlinear
image-to-image network, as sensitive to crop jitter as an untrained GAN can be (no trained aging model ships).

Lag: the same clip with the mouth region darkened from the middle frame on; how far the stabilised mouth is
from the unstabilised one before and after that sudden change (does the stabilised edit follow at once?).

Speed: ms per frame at 1280×720 (decode → detect/track → align → translate → paste → encode, one face) with
the ``identity`` model and the ``fast`` and ``paper`` CycleGAN presets (random weights). Memory: peak RSS of a
fresh process aging 1920×1080 clips of several lengths (flat in length = bounded memory).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_video.py [--part flicker|lag|speed|memory|all]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REQUEST = {"direction": "older", "target_age": None, "attributes": None, "strength": None}
#: the model of the flicker part: ``fast`` (random weights) unless ``--model`` names a folder (``--target-age``)
MODEL = {"path": "fast"}
#: the astronaut's face region, in astronaut pixels, where flicker is measured
FACE_REGION = (180, 60, 290, 190)


def motion(t: int, size: tuple[int, int]) -> tuple[float, ...]:
    """Frame pixels → astronaut pixels at frame ``t`` (PIL affine coefficients): pan, zoom in, slow rotation."""
    scale = 1.6 / (1.0 + 0.006 * t)
    angle = np.deg2rad(4.0 * np.sin(t / 12.0))
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    centre = np.array([240.0 + 40 * np.sin(t / 20.0), 140.0 + 0.5 * t])
    offset = centre - np.array([[cos, -sin], [sin, cos]]) @ np.array([size[0] / 2, size[1] / 2])
    return (cos, -sin, offset[0], sin, cos, offset[1])


def brightness(t: int) -> float:
    """The brightness ramp applied to frame ``t``."""
    return 1.0 + 0.1 * np.sin(t / 15.0)


def make_clip(
    path: Path, frames: int, size: tuple[int, int], fps: float = 24.0, change: tuple[int, tuple] | None = None
) -> Path:
    """Render the known-motion astronaut clip; ``change=(frame, box)``: from that frame on, the astronaut's
    ``box`` region is darkened (a sudden "expression change" the edit must follow)."""
    from PIL import Image
    from skimage import data

    from ageshift.video.io import VideoWriter

    photo = Image.fromarray(data.astronaut())
    changed = photo.copy()
    if change is not None:
        region = changed.crop(change[1])
        changed.paste(Image.fromarray((np.asarray(region) * 0.4).astype(np.uint8)), change[1][:2])
    with VideoWriter(path, fps, size, quality=9) as writer:
        for t in range(frames):
            source = changed if change is not None and t >= change[0] else photo
            frame = source.transform(size, Image.Transform.AFFINE, motion(t, size), Image.Resampling.BICUBIC)
            writer.write(np.clip(np.asarray(frame, np.float32) * brightness(t), 0, 255).astype(np.uint8))
    return path


def undo_motion(
    path: Path, size: tuple[int, int], region: tuple[int, int, int, int] = FACE_REGION, grey: bool = True
) -> np.ndarray:
    """Every frame mapped back to astronaut coordinates (``region``, brightness divided out)."""
    from PIL import Image

    from ageshift.video.io import open_video

    x0, y0, x1, y1 = region
    undone = []
    with open_video(path) as (_, frames):
        for t, frame in enumerate(frames):
            a, b, c, d, e, f = motion(t, size)
            forward = np.linalg.inv(np.array([[a, b, c], [d, e, f], [0, 0, 1]]))  # astronaut → frame
            # region pixel q → astronaut (q + x0, y0) → frame
            local = forward @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]])
            image = Image.fromarray(frame).transform(
                (x1 - x0, y1 - y0),
                Image.Transform.AFFINE,
                tuple(local[:2].ravel()),
                Image.Resampling.BILINEAR,
            )
            undone.append(np.asarray(image.convert("L") if grey else image, np.float32) / brightness(t))
    return np.stack(undone)


def estimated_ages(path: Path, size: tuple[int, int], estimator) -> float:
    """Mean age the packaged estimator reads from every 4th frame's face (motion undone), in years."""
    from ageshift.evaluation.age import predict_crop_ages

    faces = undo_motion(path, size, (150, 20, 330, 230), grey=False)[::4]
    ages, _ = predict_crop_ages([np.clip(face, 0, 255).astype(np.uint8) for face in faces], estimator)
    return round(float(np.mean(ages)), 1)


def true_landmarks(detector) -> np.ndarray:
    """The astronaut's five landmarks on the still photo (astronaut pixels), found once."""
    from PIL import Image
    from skimage import data

    return detector.detect(Image.fromarray(data.astronaut()))[0].landmarks


def landmark_error(result, truth: np.ndarray, size: tuple[int, int]) -> float:
    """Mean distance of the tracked (smoothed) landmarks from the truth moved by the known motion, as a
    percentage of the eye distance (jitter and lag together)."""
    if not result.tracks:
        return float("nan")
    track = max(result.tracks, key=lambda item: len(item.frames))
    errors = []
    for t, landmarks in zip(track.frames, track.landmarks, strict=True):
        a, b, c, d, e, f = motion(t, size)
        forward = np.linalg.inv(np.array([[a, b, c], [d, e, f], [0, 0, 1]]))
        expected = truth @ forward[:2, :2].T + forward[:2, 2]
        eyes = np.linalg.norm(expected[1] - expected[0])
        errors.append(np.linalg.norm(landmarks - expected, axis=1).mean() / eyes)
    return round(100 * float(np.mean(errors)), 2)


def flicker(undone: np.ndarray) -> float:
    """Mean absolute frame-to-frame change, grey levels."""
    return float(np.abs(np.diff(undone, axis=0)).mean())


def build_translator(preset: str):
    """``identity``, a model folder, or a CycleGAN of ``preset`` with seeded random weights."""
    import torch

    import ageshift
    from ageshift.config import to_dict
    from ageshift.models.translator import TwoDomainTranslator

    if preset == "identity" or Path(preset).is_dir():
        return ageshift.load(preset)
    torch.manual_seed(0)
    model = ageshift.create_model("cyclegan", preset=preset)
    return TwoDomainTranslator(model.generators(), "cyclegan", to_dict(model.config), model.config.image_size)


def run_flicker(
    frames: int, size: tuple[int, int], configs: list[tuple[str, int, float, float]]
) -> list[dict]:
    """Flicker of the input and of each ``(name, detect_every, smooth, stabilise)`` configuration."""
    from ageshift.evaluation.age import create_age_estimator
    from ageshift.faces import create_detector
    from ageshift.video.pipeline import age_video

    translator = build_translator(MODEL["path"])
    detector = create_detector("mtcnn")
    estimator = create_age_estimator("packaged")
    truth = true_landmarks(detector)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "clip.mp4", frames, size)
        source = undo_motion(clip, size)
        rows.append({"config": "input (floor)", "flicker": round(flicker(source), 3),
                     "age": estimated_ages(clip, size, estimator)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
        for name, every, smooth, stabilise in configs:
            out = Path(folder) / f"{name}.mp4"
            start = time.perf_counter()
            result = age_video(
                clip, out, translator, REQUEST, detector=detector, detect_every=every, smooth=smooth,
                stabilise=stabilise, min_face_size=30,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            undone = undo_motion(out, size)
            rows.append({
                "config": name, "detect_every": every, "smooth": smooth, "stabilise": stabilise,
                "flicker": round(flicker(undone), 3), "edit": round(float(np.abs(undone - source).mean()), 2),
                "ms_per_frame": round(1000 * seconds / frames, 1), "age": estimated_ages(out, size, estimator),
                "landmark_error_pct": landmark_error(result, truth, size),
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def run_lag(frames: int, size: tuple[int, int], weights: list[float]) -> list[dict]:
    """How fast the stabilised edit follows a sudden change: the mouth region darkens at frame ``frames // 2``;
    per stabilise weight, the mean distance (grey levels, motion undone) of the mouth region from the
    unstabilised output in the frames after the change, against the same before it."""
    from ageshift.faces import create_detector
    from ageshift.video.pipeline import age_video

    translator = build_translator("fast")
    detector = create_detector("mtcnn")
    mouth = true_landmarks(detector)[3:].mean(0)
    box = (int(mouth[0] - 30), int(mouth[1] - 14), int(mouth[0] + 30), int(mouth[1] + 14))
    at = frames // 2
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "change.mp4", frames, size, change=(at, box))
        undone = {}
        for weight in [0.0, *weights]:
            out = Path(folder) / f"{weight}.mp4"
            age_video(clip, out, translator, REQUEST, detector=detector, stabilise=weight, min_face_size=30)
            undone[weight] = undo_motion(out, size, box)
        for weight in weights:
            gap = np.abs(undone[weight] - undone[0.0]).mean((1, 2))
            rows.append({
                "stabilise": weight, "before_change": round(float(gap[at - 8 : at].mean()), 2),
                "after_change_frames_1_to_4": [round(float(v), 2) for v in gap[at : at + 4]],
                "after_change_frames_5_to_12": round(float(gap[at + 4 : at + 12].mean()), 2),
            })  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def run_speed(frames: int) -> list[dict]:
    """ms per frame at 1280×720, whole path, for ``identity`` and ``fast``."""
    from ageshift.faces import create_detector
    from ageshift.video.pipeline import age_video

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "720p.mp4", frames, (1280, 720))
        for preset in ("identity", "fast", "paper"):
            translator = build_translator(preset)
            detector = create_detector("mtcnn")
            start = time.perf_counter()
            result = age_video(clip, Path(folder) / f"{preset}.mp4", translator, REQUEST, detector=detector)
            seconds = time.perf_counter() - start
            faces = sum(len(track.frames) for track in result.tracks)
            rows.append({"model": preset, "frames": result.frames, "face_frames": faces,
                         "ms_per_frame": round(1000 * seconds / result.frames, 1)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _memory_child(seconds: float) -> None:
    """In a fresh process: age a 1080p astronaut clip of ``seconds`` (with a tone track); print peak RSS."""
    import imageio_ffmpeg
    import torch
    from PIL import Image
    from skimage import data

    from ageshift.video.pipeline import age_video

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        still = Path(folder) / "still.png"
        Image.fromarray(data.astronaut()).resize((1080, 1080)).save(still)
        clip = Path(folder) / "long.mp4"
        # ffmpeg makes the long clip (a slowly panning still) so that making it costs this process nothing
        overlay = "[0:v][1:v]overlay=x='420+200*sin(t)':y=0,format=yuv420p[v]"
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-f", "lavfi", "-i",
             "color=c=0x607890:s=1920x1080:r=24", "-loop", "1", "-framerate", "24", "-i", still,
             "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds), "-filter_complex", overlay,
             "-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-crf", "20", "-c:a", "aac", clip],
            check=True,
        )  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        result = age_video(clip, Path(folder) / "out.mp4", build_translator("identity"), REQUEST)
        seconds_taken = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "frames": result.frames, "peak_rss_mb": round(peak / 1024, 1),
                      "rss_before_mb": round(before / 1024, 1),
                      "ms_per_frame": round(1000 * seconds_taken / result.frames, 1)}))  # fmt: skip


def run_memory(lengths: list[float]) -> list[dict]:
    """Peak RSS of the Python process for each clip length (ffmpeg child processes not included)."""
    rows = []
    for seconds in lengths:
        done = subprocess.run([sys.executable, __file__, "--memory-child", str(seconds)], capture_output=True,
                              text=True, check=True)  # fmt: skip
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


#: (name, detect_every, smooth, stabilise): frame by frame, then one knob at a time around the defaults
CONFIGS = [
    ("frame by frame", 1, 0.0, 0.0),
    *[(f"smooth {value:g}", 1, value, 0.0) for value in (0.5, 1.0, 2.0, 4.0)],
    *[(f"detect every {every}, smooth 1", every, 1.0, 0.0) for every in (3, 5, 10)],
    *[(f"detect every 5, smooth 1, stabilise {value:g}", 5, 1.0, value) for value in (0.4, 0.6, 0.8)],
    ("smooth 0, stabilise 0.6", 1, 0.0, 0.6),
]


def main() -> None:
    """Run the chosen parts and print one JSON line per measurement."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("flicker", "lag", "speed", "memory", "all"), default="all")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (2 on a quiet 2-core machine)")
    parser.add_argument("--model", help="flicker part: a trained model folder instead of the random CycleGAN")
    parser.add_argument("--target-age", type=float, help="with a conditional --model: the age to ask for")
    parser.add_argument("--frames", type=int, default=72, help="frames of the flicker clip (320×240)")
    parser.add_argument("--speed-frames", type=int, default=24)
    parser.add_argument("--lengths", default="5,20", help="seconds of the 1080p memory clips")
    parser.add_argument("--memory-child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        MODEL["path"] = args.model
        if args.target_age is not None:
            REQUEST.update(direction=None, target_age=args.target_age)
    if args.memory_child is not None:
        _memory_child(args.memory_child)
        return
    if args.part in ("flicker", "all"):
        run_flicker(args.frames, (320, 240), CONFIGS)
    if args.part in ("lag", "all"):
        run_lag(args.frames, (320, 240), [0.4, 0.6, 0.8])
    if args.part in ("speed", "all"):
        run_speed(args.speed_frames)
    if args.part in ("memory", "all"):
        run_memory([float(v) for v in args.lengths.split(",")])


if __name__ == "__main__":
    main()
