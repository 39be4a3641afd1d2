"""Unpaired domain folders: bad files skipped and counted, caching, sizes, flips and the epoch sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import random_image

from ageshift.data import (
    DomainImages,
    EpochSampler,
    UnpairedFolders,
    flip_horizontally,
    random_flip_mask,
    square_resize,
)
from ageshift.errors import DataError


def make_domain(folder: Path, rng: np.random.Generator, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        random_image(rng, size=(40, 30)).save(folder / f"{i}.png")
    return folder


def test_bad_files_are_skipped_counted_and_named(tmp_path, rng):
    folder = make_domain(tmp_path / "A", rng)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    random_image(rng).save(folder / "renamed.gif", format="GIF")  # suffix not allow-listed: ignored
    random_image(rng).save(folder / "gif-in-disguise.png", format="GIF")  # format not allow-listed
    random_image(rng).save(folder / ".hidden.png")
    (folder / "sub").mkdir()
    random_image(rng).save(folder / "sub" / "nested.jpg")
    domain = DomainImages(folder, size=16)
    assert len(domain) == 4  # three top-level images plus the nested one
    skipped = {item.path.name for item in domain.skipped}
    assert skipped == {"corrupt.jpg", "empty.png", "gif-in-disguise.png"}
    assert all(item.path.name in item.reason for item in domain.skipped)


def test_empty_domain_is_a_clear_error(tmp_path, rng):
    make_domain(tmp_path / "trainA", rng)
    empty = tmp_path / "trainB"
    empty.mkdir()
    (empty / "broken.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"trainB.*none readable"):
        UnpairedFolders.from_data_dir(tmp_path, size=16)
    with pytest.raises(DataError, match="missing"):
        UnpairedFolders.from_data_dir(tmp_path / "nowhere", size=16)


def test_batches_have_the_stage_size_and_range(tmp_path, rng):
    data = UnpairedFolders(make_domain(tmp_path / "a", rng), make_domain(tmp_path / "b", rng, 2), size=16)
    batch = data.domains["A"].load([2, 0])
    assert batch.shape == (2, 3, 16, 16) and batch.dtype == torch.float32
    assert batch.min() >= -1 and batch.max() <= 1
    data.set_size(24)
    assert data.domains["B"].load([1]).shape == (1, 3, 24, 24)


def test_cached_and_uncached_batches_match(tmp_path, rng):
    folder = make_domain(tmp_path / "a", rng)
    cached = DomainImages(folder, size=16)
    streamed = DomainImages(folder, size=16, cache_mb=0, workers=2)
    assert cached.cached and not streamed.cached
    assert torch.equal(cached.load([0, 1, 2]), streamed.load([0, 1, 2]))


def test_square_resize_crops_the_centre():
    array = np.zeros((10, 30, 3), dtype=np.uint8)
    array[:, 10:20] = 255  # the centre square is white, the sides black
    out = square_resize(Image.fromarray(array), 5)
    assert out.shape == (5, 5, 3) and out.min() > 200


def test_flip_mirrors_only_the_chosen_images():
    images = torch.arange(2 * 3 * 2 * 3, dtype=torch.float32).reshape(2, 3, 2, 3)
    flipped = flip_horizontally(images, torch.tensor([True, False]))
    assert torch.equal(flipped[0], images[0].flip(-1)) and torch.equal(flipped[1], images[1])
    generator = torch.Generator().manual_seed(0)
    mask = random_flip_mask(1000, generator)
    assert 400 < int(mask.sum()) < 600
    assert not random_flip_mask(8, generator, probability=0.0).any()


def test_epoch_sampler_covers_each_epoch_and_resumes():
    sampler = EpochSampler(5, seed=1)
    first_epoch = sampler.next(3) + sampler.next(2)
    assert sorted(first_epoch) == list(range(5))
    crossing = sampler.next(7)  # the rest of epoch 2 spills into epoch 3
    state = sampler.state_dict()
    following = sampler.next(4)
    resumed = EpochSampler(5, seed=1)
    resumed.load_state_dict(state)
    assert resumed.next(4) == following
    assert sorted(crossing[:5]) == list(range(5))
    with pytest.raises(DataError, match="same data"):
        EpochSampler(6, seed=1).load_state_dict(state)
