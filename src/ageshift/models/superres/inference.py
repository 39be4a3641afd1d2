"""Super-resolution inference in tiles with overlap: bounded memory for any image, results streamed into a
preallocated ``uint8`` output, a progress bar, fp32 on the CPU and bf16/fp16 on GPUs.

Each tile is run with ``overlap`` extra input pixels on every side and only its centre is kept, so the
result equals one pass over the whole image up to what the networks see beyond the overlap (measured in
``tests/test_superres_inference.py``). Memory is the output array plus one tile's activations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...errors import AgeshiftError

#: The largest output ``upscale`` writes (about 100 megapixels, 300 MB as RGB uint8).
MAX_OUTPUT_PIXELS = 100_000_000
#: The smallest input side: below it there is too little picture for the networks' 9×9 and 3×3 windows.
MIN_INPUT_SIDE = 8
#: Input pixels per tile side by default (memory vs the overlap's extra work; see docs/superres.md).
DEFAULT_TILE = 192
#: Extra input pixels each tile reads per side. SRResNet's outputs settle within 16 (tiles == one pass to ±1
#: level); RRDBNet sees much further (±12 levels at 32, ±29 at 16), so its models use :data:`RRDB_OVERLAP`.
DEFAULT_OVERLAP = 16
RRDB_OVERLAP = 32
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class UpscaleError(AgeshiftError):
    """An image cannot be upscaled as asked (too small, output too large, unsupported scale)."""


@dataclass(frozen=True)
class Tile:
    """One tile: the input box it writes (``core``) and the larger box it reads (``read``), ``(top, left, bottom,
    right)`` in input pixels."""

    core: tuple[int, int, int, int]
    read: tuple[int, int, int, int]


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """Cover an ``height × width`` input with tiles of side ``tile``, each reading ``overlap`` more per side.

    Returns:
        Tiles in row-major order; their cores partition the image exactly.
    """
    if tile < 1 or overlap < 0:
        raise UpscaleError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    tiles = []
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            read = (
                max(top - overlap, 0),
                max(left - overlap, 0),
                min(bottom + overlap, height),
                min(right + overlap, width),
            )
            tiles.append(Tile((top, left, bottom, right), read))
    return tiles


def check_upscale(height: int, width: int, scale: int, model_scale: int, source: str = "image") -> None:
    """Refuse, before any work, an input too small, an output too large or a scale the model cannot give.

    Raises:
        UpscaleError: naming ``source`` and the limit.
    """
    if scale not in (2, 4) or scale > model_scale:
        choices = ", ".join(str(s) for s in (2, 4) if s <= model_scale)
        raise UpscaleError(f"scale {scale} is not available for this ×{model_scale} model; choose {choices}")
    if min(height, width) < MIN_INPUT_SIDE:
        raise UpscaleError(
            f"{source}: {width}x{height} is too small to upscale (each side needs at least {MIN_INPUT_SIDE} pixels)"
        )
    pixels = height * width * scale * scale
    if pixels > MAX_OUTPUT_PIXELS:
        raise UpscaleError(
            f"{source}: a ×{scale} upscale of {width}x{height} would be {width * scale}x{height * scale} "
            f"({pixels / 1e6:.0f} megapixels), over the limit of {MAX_OUTPUT_PIXELS / 1e6:.0f} megapixels; "
            "crop or shrink the image first"
        )


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``name`` on ``device`` (``None``: plain fp32).

    ``auto`` is bf16 on CUDA when the GPU supports it (fp16 otherwise), bf16 on CPUs that compute it in hardware
    (AVX512-BF16/AMX: 3.6–4.4× faster than fp32 there, 0.002–0.013 dB PSNR lost, see docs/superres.md) and fp32
    elsewhere.
    """
    from ...training.phases import cpu_has_native_bf16

    if name not in PRECISIONS:
        raise UpscaleError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    if name == "fp32":
        return None
    if name == "auto" and device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name == "auto":
        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    if name == "fp16" and device.type == "cpu":
        raise UpscaleError("precision fp16 is not supported on the CPU; use fp32 or bf16")
    return torch.bfloat16 if name == "bf16" else torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _run_tiles(
    network: nn.Module,
    image: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
    dtype: torch.dtype | None,
    progress: bool,
) -> Iterator[tuple[Tile, torch.Tensor]]:
    """Yield each tile and its upscaled core, ``(3, s·h, s·w)`` float32 in ``[-1, 1]`` on the CPU."""
    from tqdm.auto import tqdm

    device = next(network.parameters()).device
    tiles = plan_tiles(image.shape[-2], image.shape[-1], tile, overlap)
    network_scale = int(getattr(network, "scale", scale))
    for piece in tqdm(
        tiles, desc="upscaling", unit="tile", disable=not progress or len(tiles) < 2, leave=False
    ):
        top, left, bottom, right = piece.read
        inputs = image[:, top:bottom, left:right].unsqueeze(0).to(device, torch.float32)
        with _autocast(device, dtype):
            output = network(inputs.contiguous(memory_format=torch.channels_last))
        core_top, core_left, core_bottom, core_right = piece.core
        rows = slice((core_top - top) * network_scale, (core_bottom - top) * network_scale)
        columns = slice((core_left - left) * network_scale, (core_right - left) * network_scale)
        yield piece, output[0, :, rows, columns].float().clamp(-1, 1).cpu()


