"""``evaluate_model``: translate the held-out split and answer the three questions with numbers.

What is evaluated follows the model's :class:`~ageshift.models.conditions.ConditionSpec`, never its family
name. Two-domain models (directions): each direction's held-out domain is translated, and the report asks
is it older (age estimator before/after, share inside the target age range), is it the same person
(identity distance), does it look real (FID/KID against real target-domain images), plus the A→B→A cycle
reconstruction error and per-group results where ``manifest.csv`` has labels. Conditional models (a target
age and/or attributes): see :mod:`ageshift.evaluation.conditional`. Each section fails alone: a missing
optional package turns it into ``{"skipped": "<how to install>"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.manifest import read_dataset_json, read_manifest
from ..data.transforms import square_resize
from ..errors import DataError, ImageLoadError, MissingDependencyError
from ..image import tensor_to_uint8, uint8_to_tensor
from ..io import list_images, load_image

SECTIONS = ("age", "attributes", "identity", "realism", "cycle")
#: The sections of the two-domain report ("attributes" applies to conditional models only).
TWO_DOMAIN_SECTIONS = ("age", "identity", "realism", "cycle")
GROUP_COLUMNS = ("gender", "race")
#: direction → (source domain, target domain)
DIRECTION_DOMAINS = {"older": ("A", "B"), "younger": ("B", "A")}
OPPOSITE = {"older": "younger", "younger": "older"}
#: PSNR of identical images is infinite; JSON has no infinity, so per-image values are capped here.
PSNR_CAP_DB = 100.0


@dataclass
class DatasetInfo:
    """What a dataset folder says about itself."""

    root: Path
    description: dict[str, Any]
    labels: dict[str, dict[str, str]]
    skipped_files: list[str] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        crop = self.description.get("crop") or {}
        return self.description.get("name") == "synthetic" or crop.get("template") == "synthetic"


@dataclass
class EvalImages:
    """The held-out images of one domain: relative file names and a ``(N, 3, S, S)`` RGB tensor in [-1, 1]."""

    files: list[str]
    images: torch.Tensor


def read_dataset_info(data_dir: str | Path, labelled: bool = False) -> DatasetInfo:
    """Check the dataset layout and read ``dataset.json`` and ``manifest.csv`` when present.

    Args:
        data_dir: a folder with ``testA/`` and ``testB/``, or (``labelled``) ``test/`` instead (see
            docs/ARCHITECTURE.md).
        labelled: accept the labelled layout (conditional models read ``test/`` or ``testA/ testB/``).

    Returns:
        A :class:`DatasetInfo`; ``labels`` maps ``"testA/x.png"`` to the manifest row.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder does not exist")
    missing = [name for name in ("testA", "testB") if not (root / name).is_dir()]
    if labelled and missing and not (root / "test").is_dir():
        raise DataError(
            f"{root}: no test folder (nor testA and testB); a conditional model is evaluated on the "
            "labelled held-out split (DATA/test with manifest.csv) written by 'ageshift prepare'"
        )
    if missing and not labelled:
        raise DataError(
            f"{root}: no {' or '.join(missing)} folder; evaluation reads the held-out split "
            "(DATA/testA, DATA/testB) written by 'ageshift prepare'"
        )
    description = read_dataset_json(root)
    labels: dict[str, dict[str, str]] = {}
    if (root / "manifest.csv").is_file():
        labels = {row["file"]: row for row in read_manifest(root / "manifest.csv") if "file" in row}
    return DatasetInfo(root, description, labels)


