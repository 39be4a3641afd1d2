"""ONNX export parity per family, and CPU speed per 256² face: onnxruntime against PyTorch.

Run ``python benchmarks/bench_onnx.py --help``. Every variant is timed in the same round-robin loop (median of
``--repeats``), so a busy machine slows them all alike; ``--threads`` sets PyTorch's and onnxruntime's intra-op
threads alike (default 1). Figures and the machine they came from: docs/onnx.md.

- parity: each family's graphs against PyTorch on random inputs and on the scikit-image astronaut crop
  (max absolute difference; the ≤ 1e-4 bound is what tests/test_onnx.py asserts);
- speed: the ``fast`` and ``paper`` CycleGAN generators (random weights: speed does not depend on them), one
  256² face per call: PyTorch eager, PyTorch frozen TorchScript trace (what ``TwoDomainTranslator`` switches
  to on long CPU jobs), onnxruntime float32, onnxruntime int8 (dynamic quantisation).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ageshift.onnx.export import export_onnx
from ageshift.onnx.runtime import create_session, load_onnx
from ageshift.registry import get_family

#: (name, family, preset, overrides, size) of the parity table; tiny widths keep it quick.
PARITY_CASES: list[tuple[str, str, str, dict[str, Any], int]] = [
    ("cyclegan fast", "cyclegan", "fast", {}, 256),
    ("cyclegan paper (residual output)", "cyclegan", "paper", {"generator": {"output": "residual"}}, 256),
    ("stargan fast (directed, FiLM)", "stargan", "fast",
     {"age_range": [15, 80], "attributes": {"hair": ["black", "blond", "brown"]}}, 64),
    ("stargan tiled, residual, bilinear", "stargan", "fast",
     {"age_range": [15, 80], "attributes": {"hair": ["black", "blond"]},
      "generator": {"conditioning": "tile", "output": "residual", "upsample": "bilinear"}}, 64),
    ("superres srresnet (tiny)", "superres", "tiny", {"batchnorm": True}, 32),
    ("superres rrdbnet (tiny)", "superres", "tiny", {"architecture": "rrdbnet", "num_blocks": 1, "growth": 8}, 32),
    ("gan dcgan", "gan", "dcgan", {}, 16),
    ("cgan mlp", "cgan", "mlp", {"classes": ["0", "1", "2"]}, 16),
]  # fmt: skip


def _astronaut(side: int) -> np.ndarray | None:
    try:
        from PIL import Image
        from skimage import data
    except ImportError:
        return None
    face = Image.fromarray(data.astronaut()[0:200, 140:340]).resize((side, side), Image.Resampling.LANCZOS)
    return (np.asarray(face, np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0).astype(np.float32)


def _translator(family_name: str, preset: str, overrides: dict[str, Any], size: int) -> Any:
    family = get_family(family_name)
    torch.manual_seed(0)
    model = family.build(family.model_config(preset, overrides)).eval()
    translator = family.export(model, size, {"crop": None}, {"family": family_name})
    if hasattr(translator, "precision"):
        translator.precision = "fp32"
    return translator


def parity(folder: Path) -> list[dict[str, Any]]:
    """Max |PyTorch − onnxruntime| per family on random and real inputs (full translate path)."""
    rows = []
    for name, family_name, preset, overrides, size in PARITY_CASES:
        translator = _translator(family_name, preset, overrides, size)
        target = translator.save_pretrained(
            folder / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        )
        contract = export_onnx(translator, target)
        runtime = load_onnx(target, threads=1)
        kind = contract["kind"]
        worst = {"random": 0.0, "astronaut": 0.0}
        if kind == "generator":
            noise = np.random.default_rng(0).standard_normal((4, contract["latent_dim"])).astype(np.float32)
            feeds: dict[str, np.ndarray] = {"noise": noise}
            labels = None
            if getattr(translator, "labels", ()):
                feeds["labels"] = labels = np.zeros(4, np.int64)
            with torch.no_grad():
                expected = (
                    translator.networks["generator"](
                        torch.from_numpy(noise), None if labels is None else torch.from_numpy(labels)
                    )
                    .clamp(-1, 1)
                    .expand(-1, 3, -1, -1)
                )
            worst["random"] = float(
                np.abs(expected.numpy() - runtime.sessions["generator"].run(["output"], feeds)[0]).max()
            )
            worst["astronaut"] = float("nan")
        else:
            side = 24 if kind == "superres" else size
            inputs = {"random": np.random.default_rng(0).uniform(-1, 1, (2, 3, side, side)).astype(np.float32),
                      "astronaut": _astronaut(side)}  # fmt: skip
            request: dict[str, Any] = {
                "two-domain": {"direction": "older"},
                "conditional": {"target_age": 70},
            }.get(kind, {})
            for label, images in inputs.items():
                if images is None:
                    worst[label] = float("nan")
                    continue
                if kind == "superres":
                    with torch.no_grad():
                        expected = (
                            translator.inference_network()(torch.from_numpy(images)).clamp(-1, 1).numpy()
                        )
                else:
                    expected = translator.translate_batch(torch.from_numpy(images), **request).numpy()
                worst[label] = float(np.abs(expected - runtime.translate_batch(images, **request)).max())
        rows.append({"model": name, "graphs": list(contract["graphs"].values()), **worst})
    return rows


def speed(folder: Path, presets: list[str], repeats: int, threads: int, side: int) -> list[dict[str, Any]]:
    """ms per ``side``² image, batch 1, for each variant of each CycleGAN preset (round-robin, median)."""
    from ageshift.models.translator import _frozen_trace
    from ageshift.onnx.quantize import quantize_folder

    torch.set_num_threads(threads)
    rows = []
    for preset in presets:
        translator = _translator("cyclegan", preset, {}, side)
        target = translator.save_pretrained(folder / f"speed-{preset}")
        export_onnx(translator, target)
        int8 = quantize_folder(target)["older"]
        generator = translator.networks["older"]
        example = torch.rand(1, 3, side, side) * 2 - 1
        frozen = _frozen_trace(generator, example)
        session = create_session(target / "older.onnx", threads)
        session_int8 = create_session(target / "older.int8.onnx", threads)
        array = example.numpy()
        variants: dict[str, Callable[[], Any]] = {
            "pytorch eager": lambda g=generator, x=example: g(x),
            "pytorch frozen trace": lambda f=frozen, x=example: f(x),
            "onnxruntime fp32": lambda s=session, a=array: s.run(["output"], {"images": a}),
            "onnxruntime int8": lambda s=session_int8, a=array: s.run(["output"], {"images": a}),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        with torch.inference_mode():
            for run in variants.values():  # warm-up: first-call allocations and oneDNN primitive creation
                run()
            for _ in range(repeats):
                for name, run in variants.items():
                    start = time.perf_counter()
                    run()
                    times[name].append((time.perf_counter() - start) * 1000)
        eager = statistics.median(times["pytorch eager"])
        for name, values in times.items():
            rows.append({"preset": preset, "variant": name, "ms_per_face": round(statistics.median(values), 1),
                         "vs_eager": round(eager / statistics.median(values), 2)})  # fmt: skip
        rows.append(
            {"preset": preset, "variant": "int8 PSNR vs fp32 (dB, astronaut)", "value": int8["psnr_vs_fp32"]}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="fast,paper", help="CycleGAN presets to time, comma-separated")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per variant (median)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for both runtimes")
    parser.add_argument("--size", type=int, default=256, help="face side in pixels")
    parser.add_argument("--skip-parity", action="store_true", help="only time")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"torch": torch.__version__, "threads": args.threads, "size": args.size}
    import onnxruntime

    results["onnxruntime"] = onnxruntime.__version__
    with tempfile.TemporaryDirectory() as scratch:
        if not args.skip_parity:
            results["parity"] = parity(Path(scratch))
            print("max |PyTorch − onnxruntime| (translate path):")
            for row in results["parity"]:
                print(f"  {row['model']:36s} random {row['random']:.1e}  astronaut {row['astronaut']:.1e}")
        results["speed"] = speed(
            Path(scratch), args.presets.split(","), args.repeats, args.threads, args.size
        )
    print(f"ms per {args.size}² face, batch 1, {args.threads} thread(s):")
    for row in results["speed"]:
        if "value" in row:
            print(f"  {row['preset']:6s} {row['variant']:34s} {row['value']}")
        else:
            print(
                f"  {row['preset']:6s} {row['variant']:34s} {row['ms_per_face']:8.1f} ms  ×{row['vs_eager']}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
