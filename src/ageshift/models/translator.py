"""The inference object every model family exports, saved as ``config.json`` + ``model.safetensors``.

``ageshift.load(path)`` returns a :class:`Translator`; ``translate(images, ...)`` runs it with a condition:

- ``direction="older"`` for two-domain models (:class:`TwoDomainTranslator`, e.g. CycleGAN);
- ``target_age=70`` and/or ``attributes={"hair": "blond"}`` for conditional models;
- ``strength`` in ``[0, 1]`` for every model: how far from the input towards the requested condition.

What a model accepts is :attr:`Translator.conditions` (a :class:`~ageshift.models.conditions.ConditionSpec`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from ..errors import AgeshiftError, ConfigError, ModelLoadError
from ..image import check_batch, pil_to_tensor, resize, tensor_to_pil
from ..pretrained import Pretrained, read_pretrained, write_pretrained
from .conditions import Condition, ConditionSpec
from .family import check_model_size, network_tensors

DIRECTIONS = ("older", "younger")
ImagesLike = torch.Tensor | Image.Image | Sequence[Image.Image]


class NonFiniteOutputError(AgeshiftError):
    """A model produced NaN or infinite pixels (diverged or overflowing weights): nothing is written from it."""


class Translator:
    """A trained image-to-image model: named networks, the conditions it accepts, and its metadata.

    Subclasses implement :meth:`run` (one batch at the model's size under one condition). This class does
    the rest: condition checks, resizing to the model's size and back, batching, PIL/tensor handling,
    strength, saving.

    Args:
        networks: the inference networks by name (saved as ``name.*`` tensors).
        family: the registered family name.
        model_config: the family's config as a plain dict (enough to rebuild the networks).
        image_size: the side the model was trained at; inputs of another size are resized to it and back.
        conditions: what the model accepts.
        metadata: JSON-able facts used at inference: ``domains``, ``crop`` (alignment), ``training`` summary.
        card: the model card (training data, licences, evaluation), see :func:`ageshift.pretrained.model_card`.
    """

    #: How ``ageshift evaluate`` measures this kind of model: ``age`` (age, attributes, identity, realism, cycle),
    #: ``upscaling`` (PSNR/SSIM against originals) or ``makeup`` (region colour against a reference).
    evaluation = "age"

    #: ``True``: ``strength`` mixes input and output pixels (at the input's own size). Families that
    #: realise strength in condition space set it ``False`` and handle ``condition.strength`` in :meth:`run`.
    strength_by_blending = True
    #: ``True`` for models that run at the input's own size (no resizing to ``image_size`` and back).
    any_size = False

    def __init__(
        self,
        networks: Mapping[str, nn.Module],
        family: str,
        model_config: dict[str, Any],
        image_size: int,
        conditions: ConditionSpec,
        metadata: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
    ) -> None:
        if not networks:
            raise AgeshiftError("a translator needs at least one network")
        self.networks = {name: module.eval() for name, module in networks.items()}
        self.family = family
        self.model_config = model_config
        self.image_size = int(image_size)
        self.conditions = conditions
        self.metadata = dict(metadata or {})
        self.card = dict(card or {})
        self.device = _first_device(self.networks.values())
        #: where the model was loaded from (its folder), for messages; ``None`` for one built in memory.
        self.source: str | None = None

    @property
    def directions(self) -> tuple[str, ...]:
        """The directions of a two-domain model (empty for conditional models)."""
        return self.conditions.directions

    def to(self, device: str | torch.device) -> Translator:
        """Move the networks to ``device`` (``"cpu"``, ``"cuda"``, ``"mps"``); returns ``self``."""
        self.device = torch.device(device)
        for module in self.networks.values():
            module.to(self.device)
        return self

    def condition(
        self,
        direction: str | None = None,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
    ) -> Condition:
        """Check a request against :attr:`conditions`; raises ``ConditionError`` naming what is accepted."""
        return self.conditions.resolve(direction, target_age, attributes, strength)

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        """Translate one batch already at the model's size, on the model's device.

        Args:
            images: ``(B, 3, S, S)`` RGB float32 in ``[-1, 1]``, ``S = image_size``.
            condition: a resolved condition.

        Returns:
            ``(B, 3, S, S)`` in ``[-1, 1]`` (full strength unless ``strength_by_blending`` is off).
        """
        raise NotImplementedError

    @torch.inference_mode()
    def translate_batch(
        self,
        images: torch.Tensor,
        direction: str | None = None,
        *,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
        batch_size: int = 16,
    ) -> torch.Tensor:
        """Translate a tensor batch under one condition.

        Args:
            images: ``(B, 3, H, W)`` RGB float in ``[-1, 1]``, any size (resized to the model's and back).
            direction: for two-domain models, e.g. ``"older"``.
            target_age: for conditional models, in the model's age range.
            attributes: for conditional models, e.g. ``{"hair": "blond"}``.
            strength: ``[0, 1]``, how far towards the condition (0 returns the input).
            batch_size: images per forward pass.

        Returns:
            ``(B, 3, H, W)`` float32 in ``[-1, 1]`` on the CPU.
        """
        check_batch(images)
        if batch_size < 1:
            raise AgeshiftError(f"batch_size must be >= 1, got {batch_size}")
        condition = self.condition(direction, target_age, attributes, strength)
        if condition.strength == 0.0:
            return images.float().cpu().clone()
        outputs = []
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start : start + batch_size].to(self.device, torch.float32)
            size = (chunk.shape[-2], chunk.shape[-1])
            if self.any_size:
                translated = self._checked(self.run(chunk, condition)).clamp(-1, 1)
            else:
                raw = self._checked(self.run(resize(chunk, self.image_size), condition))
                translated = resize(raw, size).clamp(-1, 1)
            if self.strength_by_blending and condition.strength < 1.0:
                translated = torch.lerp(chunk, translated, condition.strength)
            outputs.append(translated.float().cpu())
        return torch.cat(outputs) if outputs else images.new_zeros((0, 3, *images.shape[-2:]))

    def _checked(self, output: torch.Tensor) -> torch.Tensor:
        """``output`` itself, after making sure it holds no NaN or infinity (clamping would hide infinities and
        saving turns NaN into black pixels, so a broken model must fail loudly instead)."""
        if not bool(torch.isfinite(output).all()):
            name = f"model {self.source}" if self.source else f"the {self.family} model"
            raise NonFiniteOutputError(
                f"{name} produced NaN or infinite pixels (its weights are broken, e.g. a diverged training "
                "run); nothing was written from it: export an earlier checkpoint or retrain"
            )
        return output

    def translate(
        self,
        images: ImagesLike,
        direction: str | None = None,
        *,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
        batch_size: int = 16,
    ) -> Any:
        """Translate images, returning the same kind that came in (see :meth:`translate_batch` for options).

        Args:
            images: a ``(B, 3, H, W)`` or ``(3, H, W)`` tensor in ``[-1, 1]``, a PIL image, or a list of them.

        Returns:
            A tensor of the input's shape, a PIL image, or a list of PIL images.
        """
        options: dict[str, Any] = {
            "target_age": target_age, "attributes": attributes, "strength": strength, "batch_size": batch_size,
        }  # fmt: skip
        if isinstance(images, torch.Tensor):
            single = images.ndim == 3
            batch = images.unsqueeze(0) if single else images
            result = self.translate_batch(batch, direction, **options)
            return result[0] if single else result
        if isinstance(images, Image.Image):
            return self.translate([images], direction, **options)[0]
        pictures = list(images)
        self.condition(direction, target_age, attributes, strength)  # a bad condition fails even for []
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, picture in enumerate(pictures):
            if not isinstance(picture, Image.Image):
                raise AgeshiftError(f"images[{index}] is a {type(picture).__name__}, expected a PIL image")
            by_size.setdefault(picture.size, []).append(index)
        results: list[Image.Image | None] = [None] * len(pictures)
        for indices in by_size.values():
            batch = torch.stack([pil_to_tensor(pictures[i].convert("RGB")) for i in indices])
            for i, translated in zip(indices, self.translate_batch(batch, direction, **options), strict=True):
                results[i] = tensor_to_pil(translated)
        return results

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: family, size, accepted conditions, training data (for ``ageshift info``)."""
        return {
            "family": self.family,
            "image_size": self.image_size,
            "conditions": self.conditions.describe(),
            "card": self.card,
            "metadata": self.metadata,
        }

    #: The ``kind`` written into ``config.json`` (a subclass that is not an image translator names its own).
    pretrained_kind = "translator"

    def pretrained_fields(self) -> dict[str, Any]:
        """The top-level ``config.json`` entries besides format, kind, family, config and card."""
        return {
            "image_size": self.image_size,
            "networks": list(self.networks),
            "conditions": self.conditions.to_json(),
            "metadata": self.metadata,
        }

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created), atomically per file."""
        pretrained = Pretrained(
            kind=self.pretrained_kind,
            family=self.family,
            config=self.model_config,
            tensors=network_tensors(self.networks),
            card=self.card,
            fields=self.pretrained_fields(),
        )
        return write_pretrained(directory, pretrained)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> Translator:
        """Load a model folder of any registered family (``ageshift export``, ``import-cyclegan``, 0.1 folders)."""
        from ..registry import get_family, list_models

        # Generators (``kind: "generator"``, noise → images) load through their family the same way.
        kind = "generator" if _stored_kind(directory) == "generator" else "translator"
        pretrained = read_pretrained(directory, kind=kind)
        source = str(pretrained.config_path or Path(directory) / "config.json")
        if pretrained.family not in list_models():
            raise ModelLoadError(
                f"{source}: unknown model family {pretrained.family!r} (known: {', '.join(list_models())})"
            )
        if not isinstance(pretrained.fields.get("image_size"), int):
            raise ModelLoadError(f"{source}: image_size: missing (required)")
        family = get_family(pretrained.family)
        try:
            # The config is checked (types, ranges, size) before any network is allocated.
            check_model_size(family, family.config_from_dict(pretrained.config), "config")
            translator = family.load(pretrained)
            _check_crop(translator)
        except ModelLoadError:
            raise
        except AgeshiftError as error:  # a bad config value inside a well-formed file
            # Family configs name their fields "model.…" (the training config's key); here the key is "config".
            detail = re.sub(r"(^|\s)model\.", r"\1config.", str(error))
            raise ModelLoadError(f"{source}: {detail}") from None
        translator.source = str(directory)
        return translator.to(device)


class TwoDomainTranslator(Translator):
    """A translator with one generator per direction (``{"older": G_AB, "younger": G_BA}``).

    Args:
        generators: networks by direction name (at least one of ``older``/``younger``).
        family, model_config, image_size, metadata, card: as for :class:`Translator`.
        fast_inference: on the CPU, switch to a frozen TorchScript trace of a generator once it has run
            ``FAST_INFERENCE_AFTER_IMAGES`` images (same outputs, ~10% faster per image; building it costs
            ~0.5 s, so short jobs skip it; see benchmarks/bench_inference.py). Rebuilt whenever the weights
            change.
    """

    #: images a generator runs eagerly before ``fast_inference`` builds its trace (it pays off after ~50).
    FAST_INFERENCE_AFTER_IMAGES = 64

    def __init__(
        self,
        generators: Mapping[str, nn.Module],
        family: str,
        model_config: dict[str, Any],
        image_size: int,
        metadata: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
        fast_inference: bool = True,
    ) -> None:
        unknown = set(generators) - set(DIRECTIONS)
        if unknown or not generators:
            raise AgeshiftError(f"generators must be keyed by {DIRECTIONS}, got {sorted(generators)}")
        directions = tuple(d for d in DIRECTIONS if d in generators)
        super().__init__(
            generators, family, model_config, image_size, ConditionSpec(directions=directions), metadata, card
        )
        self.fast_inference = fast_inference
        self._frozen: dict[str, tuple[tuple, Callable[[torch.Tensor], torch.Tensor]]] = {}
        self._images_run: dict[str, int] = {}

    @property
    def generators(self) -> dict[str, nn.Module]:
        """The generators by direction."""
        return self.networks

    def _runner(self, direction: str, count: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
        """The generator, or its frozen trace when ``fast_inference`` applies (cached per weights state)."""
        generator = self.networks[direction]
        images_run = self._images_run.get(direction, 0)
        self._images_run[direction] = images_run + count
        if (
            not self.fast_inference
            or self.device.type != "cpu"
            or images_run + count <= self.FAST_INFERENCE_AFTER_IMAGES
        ):
            return generator
        state = _weights_state(generator)
        cached = self._frozen.get(direction)
        if cached is None or cached[0] != state:
            # The traced graph holds for any size, so a small example keeps tracing cheap.
            side = min(self.image_size, 32)
            self._frozen[direction] = (state, _frozen_trace(generator, torch.zeros(1, 3, side, side)))
        return self._frozen[direction][1]

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        assert condition.direction is not None
        return self._runner(condition.direction, images.shape[0])(images)


def _check_crop(translator: Translator) -> None:
    """Read the alignment the model was trained with now, so a bad ``metadata.crop`` fails at load time."""
    from ..faces.align import AlignmentSpec

    try:
        AlignmentSpec.from_metadata(translator.metadata, translator.image_size)
    except AgeshiftError as error:
        text = str(error)
        raise ConfigError(text if text.startswith("metadata.crop") else f"metadata.crop: {text}") from None


def _stored_kind(directory: str | Path) -> Any:
    """The ``kind`` a model folder's ``config.json`` names; ``None`` when unreadable (``read_pretrained`` reports)."""
    import json

    try:
        return json.loads((Path(directory) / "config.json").read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None


def _first_device(modules: Any) -> torch.device:
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            return tensor.device
    return torch.device("cpu")


def _weights_state(generator: nn.Module) -> tuple:
    """A cheap fingerprint that changes whenever training or ``load_state_dict`` edits the weights."""
    tensors = tuple(generator.state_dict().values())
    try:
        versions = tuple(t._version for t in tensors)
    except RuntimeError:  # inference tensors keep no version counter; they cannot be edited in place either
        versions = ()
    return (generator.training, tuple(t.data_ptr() for t in tensors), versions)


def _frozen_trace(generator: nn.Module, example: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A frozen TorchScript trace of ``generator`` (eval mode), or the module itself if tracing fails.

    Freezing inlines the weights as constants and drops Python dispatch per layer; convolutional
    generators trace to a graph that holds for any batch size and image size.
    """
    import warnings

    if generator.training:
        return generator
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # shape-check TracerWarnings; torch.jit's deprecation notice
            return torch.jit.freeze(torch.jit.trace(generator, example))
    except Exception:  # TorchScript is optional speed: any failure falls back to the exact same module
        return generator


class IdentityTranslator(TwoDomainTranslator):
    """Returns its input unchanged in both directions: for checking detection, alignment and blending.

    Subclasses that override :meth:`run` make simple test models that work at any size.
    """

    any_size = True

    def __init__(self, image_size: int = 256, metadata: dict[str, Any] | None = None) -> None:
        identity = {d: nn.Identity() for d in DIRECTIONS}
        super().__init__(identity, "identity", {}, image_size, metadata, fast_inference=False)

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        return images.clone()

    def save_pretrained(self, directory: str | Path) -> Path:
        raise AgeshiftError("the identity translator is built in and has nothing to save")


def load(model: str | Path, device: str | torch.device = "cpu") -> Translator:
    """Load a translator: a folder written by ``ageshift export``, or ``"identity"`` for the built-in one.

    Args:
        model: model folder path, ``"identity"``, or a packaged super-resolution model (``"srgan-x4"``,
            ``"srresnet-x4"``, ``"realesrgan-x4"``: weights read from installed packages, see docs/superres.md).
        device: where to run it.

    Returns:
        A :class:`Translator` of the folder's family.
    """
    if str(model) == "identity":
        return IdentityTranslator()
    from .superres.resolver import PACKAGED, load_packaged  # packaged names: "srgan-x4", "realesrgan-x4", …

    if str(model) in PACKAGED and not Path(model).exists():
        return load_packaged(str(model), device=device)
    return Translator.from_pretrained(model, device=device)
