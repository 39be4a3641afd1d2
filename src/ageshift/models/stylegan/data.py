"""The ``images`` data kind: one folder of images of anything (faces, pets, landscapes), no labels.

``ageshift train --family stylegan --data FOLDER`` trains on every readable image under ``FOLDER``
(recursively), centre-cropped to a square and resized to the stage's size. A ``test/`` folder next to
``FOLDER/train`` is not needed: a generator has no held-out inputs, its sample grids use fixed latents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...data import EpochSampler, flip_horizontally, random_flip_mask
from ...data.folders import DomainImages
from ...errors import ConfigError
from ...training.data import DATA_KINDS, DataSource, TrainingData


class ImageFolder(TrainingData):
    """Every readable image under one folder, as ``{"images": (B, 3, S, S)}`` batches in ``[-1, 1]``."""

    kind = "images"

    def __init__(self, source: DataSource, size: int, seed: int, config: Any, progress: bool) -> None:
        if isinstance(source, tuple):
            raise ConfigError("this family trains on one folder of images: pass --data FOLDER")
        self.root = Path(source)
        self.images = DomainImages(
            self.root,
            size,
            cache_mb=float(getattr(config, "cache_mb", 1024.0)),
            workers=int(getattr(config, "data_workers", 0)),
            progress=progress,
        )
        self.skipped = self.images.skipped
        self.sampler = EpochSampler(len(self.images), seed, salt=0)

    def counts(self) -> dict[str, int]:
        return {"images": len(self.images)}

    def set_size(self, size: int) -> None:
        self.images.set_size(size)

    def next_batch(
        self, batch_size: int, random: torch.Generator, flip_probability: float
    ) -> dict[str, torch.Tensor]:
        images = self.images.load(self.sampler.next(batch_size))
        return {"images": flip_horizontally(images, random_flip_mask(batch_size, random, flip_probability))}

    def samples(self, count: int) -> dict[str, torch.Tensor]:
        return {"images": self.images.load(range(min(count, len(self.images))))}

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["images"])

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "root": str(self.root), "counts": self.counts()}


DATA_KINDS.setdefault(ImageFolder.kind, ImageFolder)
