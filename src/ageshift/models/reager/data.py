"""Distillation data: faces from a folder and a teacher model that re-ages them on the fly, or a latent
generator that makes both the faces and their re-aged versions (:mod:`.latent_teacher`).

Registered as the ``distill`` data kind. Each batch holds the faces (``images``), the teacher's re-aged faces
(``targets``) and the ages of both (``current_age``, ``target_age``, years). Target ages, identity pairs and a
latent teacher's latents are drawn with the trainer's generator and the teachers are deterministic, so a resumed
run replays the same pairs.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data import EpochSampler, flip_horizontally, random_flip_mask, square_resize
from ...data.folders import SkippedFile
from ...errors import ConfigError, DataError, ImageLoadError
from ...image import uint8_to_tensor
from ...io import list_images, load_image
from ...training.data import DATA_KINDS, DataSource, TrainingData
from .config import ReagerConfig
from .latent_teacher import LatentTeacher, is_latent_teacher


class Teacher:
    """A slow re-ager that makes the student's training pairs.

    - a conditional model (``ConditionSpec.age``): any target age in ``ages``; a face's current age is the
      teacher's own reading of it (``estimate``), the age its edit starts from;
    - a two-domain model (``older``/``younger``): the face's age is read by ``config.age_estimator``; faces below
      the middle of ``domain_ages`` go ``older`` (target: the old domain's age), the others ``younger``.

    Args:
        config: the student's config (``teacher``, ``age_range``, ``domain_ages``, ``age_estimator``).
    """

    def __init__(self, config: ReagerConfig) -> None:
        from ..translator import load

        if not config.teacher:
            raise ConfigError(
                "model.teacher: give the model folder that teaches the student (ageshift distill TEACHER)"
            )
        self.config = config
        self.model = load(config.teacher)
        spec = self.model.conditions
        if spec.age is not None:
            self.kind = "conditional"
        elif set(spec.directions) >= {"older", "younger"}:
            self.kind = "two-domain"
        else:
            raise ConfigError(
                f"{config.teacher}: a {self.model.family} model cannot teach ages (needs a target-age range or "
                "both directions older/younger)"
            )
        if self.kind == "conditional":
            low, high = spec.age  # type: ignore[misc]
            if config.age_range[0] < low or config.age_range[1] > high:
                raise ConfigError(
                    f"model.age_range {config.age_range} lies outside the teacher's range {low:g}..{high:g}"
                )

    def current_ages(self, images: torch.Tensor) -> torch.Tensor:
        """``(B,)`` ages in years the teacher's edit starts from."""
        if self.kind == "conditional" and hasattr(self.model, "estimate"):
            return self.model.estimate(images)["age"].float().cpu()
        from .translator import estimate_ages

        return estimate_ages(images, self.config.age_estimator)

    @torch.inference_mode()
    def pairs(
        self, images: torch.Tensor, random: torch.Generator, identity_fraction: float | None = None
    ) -> dict[str, torch.Tensor]:
        """Teacher outputs for ``(B, 3, S, S)`` faces: ``targets``, ``current_age``, ``target_age``
        (``identity_fraction``: instead of the config's share of identity pairs)."""
        count = images.shape[0]
        current = self.current_ages(images)
        low, high = self.config.age_range
        share = self.config.identity_fraction if identity_fraction is None else identity_fraction
        identity = torch.rand(count, generator=random) < share
        if self.kind == "conditional":
            target = low + (high - low) * torch.rand(count, generator=random)
        else:
            young, old = self.config.domain_ages
            target = torch.where(current < (young + old) / 2, torch.tensor(old), torch.tensor(young))
        target = torch.where(identity, current, target)
        outputs = images.clone()
        for index in range(count):
            if identity[index]:
                continue
            if self.kind == "conditional":
                request: dict[str, Any] = {"target_age": float(target[index])}
            else:
                request = {"direction": "older" if target[index] > current[index] else "younger"}
            outputs[index] = self.model.translate_batch(images[index : index + 1], **request)[0]
        return {"targets": outputs, "current_age": current, "target_age": target}


def _folder_images(
    folder: Path, size: int, skipped: list[SkippedFile], names: list[str] | None = None
) -> torch.Tensor | None:
    """The readable images of ``folder`` at ``size²`` (their names relative to it appended to ``names``)."""
    images = []
    for path in list_images(folder):
        try:
            images.append(uint8_to_tensor(square_resize(load_image(path), size)))
        except ImageLoadError as error:
            skipped.append(SkippedFile(path, str(error)))
            continue
        if names is not None:
            names.append(path.relative_to(folder).as_posix())
    return torch.stack(images) if images else None


class DistillationPairs(TrainingData):
    """Faces under ``FACES/train`` (or ``FACES`` itself) re-aged by the teacher; ``FACES/test`` feeds the samples.

    Faces are decoded once and kept at the stage size (the student trains on a few thousand faces). With a
    latent teacher the faces are generated instead (fresh latents every batch; a fixed set for the samples) and
    ``source`` is only recorded.
    """

    #: Generated faces the sample grids of a latent teacher's run show.
    latent_samples = 16

    kind = "distill"

    def __init__(self, source: DataSource, size: int, seed: int, config: Any, progress: bool) -> None:
        if isinstance(source, tuple):
            raise ConfigError("distillation trains on one folder of faces: pass --data FACES")
        self.root = Path(source)
        self.model_config: ReagerConfig = config.model_config()
        self.skipped: list[SkippedFile] = []
        self.seed, self.progress = seed, progress
        self.teacher: Teacher | LatentTeacher
        if is_latent_teacher(self.model_config.teacher):
            if self.model_config.pair_cache:
                raise ConfigError(
                    "model.pair_cache: a latent teacher makes fresh faces every batch; drop the cache"
                )
            self.teacher = LatentTeacher(self.model_config, progress)
            self.size = size
            return
        if not self.root.is_dir():
            raise DataError(f"{self.root}: face folder does not exist")
        self.teacher = Teacher(self.model_config)
        self.set_size(size)

    def set_size(self, size: int) -> None:
        self.size = size
        if isinstance(self.teacher, LatentTeacher):
            return
        train = self.root / "train"
        folder, names = train if train.is_dir() else self.root, list[str]()
        faces = _folder_images(folder, size, self.skipped, names)
        if faces is None:
            raise DataError(f"{self.root}: no readable face images to distil on")
        self.faces = faces
        self.cached = self._cached_pairs(folder, names) if self.model_config.pair_cache else None
        self.held_out = None
        with contextlib.suppress(DataError):
            self.held_out = (
                _folder_images(self.root / "test", size, []) if (self.root / "test").is_dir() else None
            )
        if not hasattr(self, "sampler"):
            self.sampler = EpochSampler(len(faces), self.seed, salt=0)

    def _cached_pairs(self, folder: Path, names: list[str]) -> dict[str, torch.Tensor]:
        """The pair cache for this size, made first when it is missing or unfinished (one folder per size)."""
        from .pair_cache import build_pair_cache, cache_settings, check_settings, load_pairs, read_index

        config = self.model_config
        root = Path(config.pair_cache) / f"size-{self.size}"
        settings = cache_settings(
            config.teacher,
            str(folder.resolve()),
            self.size,
            config.age_range,
            config.pairs_per_face,
            self.seed,
        )
        document = read_index(root)
        if document is not None:
            check_settings(root, document, settings)
        if document is None or not document.get("complete"):
            teacher = self.teacher
            assert isinstance(teacher, Teacher)
            document = build_pair_cache(
                root, settings, names, self.faces, lambda faces, random: teacher.pairs(faces, random, 0.0),
                progress=self.progress,
            )  # fmt: skip
        pairs = load_pairs(root, document, names)
        self.pair_sampler = EpochSampler(len(pairs["face"]), self.seed, salt=1)
        return pairs

    def _cached_batch(
        self, batch_size: int, random: torch.Generator, flip_probability: float
    ) -> dict[str, torch.Tensor]:
        """A batch of cached pairs, each face and its target flipped together; identity pairs made here."""
        assert self.cached is not None
        chosen = torch.tensor(self.pair_sampler.next(batch_size), dtype=torch.long)
        flips = random_flip_mask(batch_size, random, flip_probability)
        images = flip_horizontally(self.faces[self.cached["face"][chosen]], flips)
        targets = flip_horizontally(self.cached["targets"][chosen], flips)
        current, target = self.cached["current_age"][chosen], self.cached["target_age"][chosen]
        identity = torch.rand(batch_size, generator=random) < self.model_config.identity_fraction
        targets[identity] = images[identity]
        target = torch.where(identity, current, target)
        return {"images": images, "targets": targets, "current_age": current, "target_age": target}

    def counts(self) -> dict[str, int]:
        if isinstance(self.teacher, LatentTeacher):
            return {}  # generated on the fly: no fixed set
        return {"images": len(self.faces)}

    def next_batch(
        self, batch_size: int, random: torch.Generator, flip_probability: float
    ) -> dict[str, torch.Tensor]:
        if isinstance(self.teacher, LatentTeacher):
            return self.teacher.sample(batch_size, self.size, random)
        if self.cached is not None:
            return self._cached_batch(batch_size, random, flip_probability)
        indices = self.sampler.next(batch_size)
        images = flip_horizontally(
            self.faces[indices], random_flip_mask(batch_size, random, flip_probability)
        )
        return {"images": images, **self.teacher.pairs(images, random)}

    def samples(self, count: int) -> dict[str, torch.Tensor]:
        """Held-out faces with the teacher at fixed target ages (young, middle, old by turns)."""
        if isinstance(self.teacher, LatentTeacher):
            fixed = torch.Generator().manual_seed(self.seed + 1)
            return self.teacher.sample(min(count, self.latent_samples), self.size, fixed)
        if self.cached is not None:  # the first pairs (one per face): the teacher never runs again
            take = torch.arange(min(count, len(self.cached["face"])))
            pairs = {key: self.cached[key][take] for key in ("targets", "current_age", "target_age")}
            return {"images": self.faces[self.cached["face"][take]], **pairs}
        source = self.held_out if self.held_out is not None else self.faces
        images = source[: min(count, len(source))]
        return {"images": images, **self.teacher.pairs(images, torch.Generator().manual_seed(0))}

    def state_dict(self) -> dict[str, Any]:
        if isinstance(self.teacher, LatentTeacher):
            return {}  # its latents come from the trainer's generator, which the checkpoint holds
        state = {"images": self.sampler.state_dict()}
        if self.cached is not None:
            state["pairs"] = self.pair_sampler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(self.teacher, LatentTeacher):
            self.sampler.load_state_dict(state["images"])
        if self.cached is not None and "pairs" in state:
            self.pair_sampler.load_state_dict(state["pairs"])

    def describe(self) -> dict[str, Any]:
        if isinstance(self.teacher, LatentTeacher):
            source = f"faces generated by {self.model_config.teacher} along its age direction"
            return {"kind": self.kind, "root": source, "counts": {}, "teacher": self.teacher.describe()}
        described = {
            "kind": self.kind,
            "root": str(self.root),
            "counts": self.counts(),
            "teacher": {"model": self.model_config.teacher, "family": self.teacher.model.family,
                        "kind": self.teacher.kind},
        }  # fmt: skip
        if self.cached is not None:
            described["pair_cache"] = {
                "folder": self.model_config.pair_cache,
                "pairs": len(self.cached["face"]),
            }
        return described


DATA_KINDS.setdefault("distill", DistillationPairs)


def held_out_faces(root: Path, size: int) -> np.ndarray:
    """``FACES/test`` images as ``(N, 3, size, size)`` in ``[-1, 1]`` (for benchmarks and tests)."""
    faces = _folder_images(root / "test", size, [])
    if faces is None:
        raise DataError(f"{root / 'test'}: no held-out faces")
    return faces.numpy()
