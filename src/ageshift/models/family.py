"""The model-family contract: what a folder under ``models/`` registers so that every other part works with it.

A family is one subclass of :class:`ModelFamily`, registered with ``@register_family``. It says:

- its config dataclass and presets (``config_class``, ``presets``), its training presets (``train_presets``)
  and which kind of data it trains on (``data_kind``: ``"unpaired"`` A/B folders or ``"labelled"`` images
  with a label table);
- how to build its networks for training (:meth:`ModelFamily.build`, a :class:`TrainingModel`);
- its training phases: a :class:`TrainingModel` lists :class:`Phase` objects and computes each phase's loss
  in :meth:`TrainingModel.run_phase`. The trainer only walks the list (optimiser step per phase, every N
  steps), so a new family brings its phases and the loop does not change (the StyleGAN2-ADA way);
- what its checkpoint holds beyond weights and optimisers (:meth:`TrainingModel.family_state`);
- how it becomes an inference object (:meth:`ModelFamily.export` and :meth:`ModelFamily.load`).

The trainer, checkpoints, export, ``ageshift.load``, evaluation, CLI and web page find families through
:mod:`ageshift.registry` and import none by name.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..config import from_dict, merge, to_dict
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..pretrained import Pretrained
    from .translator import Translator

#: A batch as the data delivers it: image tensors and label tensors by name, e.g. ``{"A": ..., "B": ...}``
#: for unpaired data or ``{"images": ..., "age": ..., "hair": ...}`` for labelled data.
Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Phase:
    """One optimiser update of a training step.

    Attributes:
        name: e.g. ``"generator"``, ``"discriminator"``, ``"r1"``.
        optimizer: the :meth:`TrainingModel.optimizer_groups` key whose parameters this phase updates; only
            those parameters get gradients during the phase.
        every: run on steps where ``step % every == 0`` (lazy regularisation, several critic steps per
            generator step).
    """

    name: str
    optimizer: str
    every: int = 1


@dataclass
class PhaseOutput:
    """What a phase returns: the loss to minimise, detached terms to log, and values for later phases."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
    carry: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """What a phase may use besides the batch; nothing else is shared between phases or steps.

    Attributes:
        device: where the networks live.
        autocast: a fresh precision context per call (a no-op for fp32).
        random: the trainer's CPU generator (image pools, target sampling); saved in checkpoints.
        step: completed steps before this one.
        total_steps: steps in the whole run.
        sample_targets: draws ``count`` target labels from the training data's own distribution (labelled
            data only; ``None`` otherwise).
    """

    device: torch.device
    autocast: Callable[[], contextlib.AbstractContextManager]
    random: torch.Generator
    step: int = 0
    total_steps: int = 1
    sample_targets: Callable[[int], Batch] | None = None


