"""ageshift: make faces (and pets) older or younger with GANs.

The short public API::

    import ageshift
    model = ageshift.load("models/utk-cyclegan")          # or "identity"
    older = model.translate(pil_image, direction="older")  # PIL in, PIL out; tensors (B, 3, H, W) in [-1, 1] too
    aged = conditional.translate(pil_image, target_age=70, attributes={"hair": "blond"}, strength=0.8)
    result = ageshift.age_photo(photo, model, "older")     # every face found, aligned, translated, pasted back
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .models.translator import Translator


def load(model: str, device: str = "cpu") -> Translator:
    """Load an exported model folder (or ``"identity"``); see :func:`ageshift.models.translator.load`."""
    from .models.translator import load as _load

    return _load(model, device=device)


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import ageshift` free of torch start-up cost.
    if name in ("Translator", "IdentityTranslator", "TwoDomainTranslator"):
        from .models import translator

        return getattr(translator, name)
    if name in ("ConditionSpec", "Condition"):
        from .models import conditions

        return getattr(conditions, name)
    if name == "Pipeline":
        from .faces.chain import Pipeline

        return Pipeline
    if name == "age_photo":
        from .faces import age_photo

        return age_photo
    if name in ("create_model", "list_models", "register_family", "get_family"):
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'ageshift' has no attribute {name!r}")


__all__ = [
    "Condition",
    "ConditionSpec",
    "IdentityTranslator",
    "Pipeline",
    "Translator",
    "TwoDomainTranslator",
    "age_photo",
    "create_model",
    "get_family",
    "list_models",
    "load",
    "register_family",
]
