"""Sample grids written during training (each family draws its own grid; this writes it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..image import tensor_to_pil, tensor_to_uint8
from ..io import atomic_write, save_image


def write_sample_grid(grid: torch.Tensor, path: Path) -> torch.Tensor:
    """Save a ``(3, H, W)`` grid in ``[-1, 1]`` as PNG; returns it as a ``(3, H, W)`` uint8 tensor for TensorBoard."""
    save_image(tensor_to_pil(grid), path)
    return torch.from_numpy(tensor_to_uint8(grid)).permute(2, 0, 1)


#: The newest sample grids a run's progress GIF shows at most (evenly spaced over the run, the last included).
PROGRESS_GIF_FRAMES = 60


def write_progress_gif(run_dir: Path, fps: float = 4.0) -> Path | None:
    """Write ``RUN/progress.gif``: the run's sample grids (``samples/step-*.png``) in step order, atomically.

    Only the grids of the newest grid's size are used (a progressive schedule changes the size between
    stages), at most :data:`PROGRESS_GIF_FRAMES` of them.

    Returns:
        The GIF's path, or ``None`` when the run has no sample grid yet.
    """
    import io

    from PIL import Image

    paths = sorted((run_dir / "samples").glob("step-*.png"))
    if not paths:
        return None
    with Image.open(paths[-1]) as newest:
        size = newest.size
    frames = []
    for path in paths:
        with Image.open(path) as image:
            if image.size == size:
                frames.append(np.asarray(image.convert("RGB")))
    if len(frames) > PROGRESS_GIF_FRAMES:
        keep = np.linspace(0, len(frames) - 1, PROGRESS_GIF_FRAMES).round().astype(int)
        frames = [frames[index] for index in keep]
    images = [Image.fromarray(frame) for frame in frames]
    # The last grid stays on screen longer: it is what the run ends with.
    durations = [int(1000 / fps)] * (len(images) - 1) + [2000]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    path = run_dir / "progress.gif"
    with atomic_write(path) as stream:
        stream.write(buffer.getvalue())
    return path
