"""FID/KID during training (``TrainConfig.metrics_every``): a family's generated samples against training images.

The measurement never touches the training: the model's samples are drawn from a generator seeded with the
run's seed (the same latents every time, so values are comparable across steps) inside a forked random state,
so a run with ``metrics_every`` trains exactly as one without, and resuming stays bit-exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..models.family import TrainingModel
from .config import TrainConfig
from .data import TrainingData

#: The keys written into the metrics log (and the CSV's columns when measuring is on).
REALISM_KEYS = ("fid", "kid", "kid_std")


def check_realism(config: TrainConfig, model: TrainingModel) -> None:
    """Refuse ``metrics_every`` for a family without generated samples, before the first step."""
    if config.metrics_every and type(model).realism_samples is TrainingModel.realism_samples:
        raise ConfigError(
            f"metrics_every: the {config.family} family has no generated samples to measure FID/KID on; "
            "set metrics_every=0"
        )


@dataclass
class RealismMeter:
    """The feature network and the real images' features (computed once per image size)."""

    config: TrainConfig
    device: torch.device
    features: Any = None
    reals: dict[int, np.ndarray] = field(default_factory=dict)

    def _network(self) -> Any:
        if self.features is None:
            from ..evaluation.fid import InceptionFeatures

            weights = self.config.metrics_features or None
            self.features = InceptionFeatures(weights, device=str(self.device))
        return self.features

    def measure(self, model: TrainingModel, dataset: TrainingData, size: int) -> dict[str, float]:
        """``fid``, ``kid`` and ``kid_std`` of the model's samples against the first training images."""
        from ..evaluation.fid import fid_from_features, kid_from_features

        count = self.config.metrics_images
        network = self._network()
        if size not in self.reals:
            batch = dataset.samples(count)
            reals = torch.cat([value for value in batch.values() if value.ndim == 4])[:count]
            self.reals[size] = network(reals)
        was_training = model.training
        model.eval()
        devices = [self.device] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                images = model.realism_samples(count, torch.Generator().manual_seed(self.config.seed))
        finally:
            model.train(was_training)
        if images is None:
            raise ConfigError(f"metrics_every: the {self.config.family} family returned no samples")
        fakes = network(images.float().clamp(-1, 1).cpu())
        kid, kid_std = kid_from_features(fakes, self.reals[size])
        return {"fid": fid_from_features(fakes, self.reals[size]), "kid": kid, "kid_std": kid_std}
