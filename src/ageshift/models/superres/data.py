"""Super-resolution training data: random crops of any folder of photos, a held-out validation split, and the
on-the-fly degradations (blur, bicubic ×1/s, noise, JPEG) that make each crop's low-resolution input.

Registered as the ``photos`` data kind (``ageshift train --family superres --data PHOTOS``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from ...data import EpochSampler
from ...data.folders import SkippedFile
from ...errors import ConfigError, DataError, ImageLoadError
from ...io import list_images, load_image
from ...training.data import DATA_KINDS, DataSource, TrainingData
from .config import DegradationConfig

#: Every this many batches, the batch also carries the fixed validation crops (``"validation"``, 5-D so the
#: trainer's image count ignores it) and the model logs ``val_psnr`` / ``val_ssim``.
VALIDATION_EVERY = 10
VALIDATION_CROPS = 4


class PhotoCrops(TrainingData):
    """Random ``size²`` crops of the photos under a folder (recursive); every 10th photo is held out.

    Photos whose shorter side is below ``size`` are enlarged to it (bicubic). Every file is decoded once up front
    (unreadable ones are skipped and reported); decoded photos stay in memory up to ``cache_mb`` (the training
    config's), the rest are decoded again per batch.
    """

    kind = "photos"

    def __init__(self, source: DataSource, size: int, seed: int, config: Any, progress: bool) -> None:
        if isinstance(source, tuple):
            raise ConfigError("super-resolution trains on one folder of photos: pass --data PHOTOS")
        self.root = Path(source)
        files = list_images(self.root)
        self.skipped: list[SkippedFile] = []
        photos: list[np.ndarray | Path] = []
        budget = float(getattr(config, "cache_mb", 1024.0)) * 1e6
        for path in files:
            try:
                pixels = np.asarray(load_image(path))
            except ImageLoadError as error:
                self.skipped.append(SkippedFile(path, str(error)))
                continue
            budget -= pixels.nbytes
            photos.append(pixels if budget >= 0 else path)
        if not photos:
            raise DataError(f"{self.root}: no readable photos to train on")
        held_out = [i for i in range(len(photos)) if i % 10 == 9] or (
            [len(photos) - 1] if len(photos) > 1 else []
        )
        self.validation_photos = [photos[i] for i in held_out]
        self.photos = [photo for i, photo in enumerate(photos) if i not in held_out]
        self.size = size
        self.sampler = EpochSampler(len(self.photos), seed, salt=0)
        self.batches = 0

    def counts(self) -> dict[str, int]:
        return {"images": len(self.photos), "validation": len(self.validation_photos)}

    def set_size(self, size: int) -> None:
        self.size = size

    def _fit(self, photo: np.ndarray | Path) -> np.ndarray:
        if isinstance(photo, Path):
            photo = np.asarray(load_image(photo))
        height, width = photo.shape[:2]
        if min(height, width) >= self.size:
            return photo
        factor = self.size / min(height, width)
        size = (max(self.size, round(width * factor)), max(self.size, round(height * factor)))
        return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BICUBIC))

    def _crop(self, photo: np.ndarray, top: int, left: int) -> torch.Tensor:
        crop = photo[top : top + self.size, left : left + self.size]
        return torch.from_numpy(np.array(crop)).permute(2, 0, 1).float() / 127.5 - 1.0

    def next_batch(
        self, batch_size: int, random: torch.Generator, flip_probability: float
    ) -> dict[str, torch.Tensor]:
        crops = []
        for index in self.sampler.next(batch_size):
            photo = self._fit(self.photos[index])
            top = int(torch.randint(photo.shape[0] - self.size + 1, (1,), generator=random))
            left = int(torch.randint(photo.shape[1] - self.size + 1, (1,), generator=random))
            crop = self._crop(photo, top, left)
            if float(torch.rand((), generator=random)) < flip_probability:
                crop = crop.flip(-1)
            crops.append(crop)
        batch = {"images": torch.stack(crops)}
        self.batches += 1
        if self.validation_photos and self.batches % VALIDATION_EVERY == 0:
            batch["validation"] = self.samples(VALIDATION_CROPS)["images"].unsqueeze(0)
        return batch

    def samples(self, count: int) -> dict[str, torch.Tensor]:
        """Centre crops of the held-out photos (of training photos when none is held out)."""
        source = self.validation_photos or self.photos
        crops = []
        for index in range(min(count, len(source))):
            photo = self._fit(source[index])
            crops.append(
                self._crop(photo, (photo.shape[0] - self.size) // 2, (photo.shape[1] - self.size) // 2)
            )
        return {"images": torch.stack(crops)}

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.sampler.state_dict(), "batches": self.batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["images"])
        self.batches = int(state.get("batches", 0))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "root": str(self.root), "counts": self.counts()}


DATA_KINDS.setdefault("photos", PhotoCrops)


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma + 0.5))
    coordinates = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    line = torch.exp(-(coordinates**2) / (2 * sigma**2))
    line = line / line.sum()
    padded = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(padded, line.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    return F.conv2d(blurred, line.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)[0]


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    pixels = ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(buffer).convert("RGB"))
    return torch.from_numpy(np.array(decoded)).permute(2, 0, 1).to(image) / 127.5 - 1.0


def degrade(
    images: torch.Tensor, scale: int, config: DegradationConfig | None, random: torch.Generator | None = None
) -> torch.Tensor:
    """The low-resolution inputs of high-resolution crops: blur → bicubic ×1/scale → noise → JPEG.

    Args:
        images: ``(B, 3, H, W)`` in ``[-1, 1]``, ``H`` and ``W`` divisible by ``scale``.
        scale: 2 or 4.
        config: probabilities and strengths (``None``: plain bicubic, the benchmark's setting).
        random: draws every choice (the trainer's generator, so resumed runs replay them).

    Returns:
        ``(B, 3, H/scale, W/scale)`` in ``[-1, 1]``.
    """
    height, width = images.shape[-2:]
    if height % scale or width % scale:
        raise ConfigError(f"crop {width}x{height} is not divisible by the scale {scale}")

    def draw() -> float:
        return float(torch.rand((), generator=random))

    outputs = []
    for image in images:
        if config is not None and draw() < config.blur_probability:
            low, high = config.blur_sigma
            image = _gaussian_blur(image, low + (high - low) * draw())
        image = F.interpolate(image[None], scale_factor=1 / scale, mode="bicubic", antialias=True)[0]
        if config is not None and draw() < config.noise_probability:
            sigma = config.noise_max * draw() / 127.5
            image = image + sigma * torch.randn(image.shape, generator=random).to(image)
        if config is not None and draw() < config.jpeg_probability:
            low, high = config.jpeg_quality
            image = _jpeg(image, int(low + (high - low) * draw()))
        outputs.append(image.clamp(-1, 1))
    return torch.stack(outputs)
