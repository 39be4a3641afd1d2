"""Image files decoded once and cached in memory when small; unpaired domain folders for CycleGAN training.

Sampling is not random here: :class:`EpochSampler` draws a fresh permutation per epoch from the seed and
the epoch number alone, so its whole state is two integers and a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import DataError, ImageLoadError
from ..image import uint8_to_tensor
from ..io import IMAGE_SUFFIXES, list_images, load_image
from .transforms import square_resize

#: Default memory cap (MB) for the decoded-image cache of one domain.
DEFAULT_CACHE_MB = 512


@dataclass(frozen=True)
class SkippedFile:
    """A file that looked like an image but could not be decoded, and why."""

    path: Path
    reason: str


class ImageFiles:
    """A fixed list of image files, delivered as square batches at the current size.

    Every file is decoded once when the object is built, so unreadable ones are found (and skipped) up
    front and indices stay stable for the whole run. When ``count × size² × 3`` bytes fit in
    ``cache_mb``, the resized pixels are kept in memory and batches cost no decoding at all. Subclasses
    choose the files (:class:`DomainImages` lists a folder, ``LabelledImages`` reads a manifest) and
    decide what an empty result means.

    Args:
        candidates: the files to read, in order.
        size: side of the square images delivered by :meth:`load`.
        cache_mb: memory cap for the cache of decoded, resized images.
        workers: threads that decode images for uncached batches (PIL releases the GIL while decoding).
        progress: show a progress bar while scanning.
        description: the progress bar's label.
    """

    def __init__(
        self,
        candidates: Sequence[Path],
        size: int,
        cache_mb: float = DEFAULT_CACHE_MB,
        workers: int = 0,
        progress: bool = False,
        description: str = "reading images",
    ) -> None:
        self.cache_mb = cache_mb
        self.workers = workers
        self.size = size
        self.files: list[Path] = []
        self.skipped: list[SkippedFile] = []
        #: For each entry of :attr:`files`, its position in ``candidates`` (labels stay aligned with it).
        self.kept: list[int] = []
        self._cache: list[np.ndarray] | None = [] if self._fits_cache(len(candidates), size) else None
        for position, path in enumerate(
            tqdm(candidates, desc=description, disable=not progress, leave=False)
        ):
            try:
                pixels = square_resize(load_image(path), size)
            except ImageLoadError as error:
                self.skipped.append(SkippedFile(path, str(error)))
                continue
            self.files.append(path)
            self.kept.append(position)
            if self._cache is not None:
                self._cache.append(pixels)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def cached(self) -> bool:
        """Whether batches come from memory rather than from disk."""
        return self._cache is not None

    def _fits_cache(self, count: int, size: int) -> bool:
        return count * size * size * 3 <= self.cache_mb * 2**20

    def set_size(self, size: int) -> None:
        """Deliver images at ``size`` from now on (a new stage of a progressive schedule)."""
        if size == self.size:
            return
        self.size = size
        self._cache = None
        if self._fits_cache(len(self.files), size):
            self._cache = self._decode(range(len(self.files)))

    def _decode_one(self, index: int) -> np.ndarray:
        try:
            return square_resize(load_image(self.files[index]), self.size)
        except ImageLoadError as error:
            raise DataError(f"{self.files[index]}: became unreadable during training ({error})") from None

    def _decode(self, indices: Sequence[int]) -> list[np.ndarray]:
        if self.workers > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                return list(pool.map(self._decode_one, indices))
        return [self._decode_one(i) for i in indices]

    def load(self, indices: Sequence[int]) -> torch.Tensor:
        """A batch of images by index.

        Args:
            indices: positions in :attr:`files`.

        Returns:
            ``(len(indices), 3, size, size)`` float32 RGB in ``[-1, 1]``.
        """
        arrays = [self._cache[i] for i in indices] if self._cache is not None else self._decode(indices)
        return torch.stack([uint8_to_tensor(array) for array in arrays])


class DomainImages(ImageFiles):
    """The readable images of one domain folder, delivered as square batches at the current size.

    Decoding, caching and skipping work as in :class:`ImageFiles`.

    Args:
        folder: the domain's folder (searched recursively; hidden files and unknown suffixes ignored).
        size: side of the square images delivered by :meth:`load`.
        cache_mb: memory cap for the cache of decoded, resized images.
        workers: threads that decode images for uncached batches (PIL releases the GIL while decoding).
        progress: show a progress bar while scanning.

    Raises:
        DataError: the folder is missing, or none of its images can be read.
    """

    def __init__(
        self,
        folder: str | Path,
        size: int,
        cache_mb: float = DEFAULT_CACHE_MB,
        workers: int = 0,
        progress: bool = False,
    ) -> None:
        self.folder = Path(folder)
        candidates = list_images(self.folder)
        super().__init__(candidates, size, cache_mb, workers, progress, f"reading {self.folder.name}")
        if not self.files:
            found = f"{len(candidates)} candidate files, none readable" if candidates else "no image files"
            raise DataError(
                f"{self.folder}: {found} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, recursively; "
                "hidden files are ignored)"
            )


class UnpairedFolders:
    """Two unpaired domains: A (young) and B (old), e.g. ``DATA/trainA`` and ``DATA/trainB``.

    Args:
        folder_a: images of domain A.
        folder_b: images of domain B.
        size: side of the square images delivered.
        cache_mb: memory cap for decoded images, shared by the two domains.
        workers: decoding threads for uncached batches.
        progress: show progress while scanning.
    """

    def __init__(
        self,
        folder_a: str | Path,
        folder_b: str | Path,
        size: int,
        cache_mb: float = 2 * DEFAULT_CACHE_MB,
        workers: int = 0,
        progress: bool = False,
    ) -> None:
        self.domains = {
            name: DomainImages(folder, size, cache_mb / 2, workers, progress)
            for name, folder in (("A", folder_a), ("B", folder_b))
        }

    @classmethod
    def from_data_dir(cls, data: str | Path, size: int, split: str = "train", **options) -> UnpairedFolders:
        """Open ``DATA/{split}A`` and ``DATA/{split}B`` (the layout every ``ageshift prepare`` writes)."""
        data = Path(data)
        folders = [data / f"{split}{domain}" for domain in ("A", "B")]
        missing = [str(folder) for folder in folders if not folder.is_dir()]
        if missing:
            raise DataError(
                f"{data}: missing {', '.join(missing)} (expected {split}A/ and {split}B/ image folders, "
                "as written by `ageshift prepare`)"
            )
        return cls(folders[0], folders[1], size, **options)

    @property
    def skipped(self) -> list[SkippedFile]:
        """Unreadable files of both domains."""
        return [item for domain in self.domains.values() for item in domain.skipped]

    def set_size(self, size: int) -> None:
        """Deliver images at ``size`` from now on, in both domains."""
        for domain in self.domains.values():
            domain.set_size(size)


class EpochSampler:
    """Endless batches of indices: a fresh permutation each epoch, decided by ``seed``, ``salt`` and epoch.

    Args:
        length: number of items.
        seed: the run's seed.
        salt: distinguishes samplers sharing a seed (e.g. one per domain).
    """

    def __init__(self, length: int, seed: int, salt: int = 0) -> None:
        if length <= 0:
            raise DataError(f"cannot sample from an empty set (length {length})")
        self.length, self.seed, self.salt = length, seed, salt
        self.epoch, self.offset = 0, 0
        self._order: torch.Tensor | None = None

    def _permutation(self) -> torch.Tensor:
        if self._order is None:
            mixed = ((self.seed * 1_000_003 + self.salt) * 65_537 + self.epoch) % 2**63
            generator = torch.Generator().manual_seed(mixed)
            self._order = torch.randperm(self.length, generator=generator)
        return self._order

    def next(self, count: int) -> list[int]:
        """The next ``count`` indices, crossing into the next epoch when this one runs out."""
        chosen: list[int] = []
        while len(chosen) < count:
            take = min(count - len(chosen), self.length - self.offset)
            chosen += self._permutation()[self.offset : self.offset + take].tolist()
            self.offset += take
            if self.offset == self.length:
                self.epoch, self.offset, self._order = self.epoch + 1, 0, None
        return chosen

    def state_dict(self) -> dict[str, int]:
        """The data position: epoch and offset within it."""
        return {"epoch": self.epoch, "offset": self.offset, "length": self.length}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a saved data position; the dataset must have the same number of items."""
        if int(state["length"]) != self.length:
            raise DataError(
                f"the dataset now has {self.length} readable images but the checkpoint was made with "
                f"{state['length']}; resume needs the same data"
            )
        self.epoch, self.offset, self._order = int(state["epoch"]), int(state["offset"]), None
