"""An age estimator of our own: a compact CNN regressor trained from scratch on UTKFace-named crops.

For users with labelled data (UTKFace or anything named ``age_gender_race_datetime.jpg``). It reads whole
aligned crops (the same alignment as the dataset it judges), so it needs no landmark detector. Saved in the
one weights format (:mod:`ageshift.pretrained`, kind ``age-regressor``) with a model card holding the
training data and the held-out MAE; ``ageshift evaluate --age-estimator PATH`` accepts the folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import MAX_IMAGE_SIZE, from_dict, to_dict, validate_fields, within
from ..data.manifest import read_dataset_json
from ..data.transforms import square_resize
from ..data.utkface import parse_utkface_name
from ..errors import ConfigError, DataError, ImageLoadError, ModelLoadError
from ..image import resize
from ..io import list_images, load_image
from ..pretrained import (
    CONFIG_FILE,
    FORMAT,
    Pretrained,
    model_card,
    read_pretrained,
    register_legacy_format,
    write_pretrained,
)

#: The ``kind`` (and family) of regressor folders in :mod:`ageshift.pretrained`.
KIND = "age-regressor"
#: The ``format`` of regressor folders written by ageshift 0.1 (still read, converted on the fly).
LEGACY_FORMAT = "ageshift-age-estimator"
SUMMARY = (
    "compact CNN age regressor trained from scratch on aligned crops with ages in their UTKFace-style names"
)
#: Targets are divided by this so the network regresses values near [0, 1].
AGE_SCALE = 100.0


@dataclass
class AgeRegressorConfig:
    """Shape of the regressor network.

    Attributes:
        image_size: input side in pixels.
        channels: output channels of each conv stage (each stage halves the resolution).
    """

    image_size: int = field(default=64, metadata=within(8, MAX_IMAGE_SIZE))
    channels: tuple[int, ...] = field(default=(32, 64, 128, 192), metadata=within(1, 1024))

    def __post_init__(self) -> None:
        validate_fields(self, "config")
        if not 1 <= len(self.channels) <= 12:
            raise ConfigError(f"config.channels must list 1 to 12 stage widths, got {len(self.channels)}")


@dataclass
class AgeTrainingConfig:
    """How to train the regressor."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    held_out_fraction: float = 0.15
    seed: int = 0


@dataclass
class AgeTrainingReport:
    """What :func:`train_age_regressor` measured: held-out MAE against the predict-the-mean baseline."""

    out: Path
    num_train: int
    num_held_out: int
    held_out_mae: float
    baseline_mae: float
    skipped: list[str] = field(default_factory=list)
    history: list[float] = field(default_factory=list)


