"""Super-resolution ×4 on public-domain photos none of us made: PSNR/SSIM and speed of every method.

Each photo (scikit-image ``astronaut``, ``coffee``, ``chelsea``; matplotlib's ``grace_hopper``) is cropped to a
multiple of 4, shrunk ×4 with PIL's bicubic filter (antialiased) and restored ×4 by bicubic, Lanczos, SRResNet
(``srresnet-x4``), SRGAN (``srgan-x4``) and Real-ESRGAN (``realesrgan-x4``). PSNR and SSIM are on RGB, ``[0, 1]``,
with 4 border pixels shaved (``ageshift.evaluation.image_metrics``). Speed is ms per output megapixel.

    OMP_NUM_THREADS=2 python benchmarks/bench_superres.py --threads 2 --precision fp32
    python benchmarks/bench_superres.py --memory realesrgan-x4   # peak RSS of a 12-MP ×4 output
    python benchmarks/bench_superres.py --faces                  # face-region PSNR, 64² crop pasted back

Numbers measured while other jobs share the CPU are noisy; say so when quoting them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image

MODELS = ("srresnet-x4", "srgan-x4", "realesrgan-x4")
SHAVE = 4


def photos() -> dict[str, np.ndarray]:
    """The four test photos as RGB uint8, cropped to multiples of 4."""
    from matplotlib import cbook
    from skimage import data

    with cbook.get_sample_data("grace_hopper.jpg") as stream:
        hopper = np.asarray(Image.open(stream).convert("RGB"))
    found = {
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "chelsea": data.chelsea(),
        "grace_hopper": hopper,
    }
    return {
        name: np.ascontiguousarray(p[: p.shape[0] // 4 * 4, : p.shape[1] // 4 * 4])
        for name, p in found.items()
    }


def metrics(output: np.ndarray, original: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) of two uint8 images with the border shaved."""
    from ageshift.evaluation.image_metrics import psnr, ssim

    def tensor(pixels: np.ndarray) -> torch.Tensor:
        cropped = pixels[SHAVE:-SHAVE, SHAVE:-SHAVE]
        return torch.from_numpy(np.array(cropped)).permute(2, 0, 1)[None].float() / 127.5 - 1

    first, second = tensor(output), tensor(original)
    return float(psnr(first, second)[0]), float(ssim(first, second)[0])


class _baseline:
    """Upscale with the unfused generator in plain fp32 eager mode over the whole image at once."""

    def __init__(self, model: object) -> None:
        self.generator = model.generator  # type: ignore[attr-defined]

    @torch.no_grad()
    def upscale(self, image: Image.Image) -> Image.Image:
        inputs = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1
        output = self.generator(inputs)[0].clamp(-1, 1)
        return Image.fromarray(((output + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())


def run(precision: str, clock: str = "wall") -> None:
    import ageshift

    images = photos()
    lows = {
        name: Image.fromarray(p).resize((p.shape[1] // 4, p.shape[0] // 4), Image.Resampling.BICUBIC)
        for name, p in images.items()
    }
    methods: dict[str, object] = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
    for name in MODELS:
        model = ageshift.load(name)
        model.precision = precision  # type: ignore[attr-defined]
        model.upscale(Image.new("RGB", (16, 16)))  # type: ignore[attr-defined]  (warm-up: oneDNN primitives)
        methods[name] = model
    # The throwaway port's way, for the speed comparison: eager fp32, BatchNorm unfused, NCHW, one pass.
    methods["srresnet-x4 baseline (eager fp32, one pass)"] = _baseline(methods["srresnet-x4"])
    rows = []
    for method, runner in methods.items():
        seconds, pixels, scores = 0.0, 0, []
        for photo, low in lows.items():
            timer = time.process_time if clock == "cpu" else time.perf_counter
            start = timer()
            if isinstance(runner, Image.Resampling):
                output = low.resize((low.width * 4, low.height * 4), runner)
            else:
                output = runner.upscale(low)  # type: ignore[attr-defined]
            seconds += timer() - start
            pixels += output.width * output.height
            scores.append((photo, *metrics(np.asarray(output), images[photo])))
        rows.append((method, scores, 1000 * seconds / (pixels / 1e6)))
        print(f"{method}: {rows[-1][2]:.0f} ms/MP", file=sys.stderr, flush=True)
    names = list(images)
    print(
        f"precision {precision}, {torch.get_num_threads()} thread(s), {clock} clock; PSNR dB / SSIM, {SHAVE}-px border shaved\n"
    )
    print("| method | " + " | ".join(names) + " | mean PSNR | ms per output MP |")
    print("|---" * (len(names) + 3) + "|")
    for method, scores, speed in rows:
        cells = [f"{p:.2f} / {s:.3f}" for _, p, s in scores]
        mean = np.mean([p for _, p, _ in scores])
        print(f"| {method} | " + " | ".join(cells) + f" | {mean:.2f} | {speed:.0f} |")


def memory(model_name: str, precision: str, threads: int) -> None:
    """Peak RSS of one ×4 upscale to a 4000×3000 (12-MP) output, in a fresh process."""
    code = f"""
import resource, time, torch
torch.set_num_threads(torch.get_num_threads())
from PIL import Image
import ageshift
model = ageshift.load({model_name!r}); model.precision = {precision!r}
image = Image.new("RGB", (1000, 750), (120, 90, 60))
start = time.perf_counter(); out = model.upscale(image); seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{model_name} {precision}: {{out.size[0]}}x{{out.size[1]}} in {{seconds:.1f}} s, peak RSS {{peak:.0f}} MB")
"""
    subprocess.run([sys.executable, "-c", code.replace("torch.get_num_threads()", str(threads))], check=True)


def faces(precision: str) -> None:
    """Face-region PSNR of a 64² identity model's crop pasted back, with plain resizing and with each SR stage."""
    import ageshift
    from ageshift.faces import detect_faces
    from ageshift.models.translator import IdentityTranslator, Translator

    model = IdentityTranslator(image_size=64)
    upscalers: dict[str, Translator | None] = {"plain resize": None}
    for name in MODELS:
        upscaler = ageshift.load(name)
        upscaler.precision = precision  # type: ignore[attr-defined]
        upscalers[name] = upscaler
    print("| photo (face box) | " + " | ".join(upscalers) + " |")
    print("|---" * (len(upscalers) + 1) + "|")
    for name, pixels in photos().items():
        photo = Image.fromarray(pixels)
        found = detect_faces(photo, "mtcnn", 1024, 40)
        if not found:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in found[0].box)
        cells = []
        for upscaler in upscalers.values():
            result = ageshift.age_photo(photo, model, "older", detections=found[:1], upscaler=upscaler)
            region = (slice(y0, y1), slice(x0, x1))
            error = np.mean(
                (np.asarray(result.image, np.float64)[region] - pixels[region].astype(np.float64)) ** 2
            )
            cells.append(f"{10 * np.log10(255**2 / error):.2f}")
        print(f"| {name} ({x1 - x0}x{y1 - y0}) | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="fp32", help="auto, fp32 or bf16")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: this process's CPU time (steadier on a busy machine with --threads 1)",
    )
    parser.add_argument("--memory", metavar="MODEL", help="measure a 12-MP ×4 upscale's peak RSS instead")
    parser.add_argument(
        "--faces", action="store_true", help="face-region PSNR of a 64² crop pasted back instead"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory:
        memory(args.memory, args.precision, args.threads)
    elif args.faces:
        faces(args.precision)
    else:
        run(args.precision, args.clock)


if __name__ == "__main__":
    main()
