"""Model families (one folder each) and the translator interface every family's inference object follows."""

from .translator import IdentityTranslator, Translator, load

__all__ = ["IdentityTranslator", "Translator", "load"]
