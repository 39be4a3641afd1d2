"""Model families (one folder each, registered through :mod:`ageshift.registry`) and the inference interface.

Importing this package imports no family: the registry finds them when first asked. The inference classes
are re-exported lazily, so :mod:`ageshift.models.conditions` imports without PyTorch (the ONNX runtime uses it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .conditions import Condition, ConditionError, ConditionSpec

if TYPE_CHECKING:
    from .translator import IdentityTranslator, Translator, TwoDomainTranslator, load


def __getattr__(name: str) -> Any:
    if name in ("IdentityTranslator", "Translator", "TwoDomainTranslator", "load"):
        from . import translator

        return getattr(translator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Condition",
    "ConditionError",
    "ConditionSpec",
    "IdentityTranslator",
    "Translator",
    "TwoDomainTranslator",
    "load",
]
