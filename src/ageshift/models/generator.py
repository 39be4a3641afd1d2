"""The inference object of generative models: random noise (and, for conditional models, a label) → new images.

``ageshift.load("models/cgan-digits").generate(64, label="7", seed=0)`` returns ``(64, 3, S, S)`` in ``[-1, 1]``.
An :class:`ImageGenerator` is a :class:`~ageshift.models.translator.Translator` so that export, ``ageshift.load``,
``ageshift info`` and the registry treat it like every model; it is saved with ``kind: "generator"`` and,
having no input image, refuses :meth:`~ImageGenerator.translate_batch` with a message naming ``generate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import AgeshiftError
from .conditions import Condition, ConditionError, ConditionSpec
from .translator import Translator

#: The name of a conditional generator's one condition (``--label 7``).
LABEL = "label"


@dataclass(frozen=True)
class GeneratorConditions(ConditionSpec):
    """What a generator accepts: a label from a fixed list (conditional models) or nothing; no strength."""

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "type": "choice", "choices": list(values), "help": "class to draw"}
            for name, values in self.attributes.items()
        ]

    def accepts(self) -> str:
        labels = self.attributes.get(LABEL)
        return f"--label {'|'.join(labels)}" if labels else "no label (it draws from the whole data set)"


class ImageGenerator(Translator):
    """Draws new images from noise: ``generate(count, label=None, seed=None)``.

    Args:
        generator: maps ``(B, latent_dim)`` noise and ``(B,)`` class ids (``None`` when unconditional) to
            ``(B, C, S, S)`` images in ``[-1, 1]``, ``C`` 1 (grey) or 3 (RGB).
        labels: class names in class-id order for a conditional model; empty for an unconditional one.
        latent_dim: length of the noise vector.
        family, model_config, image_size, metadata, card: as for :class:`Translator`.
    """

    def __init__(
        self,
        generator: nn.Module,
        labels: tuple[str, ...] | list[str],
        latent_dim: int,
        family: str,
        model_config: dict[str, Any],
        image_size: int,
        metadata: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
    ) -> None:
        self.labels = tuple(labels)
        self.latent_dim = int(latent_dim)
        conditions = GeneratorConditions(attributes={LABEL: self.labels} if self.labels else {})
        super().__init__(
            {"generator": generator}, family, model_config, image_size, conditions, metadata, card
        )

    def label_ids(self, label: str | int | None, count: int, random: torch.Generator) -> torch.Tensor | None:
        """``(count,)`` class ids for ``label`` (a class name, or its index), uniform ones for ``None``.

        Raises:
            ConditionError: a label for an unconditional model, or one the model does not know.
        """
        if not self.labels:
            if label is not None:
                raise ConditionError(
                    f"this {self.family} model is unconditional: it takes no label (got {label!r}); "
                    "train a label-conditional model (--family cgan) to ask for a class"
                )
            return None
        if label is None:
            return torch.randint(len(self.labels), (count,), generator=random)
        text = str(label)
        if text in self.labels:
            index = self.labels.index(text)
        elif text.isdigit() and int(text) < len(self.labels):
            index = int(text)
        else:
            raise ConditionError(f"unknown label {text!r}; this model draws {', '.join(self.labels)}")
        return torch.full((count,), index, dtype=torch.long)

    @torch.inference_mode()
    def generate(
        self, count: int, label: str | int | None = None, seed: int | None = None, batch_size: int = 256
    ) -> torch.Tensor:
        """Draw ``count`` new images.

        Args:
            count: number of images.
            label: the class to draw (conditional models): a name such as ``"7"``, or a class index;
                ``None`` draws classes uniformly.
            seed: fixes the noise (the same seed gives the same images); ``None`` for fresh noise.
            batch_size: images per forward pass.

        Returns:
            ``(count, 3, S, S)`` RGB float32 in ``[-1, 1]`` on the CPU, ``S = image_size``.
        """
        if count < 0 or batch_size < 1:
            raise AgeshiftError(f"count must be >= 0 and batch_size >= 1, got {count} and {batch_size}")
        random = torch.Generator()
        if seed is None:
            random.seed()
        else:
            random.manual_seed(int(seed))
        labels = self.label_ids(label, count, random)
        noise = torch.randn(count, self.latent_dim, generator=random)
        images = []
        for start in range(0, count, batch_size):
            chunk = None if labels is None else labels[start : start + batch_size].to(self.device)
            drawn = self.networks["generator"](noise[start : start + batch_size].to(self.device), chunk)
            images.append(drawn.float().clamp(-1, 1).expand(-1, 3, -1, -1).cpu())
        return torch.cat(images) if images else torch.zeros(0, 3, self.image_size, self.image_size)

    def _not_a_translator(self) -> AgeshiftError:
        return AgeshiftError(
            f"this {self.family} model draws new images from noise and does not translate images; "
            "use `ageshift generate MODEL` or model.generate(count)"
        )

    def condition(self, *args: Any, **kwargs: Any) -> Condition:
        raise self._not_a_translator()

    def translate_batch(self, images: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        raise self._not_a_translator()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "generates": {"latent_dim": self.latent_dim, "labels": list(self.labels)},
        }

    pretrained_kind = "generator"

    def pretrained_fields(self) -> dict[str, Any]:
        """The translator's entries plus the noise size and the class names."""
        return {**super().pretrained_fields(), "latent_dim": self.latent_dim, "labels": list(self.labels)}