def load_domain(info: DatasetInfo, domain: str, size: int, limit: int | None, seed: int = 0) -> EvalImages:
    """Load ``test{domain}`` images (square-cropped and resized to ``size``); unreadable ones are noted.

    Args:
        info: the dataset.
        domain: ``"A"`` or ``"B"``.
        size: image side.
        limit: at most this many, ``None`` for all.
        seed: picks which ones under a limit.

    Returns:
        The images.
    """
    folder = info.root / f"test{domain}"
    paths = list_images(folder)
    if not paths:
        raise DataError(f"{folder}: no images (supported: .png, .jpg, .jpeg, .webp, .bmp, .tif)")
    if limit is not None and limit < len(paths):
        # A seeded sample, not the first N: prepared names can sort by age (UTKFace's "25_0_1_…").
        chosen = np.sort(np.random.default_rng(seed).choice(len(paths), limit, replace=False))
        paths = [paths[i] for i in chosen]
    files, arrays = [], []
    for path in paths:
        try:
            arrays.append(uint8_to_tensor(square_resize(load_image(path), size)))
        except ImageLoadError as error:
            info.skipped_files.append(str(error))
            continue
        files.append(path.relative_to(info.root).as_posix())
    if not files:
        raise DataError(f"{folder}: none of the images could be read")
    return EvalImages(files, torch.stack(arrays))


def target_age_range(info: DatasetInfo, domain: str) -> tuple[float, float] | None:
    """The target domain's age range: ``dataset.json`` domains first, else the manifest's ages, else ``None``."""
    facts = (info.description.get("domains") or {}).get(domain) or {}
    if "age_min" in facts and "age_max" in facts:
        return float(facts["age_min"]), float(facts["age_max"])
    ages = []
    for row in info.labels.values():
        if row.get("domain") == domain and row.get("age"):
            try:
                ages.append(float(row["age"]))
            except ValueError:
                continue
    return (min(ages), max(ages)) if ages else None


