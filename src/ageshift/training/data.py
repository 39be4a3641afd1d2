"""Training data behind one interface, whatever the family trains on: unpaired A/B folders or labelled images.

A family names its ``data_kind``; :func:`open_training_data` opens it. Sampling is deterministic (an
:class:`~ageshift.data.EpochSampler` per stream, decided by the seed alone) and flips draw from the trainer's
generator, so the data position is a few integers saved in every checkpoint and a resumed run sees the same
batches.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from ..data import EpochSampler, UnpairedFolders, flip_horizontally, random_flip_mask, square_resize
from ..data.folders import SkippedFile
from ..errors import ConfigError, DataError, ImageLoadError
from ..image import uint8_to_tensor
from ..io import list_images, load_image
from ..models.family import Batch

#: What ``train(..., data=...)`` accepts: a dataset root, or two folders (domain A, domain B).
DataSource = str | Path | tuple[str | Path, str | Path]


class TrainingData(ABC):
    """Batches for the trainer, fixed samples for the grids, and a position that checkpoints save."""

    kind: str = ""
    skipped: list[SkippedFile]
    #: ``next_batch`` takes ``shard`` and loads only that part of the global batch (distributed training).
    loads_shards: bool = False

    @abstractmethod
    def __init__(self, source: DataSource, size: int, seed: int, config: Any, progress: bool) -> None:
        """Open ``source`` at ``size²`` (config: ``cache_mb``, ``data_workers``); the seed fixes the order."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Readable training images per stream (``{"A": n, "B": m}`` or ``{"images": n}``)."""

    @abstractmethod
    def set_size(self, size: int) -> None:
        """Deliver ``size²`` images from now on (a new progressive stage)."""

    @abstractmethod
    def next_batch(self, batch_size: int, random: torch.Generator, flip_probability: float) -> Batch:
        """The next batch of every stream (CPU tensors).

        Data with ``loads_shards`` also takes ``shard=slice(...)``: the global batch's indices and flips are
        drawn as for one process (so the position is the same whatever the number of processes), and only
        the ``shard`` part is loaded.
        """

    @abstractmethod
    def samples(self, count: int) -> Batch:
        """Fixed images for sample grids: held-out ones when the data has a test split."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The data position."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved data position (the data must be the same)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """``{"kind", "root", "counts", ...}``: for the log, the run folder and the model card."""

    def sample_targets(self, count: int, random: torch.Generator) -> Batch | None:
        """Target labels drawn from the data's own distribution (labelled data only)."""
        return None


def _options(config: Any, progress: bool) -> dict[str, Any]:
    return {"cache_mb": config.cache_mb, "workers": config.data_workers, "progress": progress}


def _load_folder(folder: Path, count: int, size: int) -> torch.Tensor | None:
    """The first ``count`` readable images of ``folder`` as ``(N, 3, size, size)``, or None when it has none."""
    if not folder.is_dir():
        return None
    images = []
    for path in list_images(folder):
        with contextlib.suppress(ImageLoadError):
            images.append(uint8_to_tensor(square_resize(load_image(path), size)))
        if len(images) == count:
            break
    return torch.stack(images) if images else None


