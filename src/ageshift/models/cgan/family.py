"""The conditional GAN as a registered family: the ``gan`` family with the classes taken from the data."""

from __future__ import annotations

from typing import Any

from ...config import to_dict
from ...errors import ConfigError
from ...registry import register_family
from ..gan.config import GANConfig
from ..gan.family import GANFamily


@register_family
class CGANFamily(GANFamily):
    """``G(z, y)`` and ``D(x, y)`` for a class ``y`` (Mirza & Osindero 2014), trained on labelled images."""

    name = "cgan"
    summary = "label-conditional GAN (MLP or DCGAN): noise + a class → a new image of that class"

    @classmethod
    def adapt_to_data(cls, config: GANConfig, data_description: dict[str, Any]) -> GANConfig:
        """Condition on the data's label column (``model.label``, or the only one) and take its classes."""
        available = (data_description.get("labels") or {}).get("attributes") or {}
        label = config.label
        if label is None:
            if len(available) != 1:
                raise ConfigError(
                    f"the data labels {', '.join(available) or 'nothing'}: set --set model.label=COLUMN "
                    "to choose the class to condition on (`ageshift prepare digits` writes a 'label' column)"
                )
            label = next(iter(available))
        if label not in available:
            raise ConfigError(
                f"model.label {label!r} is not labelled in the data (it has: {', '.join(available) or 'none'})"
            )
        values = to_dict(config) | {"label": label}
        if not config.classes:
            values["classes"] = list(available[label])
        return cls.config_from_dict(values)
