"""Model families (one folder each, registered through :mod:`ageshift.registry`) and the inference interface.

Importing this package imports no family: the registry finds them when first asked.
"""

from .conditions import Condition, ConditionError, ConditionSpec
from .translator import IdentityTranslator, Translator, TwoDomainTranslator, load

__all__ = [
    "Condition",
    "ConditionError",
    "ConditionSpec",
    "IdentityTranslator",
    "Translator",
    "TwoDomainTranslator",
    "load",
]
