"""The one registry of model families: ``@register_family``, ``get_family``, ``create_model``, ``list_models``.

A family that is not registered does not exist. Families register when their package is imported; the
built-in ones are every sub-package of :mod:`ageshift.models` (found by listing the folder, so adding a
family means adding its folder), and installed packages may add more through the ``ageshift.families``
entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigError

if TYPE_CHECKING:
    from .models.family import ModelFamily, TrainingModel

F = TypeVar("F", bound="type[ModelFamily]")

_FAMILIES: dict[str, type[ModelFamily]] = {}
_LOADED = False


def register_family(family: F) -> F:
    """Class decorator: make a :class:`~ageshift.models.family.ModelFamily` subclass available by its ``name``."""
    name = getattr(family, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{family.__name__} needs a class attribute `name`")
    if name in _FAMILIES and _FAMILIES[name] is not family:
        raise ValueError(f"model family {name!r} is registered twice")
    _FAMILIES[name] = family
    return family


def unregister_family(name: str) -> None:
    """Remove a family (tests that register temporary ones clean up with this)."""
    _FAMILIES.pop(name, None)


def _load_builtin_families() -> None:
    # Deferred so that `import ageshift` stays cheap; importing a family's package registers it.
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import models

    for module in pkgutil.iter_modules(models.__path__):
        if module.ispkg:
            importlib.import_module(f"{models.__name__}.{module.name}")
    from importlib.metadata import entry_points

    for entry in entry_points(group="ageshift.families"):
        entry.load()


def get_family(name: str) -> type[ModelFamily]:
    """The registered family called ``name``.

    Raises:
        ConfigError: no such family (the message lists the known ones).
    """
    _load_builtin_families()
    if name not in _FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; available: {', '.join(list_models())}")
    return _FAMILIES[name]


def create_model(name: str, preset: str | None = None, **overrides: Any) -> TrainingModel:
    """Build a family's training networks, e.g. ``create_model("cyclegan", preset="fast")``.

    Args:
        name: the family.
        preset: a model preset (default: the family's first).
        overrides: nested config overrides, e.g. ``generator={"channels": 32}``.
    """
    family = get_family(name)
    config = family.model_config(preset or next(iter(family.presets)), overrides)
    return family.build(config)


def list_models() -> list[str]:
    """Names of the registered model families."""
    _load_builtin_families()
    return sorted(_FAMILIES)
