"""A tiny explicit registry of model families: ``@register_model("cyclegan")``, ``create_model``, ``list_models``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ConfigError

_FAMILIES: dict[str, Callable[..., Any]] = {}


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a factory (a class or function) that builds a model family from keyword overrides."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _FAMILIES and _FAMILIES[name] is not factory:
            raise ValueError(f"model family {name!r} is registered twice")
        _FAMILIES[name] = factory
        return factory

    return decorate


def _load_builtin_families() -> None:
    # Importing registers; deferred so that `import ageshift` stays cheap.
    from .models import cyclegan  # noqa: F401


def create_model(name: str, **overrides: Any) -> Any:
    """Build a registered model family by name, e.g. ``create_model("cyclegan", preset="fast")``."""
    _load_builtin_families()
    if name not in _FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; available: {', '.join(list_models())}")
    return _FAMILIES[name](**overrides)


def list_models() -> list[str]:
    """Names of the registered model families."""
    _load_builtin_families()
    return sorted(_FAMILIES)