def to_crops(images: torch.Tensor) -> list[np.ndarray]:
    """``(B, 3, H, W)`` in [-1, 1] → list of ``(H, W, 3)`` uint8 arrays."""
    return [tensor_to_uint8(image) for image in images]


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def age_section(
    estimator: Any,
    inputs: list[np.ndarray],
    outputs: list[np.ndarray],
    reals: list[np.ndarray],
    age_range: tuple[float, float] | None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Predicted ages before/after and against the target range; returns (summary, per-image arrays)."""
    from .age import predict_crop_ages

    before, detected_before = predict_crop_ages(inputs, estimator)
    after, detected_after = predict_crop_ages(outputs, estimator)
    real, _ = predict_crop_ages(reals, estimator)
    summary: dict[str, Any] = {
        "estimator": estimator.name,
        "mean_age_before": _mean(before),
        "mean_age_after": _mean(after),
        "mean_shift": _mean(after - before),
        "mean_age_real_target": _mean(real),
        "target_range": list(age_range) if age_range else None,
    }
    if age_range is not None:
        low, high = age_range
        summary["share_in_target_before"] = float(np.mean((before >= low) & (before <= high)))
        summary["share_in_target_after"] = float(np.mean((after >= low) & (after <= high)))
        summary["share_in_target_real"] = float(np.mean((real >= low) & (real <= high)))
    if estimator.aligned:
        summary["face_detected_share"] = float(np.mean(detected_before & detected_after))
    return summary, {"age_before": before, "age_after": after, "age_real": real}


def identity_section(
    inputs: torch.Tensor, outputs: torch.Tensor, synthetic: bool
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Identity distance input ↔ output: dlib's descriptor on real faces, the synthetic identity features
    (skin, head shape, iris, background) on synthetic ones, where dlib's detector finds no face."""
    from .conditional import identity_judge, identity_summary

    judge = identity_judge(synthetic)
    reference, input_detected = judge.features(inputs)
    features, output_detected = judge.features(outputs)
    distances = judge.distances(reference, features)
    summary = identity_summary(distances, input_detected & output_detected, judge)
    return summary, {"identity_distance": distances}


def cycle_section(
    inputs: torch.Tensor, reconstructions: torch.Tensor
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A→B→A reconstruction error: L1 (on [0, 1]), PSNR (dB, capped), SSIM."""
    from .image_metrics import l1_error, psnr, ssim

    l1 = l1_error(inputs, reconstructions).numpy()
    peak = psnr(inputs, reconstructions).clamp(max=PSNR_CAP_DB).numpy()
    per_image = {"cycle_l1": l1, "cycle_psnr": peak}
    summary: dict[str, Any] = {"l1": _mean(l1), "psnr_db": _mean(peak), "psnr_cap_db": PSNR_CAP_DB}
    if min(inputs.shape[-2:]) >= 11:
        structure = ssim(inputs, reconstructions).numpy()
        summary["ssim"] = _mean(structure)
        per_image["cycle_ssim"] = structure
    return summary, per_image


def group_section(
    files: list[str],
    labels: dict[str, dict[str, str]],
    per_image: dict[str, np.ndarray],
    age_range: tuple[float, float] | None,
    identity_threshold: float | None = None,
) -> dict[str, Any]:
    """Per-group means (UTKFace gender, race) of every per-image measurement that was taken."""
    groups: dict[str, Any] = {}
    for column in GROUP_COLUMNS:
        values = [labels.get(name, {}).get(column) or "" for name in files]
        if not any(values):
            continue
        groups[column] = {}
        for value in sorted(set(values) - {""}):
            mask = np.array([v == value for v in values])
            entry: dict[str, Any] = {"count": int(mask.sum())}
            for key, array in per_image.items():
                if len(array) == len(files) and key != "age_real":
                    entry[f"mean_{key}"] = _mean(array[mask])
            if "age_after" in per_image and age_range is not None:
                after = per_image["age_after"][mask]
                entry["share_in_target_after"] = float(
                    np.mean((after >= age_range[0]) & (after <= age_range[1]))
                )
            if "identity_distance" in per_image and identity_threshold is not None:
                entry["share_same_person"] = float(
                    np.mean(per_image["identity_distance"][mask] < identity_threshold)
                )
            groups[column][value] = entry
    return groups


def run_section(name: str, compute: Any, notes: list[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run one metric section; a missing optional package becomes a skipped section with its install hint."""
    try:
        return compute()
    except MissingDependencyError as error:
        notes.append(f"{name}: {error}")
        return {"skipped": str(error)}, {}


@dataclass
class DirectionResult:
    """One direction's summary, per-image measurements and the images for the report's grids."""

    summary: dict[str, Any]
    per_image: dict[str, np.ndarray]
    files: list[str]
    inputs: torch.Tensor
    outputs: torch.Tensor
    reconstructions: torch.Tensor | None


class _RealismCache:
    """FID features per real domain, computed once: a domain's real images serve both directions."""

    def __init__(self, weights: str | Path | None, device: str) -> None:
        self.weights, self.device = weights, device
        self._extractor: Any = None
        self._features: dict[str, np.ndarray] = {}

    @property
    def weights_used(self) -> str:
        """The feature network file FID/KID were computed with."""
        return str(self._extractor.weights) if self._extractor is not None else str(self.weights)

    def features(self, images: torch.Tensor, key: str | None = None) -> np.ndarray:
        if key is not None and key in self._features:
            return self._features[key]
        if self._extractor is None:
            from .fid import InceptionFeatures

            self._extractor = InceptionFeatures(self.weights, device=self.device)
        features = self._extractor(images)
        if key is not None:
            self._features[key] = features
        return features


def evaluate_direction(
    translator: Any,
    direction: str,
    info: DatasetInfo,
    domains: dict[str, EvalImages],
    sections: tuple[str, ...],
    estimator: Any,
    realism: _RealismCache,
    notes: list[str],
) -> DirectionResult:
    """Translate one domain's held-out images and measure every requested section."""
    source, target = DIRECTION_DOMAINS[direction]
    inputs = domains[source].images
    outputs = translator.translate_batch(inputs, direction)
    opposite = OPPOSITE[direction]
    reconstructions = (
        translator.translate_batch(outputs, opposite) if opposite in translator.directions else None
    )
    input_crops, output_crops = to_crops(inputs), to_crops(outputs)
    age_range = target_age_range(info, target)
    summary: dict[str, Any] = {"source_domain": source, "target_domain": target, "num_images": len(inputs)}
    per_image: dict[str, np.ndarray] = {}
    computations = {
        "age": lambda: age_section(
            estimator, input_crops, output_crops, to_crops(domains[target].images), age_range
        ),
        "identity": lambda: identity_section(inputs, outputs, info.synthetic),
        "realism": lambda: _realism(realism, outputs, domains, source, target),
        "cycle": lambda: (
            cycle_section(inputs, reconstructions)
            if reconstructions is not None
            else ({"skipped": f"the model has no {opposite!r} generator"}, {})
        ),
    }
    for name in sections:
        if name in computations:
            summary[name], measured = run_section(name, computations[name], notes)
            per_image.update(measured)
    threshold = summary.get("identity", {}).get("threshold")
    summary["groups"] = group_section(domains[source].files, info.labels, per_image, age_range, threshold)
    return DirectionResult(summary, per_image, domains[source].files, inputs, outputs, reconstructions)


def _realism(
    cache: _RealismCache, outputs: torch.Tensor, domains: dict[str, EvalImages], source: str, target: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from .fid import FID_NAME, fid_from_features, realism_metrics

    reals = cache.features(domains[target].images, key=target)
    if min(len(outputs), len(reals)) < 2:
        return {"skipped": "FID/KID need at least 2 generated and 2 real images"}, {}
    summary: dict[str, Any] = realism_metrics(cache.features(outputs), reals)
    # The untranslated inputs against the same reals: how far the model had to go (lower after = better).
    summary[f"{FID_NAME}_inputs"] = fid_from_features(
        cache.features(domains[source].images, key=source), reals
    )
    summary["feature_weights"] = cache.weights_used
    return summary, {}


def evaluate_model(
    translator: Any,
    data_dir: str | Path,
    out_dir: str | Path,
    limit: int | None = None,
    age_estimator: str | Path | Any = "auto",
    fid_weights: str | Path | None = None,
    sections: tuple[str, ...] = SECTIONS,
    device: str = "cpu",
    seed: int = 0,
    progress: bool = False,
    target_ages: tuple[float, ...] | list[float] | None = None,
) -> dict[str, Any]:
    """Evaluate a translator on a dataset's held-out split and write the report.

    Two-domain models (``translator.conditions.directions``) are evaluated per direction on ``testA/`` and
    ``testB/``; conditional models (a target age and/or attributes) on the labelled held-out faces, at each
    target age and attribute value (:mod:`ageshift.evaluation.conditional`).

    Args:
        translator: an :class:`ageshift.models.translator.Translator` (``ageshift.load(MODEL)``).
        data_dir: dataset folder with ``testA/``, ``testB/`` (conditional models: or ``test/``), and
            optionally ``manifest.csv`` (required for conditional models) and ``dataset.json``.
        out_dir: report folder: ``metrics.json``, ``per_image.csv``, ``index.html``, ``grids/``, ``plots/``.
        limit: at most this many images per domain (conditional models: held-out faces in all).
        age_estimator: ``"auto"`` (the cue on synthetic data, else the packaged one), ``"packaged"``,
            ``"cue"``, a ``train-age-estimator`` folder, or an :class:`~ageshift.evaluation.age.AgeEstimator`.
        fid_weights: TorchScript FID feature network; ``None`` for the packaged TF-Inception.
        sections: which of ``SECTIONS`` to measure (``"cycle"`` applies to two-domain models,
            ``"attributes"`` to conditional ones).
        device: where the FID network runs.
        seed: seed for the image sample under ``limit`` and for the random grid.
        progress: show a progress bar.
        target_ages: conditional models: the ages to translate to (default: the model's range in steps
            of 10 years).

    Returns:
        The metrics dict also written to ``metrics.json``.
    """
    from .report import write_report

    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise DataError(f"unknown evaluation sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be at least 1, got {limit}")
    conditional = translator.conditions.conditional
    if target_ages is not None and not conditional:
        raise DataError(
            f"target ages apply to conditional models; this {translator.family} model accepts "
            f"{translator.conditions.accepts()}"
        )
    info = read_dataset_info(data_dir, labelled=conditional)
    size = int(info.description.get("image_size") or translator.image_size)
    notes: list[str] = []
    judges_age = "age" in sections and (not conditional or translator.conditions.age is not None)
    estimator = _resolve_estimator(age_estimator, info, notes) if judges_age else None
    realism = _RealismCache(fid_weights, device)
    metrics: dict[str, Any] = {
        "format": "ageshift-evaluation",
        "model": {
            "family": translator.family,
            "image_size": translator.image_size,
            "domains": translator.metadata.get("domains"),
            "conditions": translator.conditions.to_json(),
        },
        "data": str(info.root),
        "dataset": info.description.get("name"),
        "image_size": size,
        "limit": limit,
        "age_estimator": getattr(estimator, "name", None),
        "notes": notes,
        "skipped_files": info.skipped_files,
    }
    if conditional:
        from .conditional import CONDITIONAL_SECTIONS, evaluate_conditional, load_labelled_split

        split = load_labelled_split(info, size, list(translator.conditions.attributes), limit, seed)
        chosen = tuple(name for name in CONDITIONAL_SECTIONS if name in sections)
        result = evaluate_conditional(
            translator, info, split, chosen, estimator, realism, notes, target_ages, seed, progress
        )
        metrics |= {"sections": list(chosen), "directions": {}, "conditional": result.summary}
        write_report(metrics, out_dir, conditional=result)
        return metrics
    chosen = tuple(name for name in TWO_DOMAIN_SECTIONS if name in sections)
    results = _evaluate_directions(
        translator, info, size, limit, seed, chosen, estimator, realism, notes, progress
    )
    metrics |= {
        "sections": list(chosen),
        "directions": {name: result.summary for name, result in results.items()},
    }
    write_report(metrics, out_dir, results, seed=seed)
    return metrics


def _evaluate_directions(
    translator: Any,
    info: DatasetInfo,
    size: int,
    limit: int | None,
    seed: int,
    sections: tuple[str, ...],
    estimator: Any,
    realism: _RealismCache,
    notes: list[str],
    progress: bool,
) -> dict[str, DirectionResult]:
    from tqdm import tqdm

    domains = {domain: load_domain(info, domain, size, limit, seed) for domain in ("A", "B")}
    directions = [d for d in DIRECTION_DOMAINS if d in translator.directions]
    return {
        direction: evaluate_direction(
            translator, direction, info, domains, sections, estimator, realism, notes
        )
        for direction in tqdm(directions, desc="evaluating", unit="direction", disable=not progress)
    }


def _resolve_estimator(spec: Any, info: DatasetInfo, notes: list[str]) -> Any:
    from .age import create_age_estimator

    if not isinstance(spec, str | Path):
        return spec
    if str(spec) == "auto":
        spec = "cue" if info.synthetic else "packaged"
        if info.synthetic:
            notes.append(
                "age: synthetic data, so the measurable age cue (measure_age_cue) plays the age estimator"
            )
    return create_age_estimator(spec)


def card_summary(metrics: dict[str, Any], report_dir: Path | None = None) -> dict[str, Any]:
    """The short evaluation summary a model card keeps: data, judges and the headline figures.

    Args:
        metrics: what :func:`evaluate_model` returned.
        report_dir: where the full report was written (recorded as a pointer).
    """
    import math
    from datetime import datetime, timezone

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    summary: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": metrics.get("data"),
        "dataset": metrics.get("dataset"),
        "age_estimator": metrics.get("age_estimator"),
        "report": str(report_dir) if report_dir is not None else None,
    }
    conditional = metrics.get("conditional")
    if conditional:
        age = conditional.get("age") or {}
        attributes = (conditional.get("attributes") or {}).get("by_attribute") or {}
        identity = conditional.get("identity") or {}
        summary["conditional"] = {
            "age_mae": finite(age.get("mae")),
            "age_mae_if_unchanged": finite(age.get("unchanged_mae")),
            "age_correlation": finite(age.get("correlation")),
            "attribute_accuracy": {name: finite(entry.get("accuracy")) for name, entry in attributes.items()},
            "identity_share_same_person": finite(identity.get("share_same_person")),
        }
    for direction, result in (metrics.get("directions") or {}).items():
        age = result.get("age") or {}
        cycle = result.get("cycle") or {}
        identity = result.get("identity") or {}
        summary[direction] = {
            "mean_age_shift": finite(age.get("mean_shift")),
            "share_in_target_after": finite(age.get("share_in_target_after")),
            "cycle_psnr_db": finite(cycle.get("psnr_db")),
            "cycle_ssim": finite(cycle.get("ssim")),
            "identity_share_same_person": finite(identity.get("share_same_person")),
        }
    return summary
