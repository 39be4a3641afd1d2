"""Optional int8 graphs: onnxruntime's dynamic quantisation, with the quality loss measured and recorded.

Weights become int8 (per tensor), activations are quantised on the fly. The files are ~3× smaller; on a
CPU the convolutional generators run *slower* this way (``ConvInteger`` plus per-call activation scaling:
see docs/onnx.md for the figures), so int8 is for size-bound deployments, not speed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs import atomic_write
from .runtime import create_session, load_onnx


def sample_inputs(translator: Any) -> tuple[dict[str, dict[str, np.ndarray]], str]:
    """Feeds for every graph of a loaded ONNX model, on a real photo where scikit-image is installed.

    Returns:
        ``({graph name: {input name: array}}, description of the input)``.
    """
    contract = translator.contract
    if contract["kind"] == "generator":
        feeds = {
            "noise": np.random.default_rng(0).standard_normal((4, contract["latent_dim"])).astype(np.float32)
        }
        if any(entry["name"] == "labels" for entry in contract["inputs"]):
            feeds["labels"] = np.zeros(4, np.int64)
        return {"generator": feeds}, "4 standard normal noise vectors"
    side = 32 if contract["kind"] == "superres" else translator.image_size
    try:
        from PIL import Image
        from skimage import data

        photo = Image.fromarray(data.astronaut()[0:200, 140:340]).resize(
            (side, side), Image.Resampling.LANCZOS
        )
        images = np.asarray(photo, np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
        described = f"scikit-image astronaut face crop at {side}²"
    except ImportError:
        ramp = np.linspace(-1.0, 1.0, side, dtype=np.float32)
        images = np.stack(
            [ramp[None, :] * ramp[:, None], ramp[None, :].repeat(side, 0), -ramp[:, None].repeat(side, 1)]
        )[None]
        described = f"a smooth synthetic pattern at {side}²"
    images = images.astype(np.float32)
    if contract["kind"] == "conditional":
        from ..models.conditions import Condition

        age = next((entry for entry in contract["condition_layout"] if entry["name"] == "age"), None)
        condition = Condition(target_age=float(age["range"][1])) if age else Condition()
        vector, requested = translator.condition_vector(condition, 1)
        feeds = {
            "images": images,
            "condition": vector,
            "requested": requested,
            "strength": np.ones((1, 1), np.float32),
        }
        return {"conditional": feeds}, described
    if contract["kind"] == "makeup":  # the mirrored face as its own reference
        reference = np.ascontiguousarray(images[..., ::-1])
        return {"makeup": {"images": images, "reference": reference}}, described + " (reference: mirrored)"
    if contract["kind"] == "reager":
        ages = {name: np.full((1, 1, side, side), age, np.float32) for name, age in (("current_age", 30.0),
                                                                                     ("target_age", 70.0))}  # fmt: skip
        return {"reager": {"images": images, **ages}}, described + ", 30 → 70 years"
    return {name: {"images": images} for name in contract["graphs"]}, described


def psnr(reference: np.ndarray, other: np.ndarray) -> float:
    """PSNR in dB between two arrays in ``[-1, 1]`` (peak-to-peak 2)."""
    error = float(np.mean((reference.astype(np.float64) - other) ** 2))
    return math.inf if error == 0 else 10.0 * math.log10(4.0 / error)


def quantize_folder(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Write ``NAME.int8.onnx`` beside every graph of a model folder and record them in ``card.onnx.int8``.

    Args:
        directory: a folder with ONNX graphs (``export_onnx`` ran on it).

    Returns:
        ``{graph name: {"file", "psnr_vs_fp32", "bytes"}}``, also stored in the card with the input used.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ..pretrained import update_card

    directory = Path(directory)
    translator = load_onnx(directory, threads=1)
    feeds, described = sample_inputs(translator)
    results: dict[str, dict[str, Any]] = {}
    output = translator.contract["outputs"][0]["name"]  # the image every graph returns first
    for name, file_name in translator.contract["graphs"].items():
        target = directory / file_name.replace(".onnx", ".int8.onnx")
        scratch = directory / f".{target.name}.quantising"
        logging.getLogger().setLevel(logging.ERROR)  # its "consider pre-processing" advice
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                quantize_dynamic(directory / file_name, scratch, weight_type=QuantType.QInt8)
            with atomic_write(target) as stream:
                stream.write(scratch.read_bytes())
        finally:
            scratch.unlink(missing_ok=True)
        reference = translator.sessions[name].run([output], feeds[name])[0]
        quantised = create_session(target, threads=1).run([output], feeds[name])[0]
        quality = psnr(reference, quantised)
        results[name] = {"file": target.name, "psnr_vs_fp32": round(quality, 2) if math.isfinite(quality) else None,
                         "bytes": target.stat().st_size}  # fmt: skip
    contract = dict(translator.contract)
    contract["int8"] = {
        "graphs": {name: entry["file"] for name, entry in results.items()},
        "psnr_vs_fp32_db": {name: entry["psnr_vs_fp32"] for name, entry in results.items()},
        "measured_on": described,
        "method": "onnxruntime.quantization.quantize_dynamic, int8 weights (QInt8)",
    }
    update_card(directory, onnx=contract)
    return results