class AgeRegressor(nn.Module):
    """Conv stages (conv-BN-ReLU ×2, then stride-2) → global average pool → linear → age / 100.

    Args:
        config: the network's shape.
        card: the model card (training data, held-out MAE), see :func:`regressor_card`.
    """

    def __init__(self, config: AgeRegressorConfig, card: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.config = config
        self.card = dict(card or {})
        layers: list[nn.Module] = []
        previous = 3
        for width in config.channels:
            layers += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(previous, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Predict ages.

        Args:
            images: ``(B, 3, H, W)`` RGB float in ``[-1, 1]`` (resized to ``config.image_size``).

        Returns:
            ``(B,)`` ages in years.
        """
        features = self.features(resize(images, self.config.image_size))
        return self.head(features.mean(dim=(2, 3))).squeeze(1) * AGE_SCALE

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` (config + model card) and ``model.safetensors`` into ``directory`` (created).

        Returns:
            The folder.
        """
        state = dict(self.state_dict())
        return write_pretrained(directory, Pretrained(KIND, KIND, to_dict(self.config), state, self.card))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> AgeRegressor:
        """Load a folder written by :meth:`save_pretrained` (or by ageshift 0.1), in eval mode.

        Raises:
            ModelLoadError: naming the file: not a regressor folder, a bad config, weights that do not fit.
        """
        pretrained = read_pretrained(directory, kind=KIND)
        try:
            config = from_dict(AgeRegressorConfig, pretrained.config, where="config")
        except ConfigError as error:
            raise ModelLoadError(f"{Path(directory) / CONFIG_FILE}: {error}") from None
        model = cls(config, pretrained.card)
        try:
            model.load_state_dict(pretrained.tensors)
        except RuntimeError as error:
            detail = " ".join(str(error).split())[:300]
            raise ModelLoadError(
                f"{pretrained.describe()}: weights do not fit the config ({detail})"
            ) from None
        return model.eval()


def load_labelled_folder(folder: str | Path, size: int) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Read every UTKFace-named image under ``folder``.

    Args:
        folder: the images (names like ``25_0_1_20170116174525125.jpg.chip.jpg``).
        size: side to resize them to.

    Returns:
        ``(images, ages, skipped)``: ``(N, 3, size, size)`` uint8, ``(N,)`` float ages, and the files whose
        name carries no age or that could not be read.
    """
    images, ages, skipped = [], [], []
    for path in list_images(folder):
        record = parse_utkface_name(path)
        if record is None:
            skipped.append(f"{path.name}: name does not carry an age")
            continue
        try:
            array = square_resize(load_image(path), size)
        except ImageLoadError as error:
            skipped.append(str(error))
            continue
        images.append(torch.from_numpy(array.copy()).permute(2, 0, 1))
        ages.append(float(record.age))
    if len(images) < 4:
        raise DataError(
            f"{folder}: found {len(images)} images with UTKFace-style names (age_gender_race_datetime.jpg); "
            "need at least 4 to train and hold some out"
        )
    return torch.stack(images), np.asarray(ages), skipped


def _as_input(batch: torch.Tensor) -> torch.Tensor:
    return batch.float() / 127.5 - 1.0


def _predict(model: AgeRegressor, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    model.eval()
    with torch.inference_mode():
        outputs = [model(_as_input(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat(outputs).double().numpy()


def train_age_regressor(
    data: str | Path,
    out: str | Path,
    model_config: AgeRegressorConfig | None = None,
    training: AgeTrainingConfig | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> AgeTrainingReport:
    """Train the regressor on a UTKFace-named folder, report held-out MAE, export it.

    Args:
        data: folder of UTKFace-named images.
        out: model folder to write (``config.json`` + ``model.safetensors``).
        model_config: network shape.
        training: optimisation settings.
        progress: called after each epoch with ``(epoch, training L1 in years)``.

    Returns:
        An :class:`AgeTrainingReport`.
    """
    model_config = model_config or AgeRegressorConfig()
    training = training or AgeTrainingConfig()
    images, ages, skipped = load_labelled_folder(data, model_config.image_size)
    dataset_info = read_dataset_json(data)  # for the model card; a damaged file fails before training
    generator = np.random.default_rng(training.seed)
    order = generator.permutation(len(images))
    held_count = max(1, round(training.held_out_fraction * len(images)))
    held, train = order[:held_count], order[held_count:]
    torch.manual_seed(training.seed)
    model = AgeRegressor(model_config)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay
    )
    steps_per_epoch = max(1, int(np.ceil(len(train) / training.batch_size)))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, training.learning_rate, total_steps=training.epochs * steps_per_epoch
    )
    train_images, train_ages = images[train], torch.from_numpy(ages[train]).float()
    history = []
    for epoch in range(training.epochs):
        model.train()
        permutation = torch.from_numpy(generator.permutation(len(train)))
        losses = []
        for step in range(steps_per_epoch):
            index = permutation[step * training.batch_size : (step + 1) * training.batch_size]
            batch = _as_input(train_images[index])
            # Faces are left-right symmetric enough that mirroring is a free second sample.
            flip = torch.rand(len(index)) < 0.5
            batch[flip] = batch[flip].flip(-1)
            predictions = model(batch)
            loss = F.smooth_l1_loss(predictions / AGE_SCALE, train_ages[index] / AGE_SCALE, beta=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float((predictions.detach() - train_ages[index]).abs().mean()))
        history.append(float(np.mean(losses)))
        if progress is not None:
            progress(epoch + 1, history[-1])
    held_out_mae = float(np.abs(_predict(model, images[held]) - ages[held]).mean())
    baseline_mae = float(np.abs(ages[train].mean() - ages[held]).mean())
    metrics = {
        "held_out_mae": held_out_mae,
        "baseline_mae": baseline_mae,
        "num_train": len(train),
        "num_held_out": len(held),
    }
    model.card = regressor_card(data, metrics, to_dict(training), dataset_info)
    model.save_pretrained(out)
    return AgeTrainingReport(Path(out), len(train), len(held), held_out_mae, baseline_mae, skipped, history)


def regressor_card(
    data: str | Path | None,
    metrics: dict[str, Any],
    training: dict[str, Any] | None = None,
    dataset_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The regressor's model card: its training data and its held-out MAE as the evaluation.

    Args:
        data: the folder it was trained on.
        metrics: ``held_out_mae``, ``baseline_mae`` (years), ``num_train``, ``num_held_out``.
        training: the :class:`AgeTrainingConfig` as a dict.
        dataset_info: the data folder's ``dataset.json`` (name, source, licence), when it has one.
    """
    info = dataset_info or {}
    name = info.get("name") or (Path(data).name if data else None)
    licences = []
    if info.get("licence"):
        licences.append(
            {
                "name": name,
                "licence": info["licence"],
                "origin": info.get("source", ""),
                "used_for": "training data",
            }
        )
    return model_card(
        KIND,
        SUMMARY,
        training_data={
            "name": name,
            "size": {"train": metrics.get("num_train"), "held_out": metrics.get("num_held_out")},
            "labels": ["age"],
            "licence": info.get("licence"),
            "source": info.get("source") or (str(data) if data else None),
        },
        licences=licences,
        evaluation={
            "held_out_mae": metrics.get("held_out_mae"),
            "baseline_mae": metrics.get("baseline_mae"),
            "num_held_out": metrics.get("num_held_out"),
            "metric": "mean absolute error in years on a random held-out split; baseline: predict the training mean",
        },
        training=training,
    )


def _legacy_document(document: dict[str, Any]) -> dict[str, Any]:
    """A 0.1 regressor ``config.json`` (``model``, ``training``, ``metrics``) in the current layout."""
    metrics = document.get("metrics") or {}
    return {
        "format": FORMAT,
        "format_version": 1,
        "kind": KIND,
        "family": KIND,
        "config": document["model"],
        "card": regressor_card(metrics.get("data"), metrics, document.get("training")),
    }


register_legacy_format(LEGACY_FORMAT, _legacy_document)


def load_age_regressor(path: str | Path) -> AgeRegressor:
    """Load a regressor folder (``ageshift train-age-estimator``); the same as :meth:`AgeRegressor.from_pretrained`."""
    return AgeRegressor.from_pretrained(path)


class TrainedAgeEstimator:
    """An :class:`~ageshift.evaluation.age.AgeEstimator` backed by a trained :class:`AgeRegressor`.

    It reads whole aligned crops (``aligned = False``), the way it was trained.
    """

    aligned = False

    def __init__(self, path: str | Path) -> None:
        self.model = AgeRegressor.from_pretrained(path)
        self.name = f"regressor:{Path(path).name}"
        self.chip_size = self.model.config.image_size

    def predict(self, chips: np.ndarray) -> np.ndarray:
        """Ages in years for ``(N, S, S, 3)`` uint8 RGB crops; returns ``(N,)`` float64."""
        if len(chips) == 0:
            return np.zeros(0)
        return _predict(self.model, torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2))
