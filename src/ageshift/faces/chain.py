"""Chains of face stages: align → one or more edit models → super-resolution of the edited crop → paste back.

``Pipeline([("models/age", {"target_age": 70}), ("models/hair", {"attributes": {"hair": "blond"}})],
upscale="realesrgan-x4")(photo)`` edits each face's aligned crop at the first model's size, runs every edit in
turn on it, upscales the result and pastes it at the face's real size in the photo (:func:`age_photo`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import AgeshiftError
from ..models.conditions import Condition, ConditionError, ConditionSpec
from ..models.translator import Translator
from .align import affine_scale

if TYPE_CHECKING:
    from ..models.superres.resolver import SuperResolver
    from .align import AlignedFace
    from .pipeline import PhotoResult

#: What a stage may be given as: a model (or its name/folder), optionally with its request.
StageLike = Translator | str | tuple[Translator | str, Mapping[str, Any]]


@dataclass
class Stage:
    """One edit: a model and the request it runs with (``direction``, ``target_age``, ``attributes``, ``strength``)."""

    model: Translator
    request: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.request) - {"direction", "target_age", "attributes", "strength"}
        if unknown:
            raise AgeshiftError(
                f"unknown stage options {sorted(unknown)}; use direction, target_age, attributes, strength"
            )
        self.model.condition(**self.request)  # a bad request fails when the chain is built


def _stage(item: StageLike) -> Stage:
    from ..models.translator import load

    model, request = item if isinstance(item, tuple) else (item, {})
    loaded = load(model) if isinstance(model, str) else model
    request = dict(request)
    reference = request.pop("reference", None)
    if reference is not None:  # a makeup stage: its reference face is bound to the model here
        from .makeup import bind_reference

        loaded = bind_reference(loaded, reference)
    return Stage(loaded, request)


def parse_stage(text: str) -> Stage:
    """A stage from its command-line form: ``MODEL`` or ``MODEL:key=value,...``.

    Keys: ``direction``, ``target_age`` (or ``age``), ``strength``, ``reference`` (a makeup model's reference
    photo: ``models/makeup:direction=makeup,reference=ref.jpg``); any other key is an attribute
    (``MODEL:hair=blond,target_age=60``). Only a suffix after the last ``:`` that holds ``=`` is read as options,
    so folder names with colons still work.

    Raises:
        AgeshiftError: a malformed option; ConditionError: a request the model does not accept.
    """
    model, _, options = text.rpartition(":")
    if not model or "=" not in options:
        model, options = text, ""
    request: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key or not value:
            raise AgeshiftError(f"stage {text!r}: option {item!r} is not key=value")
        key = key.strip().replace("-", "_")
        if key in ("direction", "reference"):
            request[key] = value
        elif key in ("target_age", "age", "strength"):
            try:
                request["strength" if key == "strength" else "target_age"] = float(value)
            except ValueError:
                raise AgeshiftError(f"stage {text!r}: {key} must be a number, got {value!r}") from None
        else:
            attributes[key] = value
    if attributes:
        request["attributes"] = attributes
    return _stage((model, request))


def chain_with(
    first: Translator, request: Mapping[str, Any], then: Sequence[str]
) -> tuple[ChainTranslator, dict[str, Any]]:
    """``first`` with its request followed by the stages ``then`` (command-line form, see :func:`parse_stage`).

    Returns:
        The chain and the (empty) request to run it with.
    """
    own = {key: value for key, value in request.items() if value is not None}
    chain = ChainTranslator([Stage(first, own), *(parse_stage(text) for text in then)])
    return chain, {key: None for key in request}


class ChainTranslator(Translator):
    """Several edit models run one after another on the same crop, as one translator.

    It takes no condition of its own (each stage holds its request); alignment and size come from the first
    stage, and every later stage resizes the crop to its own size and back.
    """

    strength_by_blending = False

    def __init__(self, stages: Sequence[Stage]) -> None:
        if not stages:
            raise AgeshiftError("a chain needs at least one edit stage")
        first = stages[0].model
        super().__init__(
            {f"stage{i}": net for i, s in enumerate(stages) for net in list(s.model.networks.values())[:1]},
            "chain", {}, first.image_size, ConditionSpec(), first.metadata, {},
        )  # fmt: skip
        self.stages = list(stages)

    def condition(
        self,
        direction: str | None = None,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
    ) -> Condition:
        """A chain takes no condition at run time: each stage carries its own request."""
        if direction is not None or target_age is not None or attributes:
            raise ConditionError("a chain's stages carry their own requests; give none to the chain itself")
        return Condition(strength=1.0 if strength is None else float(strength))

    def translate(self, images: Any, direction: str | None = None, **options: Any) -> Any:
        """Run every stage in order on ``images`` (a tensor, a PIL image or a list of them)."""
        self.condition(
            direction, options.get("target_age"), options.get("attributes"), options.get("strength")
        )
        for stage in self.stages:
            images = stage.model.translate(images, **stage.request)
        return images

    def save_pretrained(self, directory: Any) -> Any:
        raise AgeshiftError(
            "a chain is built from its stages' model folders and has nothing of its own to save"
        )


def upscaled_face(
    translated: Image.Image,
    mask: Image.Image,
    aligned: AlignedFace,
    upscaler: SuperResolver,
    keep_detail: bool = False,
) -> tuple[Image.Image, Image.Image, AlignedFace]:
    """The edited crop super-resolved to the face's real size, with its mask and alignment scaled to match.

    The face covers ``f`` photo pixels per crop pixel. When ``f > 1`` the crop is upscaled by the model and, when
    the model gives more than needed, shrunk with Lanczos to ``ceil(f·S)`` (the paste's own sampling does not
    filter, so handing it a crop much larger than the face would alias); when ``f <= 1`` there is nothing to
    gain and the crop is returned as it is. Photo → crop coordinates scale by the new side over ``S``.

    Args:
        translated: the edited ``S × S`` crop.
        mask: its ``L`` blend mask.
        aligned: the alignment it came from.
        upscaler: a super-resolution model.
        keep_detail: also upscale the original crop (the paste then adds ``SR(edit) − SR(original)``).

    Returns:
        ``(crop, mask, alignment)`` at the new side.
    """
    side = translated.width
    photo_per_crop = 1.0 / affine_scale(aligned.matrix)
    target = min(upscaler.scale * side, math.ceil(side * photo_per_crop))
    if target <= side:
        return translated, mask, aligned

    def enlarge(image: Image.Image) -> Image.Image:
        big = upscaler.upscale(image)
        return big if big.width == target else big.resize((target, target), Image.Resampling.LANCZOS)

    factor = target / side
    matrix = np.asarray(aligned.matrix, np.float64) * factor
    inverse = np.asarray(aligned.inverse, np.float64).copy()
    inverse[:, :2] /= factor
    crop = (
        enlarge(aligned.crop)
        if keep_detail
        else aligned.crop.resize((target, target), Image.Resampling.BICUBIC)
    )
    big_mask = mask.resize((target, target), Image.Resampling.BILINEAR)
    return enlarge(translated), big_mask, replace(aligned, crop=crop, matrix=matrix, inverse=inverse)


class Pipeline:
    """A chain of face stages as one callable: ``Pipeline([...], upscale="realesrgan-x4")(photo)``.

    Args:
        stages: edit models in order, each a model, a model name/folder, or ``(model, request)`` with
            ``request`` holding ``direction``, ``target_age``, ``attributes`` and/or ``strength``.
        upscale: a super-resolution model (or name, e.g. ``"realesrgan-x4"``) run on each edited crop before
            paste-back; ``None`` pastes the crop as the model made it.
        face_options: further :func:`~ageshift.faces.age_photo` options (``detector``, ``boxes``, ``color_match``,
            ``keep_detail``, …).
    """

    def __init__(
        self, stages: Sequence[StageLike], upscale: SuperResolver | str | None = None, **face_options: Any
    ) -> None:
        from ..models.superres.resolver import SuperResolver
        from ..models.translator import load

        self.translator = ChainTranslator([_stage(item) for item in stages])
        upscaler = load(upscale) if isinstance(upscale, str) else upscale
        if upscaler is not None and not isinstance(upscaler, SuperResolver):
            raise AgeshiftError(f"upscale must be a super-resolution model, got a {upscaler.family} model")
        self.upscaler = upscaler
        self.face_options = face_options

    @property
    def stages(self) -> list[Stage]:
        """The edit stages, in order."""
        return self.translator.stages

    def __call__(self, photo: Image.Image) -> PhotoResult:
        """Run the chain on every face of ``photo``; returns :class:`~ageshift.faces.pipeline.PhotoResult`."""
        from .pipeline import age_photo

        return age_photo(photo, self.translator, upscaler=self.upscaler, **self.face_options)
