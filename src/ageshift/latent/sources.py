"""Which generator and which direction a latent command works with: the packaged DCGAN or an ageshift StyleGAN,
a direction folder or a built-in name (``age``, fitted on first use and cached), or a direction taken from the
difference of projected photos (the pet time machine's "age vector": mean latent of the old photos minus
mean latent of the young ones).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError
from ..io import load_image
from .directions import LatentDirection
from .generator import LatentGenerator
from .projection import FeatureExtractor, ProjectionConfig, align_for_generator, project_images

#: ``--generator dcgan``: the packaged 64×64 DCGAN face generator.
PACKAGED = "dcgan"
#: Direction names that need no folder: fitted on first use with the packaged age estimator, then cached.
BUILTIN_DIRECTIONS = ("age",)
#: Samples labelled for a built-in direction (as ``latent fit-direction``'s default) and their seed.
BUILTIN_SAMPLES = 2000
BUILTIN_SEED = 0


def load_generator(
    spec: str | Path = PACKAGED, space: str = "w", truncation_psi: float = 1.0
) -> LatentGenerator:
    """``"dcgan"`` (the packaged DCGAN) or the folder of an exported ``stylegan`` model (in ``space``)."""
    if str(spec) == PACKAGED:
        from .generator import load_packaged_dcgan

        return load_packaged_dcgan()
    if not Path(spec).is_dir():
        raise ConfigError(f"--generator {spec}: not 'dcgan' and not a model folder")
    from .stylegan import load_stylegan_latent

    return load_stylegan_latent(spec, space, truncation_psi)


def cache_dir() -> Path:
    """Where ageshift caches what it computes once: ``$AGESHIFT_CACHE``, else ``$XDG_CACHE_HOME/ageshift``,
    else ``~/.cache/ageshift``."""
    if os.environ.get("AGESHIFT_CACHE"):
        return Path(os.environ["AGESHIFT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ageshift"


def generator_fingerprint(generator: LatentGenerator) -> str:
    """A short hash of what the generator renders from fixed latents: different weights, different caches."""
    with torch.no_grad():
        images = generator.synthesize(generator.sample_latents(2, torch.Generator().manual_seed(0)))
    quantised = (images * 64).round().to(torch.int16).numpy().tobytes()
    return hashlib.sha256(quantised + str(generator.latent_dim).encode()).hexdigest()[:12]


def fit_age_direction(
    generator: LatentGenerator,
    samples: int = BUILTIN_SAMPLES,
    seed: int = BUILTIN_SEED,
    progress: bool = True,
) -> LatentDirection:
    """The ridge age direction of ``generator``: ``samples`` generated images labelled by the packaged age
    estimator, as ``latent fit-direction`` does (deterministic for a seed)."""
    from .directions import PACKAGED_AGE_LABELLER, fit_direction, label_latents
    from .scoring import packaged_age_function

    labelled = label_latents(generator, packaged_age_function(), samples, seed=seed, progress=progress)
    return fit_direction(
        labelled.latents,
        labelled.scores,
        generator_name=generator.name,
        labelled_by=PACKAGED_AGE_LABELLER,
    )


def resolve_direction(
    value: str | Path, generator: LatentGenerator, progress: bool = True
) -> LatentDirection:
    """A direction folder, or a built-in name (``age``): fitted for ``generator`` once, then read from the cache.

    Raises:
        ModelLoadError: not a direction folder (and not a built-in name).
        ConfigError: a direction for another latent size.
    """
    path = Path(value)
    if str(value) in BUILTIN_DIRECTIONS and not path.exists():
        cached = cache_dir() / "directions" / f"{value}-{generator_fingerprint(generator)}"
        if (cached / "config.json").is_file():
            direction = LatentDirection.load(cached)
        else:
            direction = fit_age_direction(generator, progress=progress)
            direction.save(cached)
    else:  # a folder; its own errors name it (missing, not a direction, damaged)
        direction = LatentDirection.load(path)
    if direction.latent_dim != generator.latent_dim:
        raise ConfigError(
            f"--direction {value}: a direction for latents of size {direction.latent_dim}, but "
            f"{generator.name} has {generator.latent_dim}"
        )
    return direction


@dataclass
class PhotoDirection:
    """A direction from two photo sets and how well each photo was projected."""

    direction: LatentDirection
    psnr: dict[str, list[float]]  # "positive"/"negative" → PSNR (dB) of each photo's projection


def direction_from_photos(
    generator: LatentGenerator,
    positive: Sequence[Path],
    negative: Sequence[Path],
    config: ProjectionConfig | None = None,
    feature_extractor: FeatureExtractor | None = None,
    attribute: str = "age",
    progress: bool = True,
) -> PhotoDirection:
    """Project both photo sets and take ``mean(latents of positive) − mean(latents of negative)``.

    Strength 1 moves a latent by the whole difference (from the negative set's mean to the positive's).

    Args:
        generator: the latent generator.
        positive: photos showing more of the attribute (``--old``).
        negative: photos showing less of it (``--young``).
        config: projection settings.
        feature_extractor: optional feature network for the projection loss.
        attribute: what the direction changes (recorded).

    Returns:
        The direction and each photo's projection PSNR.
    """
    means, psnr = [], {}
    for name, paths in (("positive", positive), ("negative", negative)):
        targets = torch.cat([align_for_generator(load_image(p), generator.image_size)[0] for p in paths])
        result = project_images(generator, targets, config, feature_extractor, progress)
        means.append(result.latents.mean(dim=0))
        psnr[name] = [float(v) for v in result.psnr]
    difference = means[0] - means[1]
    length = float(difference.norm())
    if length == 0.0:
        raise ConfigError("the two photo sets project to the same latent: no direction between them")
    direction = LatentDirection(
        vector=difference / length,
        scale=length,
        method="photo-difference",
        attribute=attribute,
        units="",
        generator_name=generator.name,
        labelled_by="photos",
        fit_stats={"positive_photos": len(positive), "negative_photos": len(negative), "psnr_db": psnr},
    )
    return PhotoDirection(direction, psnr)