class UnpairedData(TrainingData):
    """Two unpaired domains: ``DATA/trainA`` (young) and ``DATA/trainB`` (old), or two given folders."""

    kind = "unpaired"

    def __init__(self, source: DataSource, size: int, seed: int, config: Any, progress: bool) -> None:
        if isinstance(source, tuple):
            self.folders = UnpairedFolders(source[0], source[1], size, **_options(config, progress))
            self.held_out: dict[str, Path | None] = {"A": None, "B": None}
            self.root: Path | None = None
        else:
            self.folders = UnpairedFolders.from_data_dir(source, size, **_options(config, progress))
            self.held_out = {"A": Path(source) / "testA", "B": Path(source) / "testB"}
            self.root = Path(source)
        self.source = source
        self.size = size
        self.skipped = self.folders.skipped
        self.samplers = {
            name: EpochSampler(len(domain), seed, salt=index)
            for index, (name, domain) in enumerate(sorted(self.folders.domains.items()))
        }

    def counts(self) -> dict[str, int]:
        return {name: len(domain) for name, domain in self.folders.domains.items()}

    def set_size(self, size: int) -> None:
        self.size = size
        self.folders.set_size(size)

    loads_shards = True

    def next_batch(
        self, batch_size: int, random: torch.Generator, flip_probability: float, shard: slice | None = None
    ) -> Batch:
        batch = {}
        for name in ("A", "B"):
            indices = self.samplers[name].next(batch_size)
            if shard is None:
                images = self.folders.domains[name].load(indices)
                batch[name] = flip_horizontally(
                    images, random_flip_mask(batch_size, random, flip_probability)
                )
            else:
                images = self.folders.domains[name].load(indices[shard])
                mask = random_flip_mask(batch_size, random, flip_probability)[shard]
                batch[name] = flip_horizontally(images, mask)
        return batch

    def samples(self, count: int) -> Batch:
        batches = {}
        for name, domain in self.folders.domains.items():
            folder = self.held_out.get(name)
            batch = _load_folder(folder, count, self.size) if folder is not None else None
            batches[name] = batch if batch is not None else domain.load(range(min(count, len(domain))))
        return batches

    def state_dict(self) -> dict[str, Any]:
        return {name: sampler.state_dict() for name, sampler in self.samplers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, sampler in self.samplers.items():
            sampler.load_state_dict(state[name])

    def describe(self) -> dict[str, Any]:
        if isinstance(self.source, tuple):
            reference = {"folder_a": str(self.source[0]), "folder_b": str(self.source[1])}
        else:
            reference = {"root": str(self.source)}
        return {"kind": self.kind, **reference, "counts": self.counts()}


class LabelledData(TrainingData):
    """Images with labels (``manifest.csv`` + ``dataset.json`` ``labels``): ``train/`` or ``trainA/``+``trainB/``."""

    kind = "labelled"

    def __init__(self, source: DataSource, size: int, seed: int, config: Any, progress: bool) -> None:
        from ..data.labelled import LabelledImages

        if isinstance(source, tuple):
            raise ConfigError(
                "this model family trains on labelled images: pass --data DATA (with manifest.csv)"
            )
        self.root = Path(source)
        self.images = LabelledImages(self.root, size, "train", **_options(config, progress))
        self.schema = self.images.schema
        self.size = size
        self.skipped = list(self.images.skipped)
        self.sampler = EpochSampler(len(self.images), seed, salt=0)
        self._held_out: Any = None

    def counts(self) -> dict[str, int]:
        return {"images": len(self.images)}

    def set_size(self, size: int) -> None:
        self.size = size
        self.images.set_size(size)
        self._held_out = None

    loads_shards = True

    def next_batch(
        self, batch_size: int, random: torch.Generator, flip_probability: float, shard: slice | None = None
    ) -> Batch:
        indices = self.sampler.next(batch_size)
        if shard is None:
            images = self.images.load(indices)
            flipped = flip_horizontally(images, random_flip_mask(batch_size, random, flip_probability))
            return {"images": flipped, **self.images.labels(indices)}
        mine = indices[shard]
        mask = random_flip_mask(batch_size, random, flip_probability)[shard]
        return {"images": flip_horizontally(self.images.load(mine), mask), **self.images.labels(mine)}

    def samples(self, count: int) -> Batch:
        from ..data.labelled import LabelledImages

        source = self.images
        with contextlib.suppress(DataError):
            held_out = LabelledImages(self.root, self.size, "test", schema=self.schema, cache_mb=0)
            if len(held_out):
                source = held_out
        indices = list(range(min(count, len(source))))
        return {"images": source.load(indices), **source.labels(indices)}

    def sample_targets(self, count: int, random: torch.Generator) -> Batch:
        from ..data.labelled import sample_targets

        return sample_targets(self.images, count, random)

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["images"])

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "root": str(self.root),
            "counts": self.counts(),
            "labels": self.schema.to_json(),
        }


#: Data kinds by name; a family's ``data_kind`` picks one.
DATA_KINDS: dict[str, type[TrainingData]] = {"unpaired": UnpairedData, "labelled": LabelledData}


def open_training_data(
    kind: str, source: DataSource, size: int, seed: int, config: Any, progress: bool
) -> TrainingData:
    """Open ``source`` as data of ``kind`` at ``size²`` (config: ``cache_mb``, ``data_workers``)."""
    if kind not in DATA_KINDS:
        raise ConfigError(f"unknown data kind {kind!r}; known: {', '.join(DATA_KINDS)}")
    return DATA_KINDS[kind](source, size, seed, config, progress)


def data_from_reference(reference: dict[str, str]) -> DataSource:
    """The data source recorded by :meth:`TrainingData.describe` (for resuming without ``--data``)."""
    if "root" in reference:
        return Path(reference["root"])
    return (Path(reference["folder_a"]), Path(reference["folder_b"]))