class TrainingModel(nn.Module, ABC):
    """All networks of a family during training, with its phases. Subclasses hold the networks as modules."""

    @abstractmethod
    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimiser, e.g. ``{"generator": [...], "discriminator": [...]}`` (order is kept)."""

    @abstractmethod
    def phases(self) -> list[Phase]:
        """The phases of one step, in order."""

    @abstractmethod
    def run_phase(
        self, phase: Phase, batch: Batch, carry: dict[str, Any], context: StepContext
    ) -> PhaseOutput:
        """Compute ``phase``'s loss on ``batch``; ``carry`` holds what earlier phases of this step returned."""

    @abstractmethod
    def sample_grid(self, samples: Batch) -> torch.Tensor:
        """A ``(3, H, W)`` grid in ``[-1, 1]`` showing what the model does to fixed samples (eval mode is set
        by the caller)."""

    def optimizer_ratios(self) -> dict[str, float]:
        """Per optimiser group, a ratio ``c`` that scales its learning rate to ``c · lr`` and its Adam betas to
        ``β^c``; empty (the default) leaves the configured settings alone.

        A family whose group also takes a lazy regularisation step every ``k`` steps returns ``k / (k + 1)``
        there, so the ``k`` main steps plus the regulariser's step move the weights as ``k`` plain steps would
        (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", appendix B).
        """
        return {}

    def family_state(self) -> dict[str, Any]:
        """Training state besides weights and optimisers (image pools, ADA's ``p``): tensors and plain values."""
        return {}

    def load_family_state(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore what :meth:`family_state` returned."""

    def end_step(self, context: StepContext) -> None:
        """Called after all phases of a step (EMA updates, adaptive augmentation)."""

    def realism_samples(self, count: int, random: torch.Generator) -> torch.Tensor | None:
        """``(count, 3, H, W)`` generated images in ``[-1, 1]`` for FID/KID during training (``metrics_every``),
        drawn with ``random`` only; ``None`` (the default): the family has no such samples."""
        return None


class ModelFamily(ABC):
    """A model family: config, presets, networks, phases and inference object, found through the registry.

    Subclasses set the class attributes and implement :meth:`build`, :meth:`export` and :meth:`load`.
    """

    #: registry name, e.g. ``"cyclegan"``.
    name: ClassVar[str]
    #: one line for ``ageshift models`` and the model card.
    summary: ClassVar[str] = ""
    #: the dataclass holding everything that defines the networks and losses.
    config_class: ClassVar[type]
    #: model presets: name → nested overrides of ``config_class``'s defaults.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: training presets: name → ``TrainConfig`` fields (stages, steps, learning rate, …).
    train_presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: ``"unpaired"`` (``trainA/``, ``trainB/``) or ``"labelled"`` (images + ``manifest.csv`` labels).
    data_kind: ClassVar[str] = "unpaired"
    #: third-party weights or data the family itself uses: ``{"name", "licence", "origin", "used_for"}``.
    licences: ClassVar[list[dict[str, str]]] = []

    @classmethod
    def model_config(cls, preset: str = "fast", overrides: dict[str, Any] | None = None) -> Any:
        """The family's config: a preset plus nested overrides; unknown keys raise :class:`ConfigError`."""
        if preset not in cls.presets:
            raise ConfigError(
                f"unknown {cls.name} preset {preset!r}; choose one of {', '.join(cls.presets) or 'none'}"
            )
        data = merge(to_dict(cls.config_class()), cls.presets[preset])
        return from_dict(cls.config_class, merge(data, overrides or {}), where="model")

    @classmethod
    def config_from_dict(cls, data: dict[str, Any]) -> Any:
        """Rebuild the config saved in a checkpoint or a model folder."""
        return from_dict(cls.config_class, data, where="model")

    @classmethod
    def adapt_to_data(cls, config: Any, data_description: dict[str, Any]) -> Any:
        """Fill data-dependent config fields (a conditional model's label schema) from the training data.

        Args:
            config: the family config.
            data_description: :meth:`TrainingData.describe` of the training data (``labels`` for labelled data).
        """
        return config

    @classmethod  # noqa: B027  (an optional hook: any size is fine by default)
    def check_stage_size(cls, config: Any, size: int) -> None:
        """Refuse training image sizes the networks cannot take (raise :class:`ConfigError`)."""

    @classmethod
    @abstractmethod
    def build(cls, config: Any) -> TrainingModel:
        """Fresh, initialised networks for training (the caller seeds the RNG first)."""

    @classmethod
    @abstractmethod
    def export(
        cls, model: TrainingModel, image_size: int, metadata: dict[str, Any], card: dict[str, Any]
    ) -> Translator:
        """The inference object of a trained model (moved to the CPU, eval mode)."""

    @classmethod
    @abstractmethod
    def load(cls, pretrained: Pretrained) -> Translator:
        """The inference object from a model folder's contents (weights checked against the config)."""


#: The most parameters a model config may describe (1.2 GB of float32 weights, ~10× the largest preset): a
#: config asking for more is a typo or a malformed file, and building it would exhaust memory.
MAX_PARAMETERS = 300_000_000


def parameter_count(family: type[ModelFamily], config: Any) -> int | None:
    """How many parameters ``family.build(config)`` would have, counted without allocating them.

    The networks are built on PyTorch's ``meta`` device (shapes only, no memory).

    Returns:
        The count, or ``None`` when it cannot be known yet: a config the family cannot build before
        ``adapt_to_data`` fills it (a conditional model's labels), or a family doing real tensor work at build
        time. The field bounds still hold then, and the real build reports its own errors.
    """
    try:
        with torch.device("meta"), _ShapesOnly():
            model = family.build(config)
    except Exception:
        return None
    return sum(parameter.numel() for parameter in model.parameters())


class _ShapesOnly(TorchFunctionMode):
    """Skips in-place initialisation (``normal_``, ``zero_``, …) of meta tensors: PyTorch runs those through
    its reference implementations, whose first use imports the compiler stack (~1 s)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = args[0] if args else kwargs.get("tensor")
        if (
            name.endswith("_")
            and not name.endswith("__")
            and isinstance(target, torch.Tensor)
            and target.is_meta
        ):
            return target
        return func(*args, **kwargs)


def check_model_size(family: type[ModelFamily], config: Any, source: str) -> None:
    """Refuse a config whose networks would exceed :data:`MAX_PARAMETERS`, before anything is allocated.

    Raises:
        ConfigError: naming ``source``, the count and the limit.
    """
    count = parameter_count(family, config)
    if count is not None and count > MAX_PARAMETERS:
        raise ConfigError(
            f"{source}: the {family.name} config describes {count:,} parameters, more than ageshift builds "
            f"({MAX_PARAMETERS:,}); check the channel and layer counts"
        )


def load_networks(
    networks: Mapping[str, nn.Module], tensors: Mapping[str, torch.Tensor], source: str
) -> None:
    """Load ``name.key`` tensors into each named network, strictly.

    Raises:
        ModelLoadError: missing, unexpected or mis-shaped weights, naming ``source``.
    """
    from ..errors import ModelLoadError

    for name, network in networks.items():
        prefix = f"{name}."
        state = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as error:
            detail = " ".join(str(error).split())[:300]
            raise ModelLoadError(
                f"{source}: weights of {name!r} do not match the config ({detail})"
            ) from None


def network_tensors(networks: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """All networks' tensors under ``name.key`` names, for saving."""
    return {
        f"{name}.{key}": value.detach().cpu().contiguous()
        for name, network in networks.items()
        for key, value in network.state_dict().items()
    }