@torch.inference_mode()
def upscale_array(
    network: nn.Module,
    pixels: np.ndarray,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    precision: str = "auto",
    progress: bool = False,
    source: str = "image",
) -> np.ndarray:
    """Upscale an RGB ``uint8`` image by the network's scale, tile by tile, into one preallocated array.

    Args:
        network: a super-resolution network (``scale`` attribute) in eval mode, taking ``[-1, 1]``.
        pixels: ``(H, W, 3)`` uint8.
        tile: input pixels per tile side.
        overlap: extra input pixels each tile reads on every side.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (GPU).
        progress: show a progress bar over the tiles.
        source: how errors name the image.

    Returns:
        ``(s·H, s·W, 3)`` uint8.

    Raises:
        UpscaleError: input too small or output over :data:`MAX_OUTPUT_PIXELS` (checked before any work).
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise UpscaleError(
            f"{source}: expected an (H, W, 3) uint8 RGB array, got {pixels.shape} {pixels.dtype}"
        )
    scale = int(network.scale)  # type: ignore[arg-type]
    height, width = pixels.shape[:2]
    check_upscale(height, width, scale, scale, source)
    device = next(network.parameters()).device
    dtype = resolve_precision(precision, device)
    # The input as a float tensor costs 12 bytes a pixel: 9 MB for a 0.75-megapixel input (12-MP output).
    image = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
    output = np.empty((height * scale, width * scale, 3), np.uint8)
    for piece, result in _run_tiles(network, image, scale, tile, overlap, dtype, progress):
        top, left, bottom, right = piece.core
        values = result.add_(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0)
        output[top * scale : bottom * scale, left * scale : right * scale] = values.numpy()
    return output


@torch.inference_mode()
def upscale_tensor(
    network: nn.Module,
    images: torch.Tensor,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    precision: str = "auto",
    progress: bool = False,
) -> torch.Tensor:
    """Upscale a batch by the network's scale, tile by tile.

    Args:
        network: as for :func:`upscale_array`.
        images: ``(B, 3, H, W)`` RGB float in ``[-1, 1]``.
        tile, overlap, precision, progress: as for :func:`upscale_array`.

    Returns:
        ``(B, 3, s·H, s·W)`` float32 in ``[-1, 1]`` on the CPU.
    """
    from ...image import check_batch

    check_batch(images)
    scale = int(network.scale)  # type: ignore[arg-type]
    count, _, height, width = images.shape
    check_upscale(height, width, scale, scale, "images")
    dtype = resolve_precision(precision, next(network.parameters()).device)
    output = torch.empty((count, 3, height * scale, width * scale))
    for index in range(count):
        image = images[index].float().cpu()
        for piece, result in _run_tiles(network, image, scale, tile, overlap, dtype, progress):
            top, left, bottom, right = piece.core
            output[index, :, top * scale : bottom * scale, left * scale : right * scale] = result
    return output
