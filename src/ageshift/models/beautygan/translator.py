"""A makeup model at inference: ``makeup`` puts a reference face's makeup on faces, ``remove`` takes it off.

The reference is part of the request, not of the weights: :meth:`MakeupTranslator.with_reference` returns the
same model bound to one reference face (an aligned crop), which then behaves like any two-direction model, so
the face pipeline, chains, folders in batch and the web page run it unchanged::

    model = ageshift.load("models/makeup").with_reference(reference_crop)
    made_up = model.translate(face_crop, "makeup", strength=0.8)
    bare = model.translate(face_crop, "remove")        # no reference needed
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from PIL import Image
from torch import nn

from ...errors import AgeshiftError
from ...image import check_batch, pil_to_tensor, resize
from ..conditions import Condition, ConditionError, ConditionSpec
from ..translator import Translator

#: The two directions: wear the reference's makeup, or take makeup off.
MAKEUP_DIRECTIONS = ("makeup", "remove")


class MakeupTranslator(Translator):
    """BeautyGAN's generator behind the :class:`Translator` interface (directions ``makeup`` and ``remove``).

    ``remove`` runs the generator's second output with the face in the reference slot: the face with its
    makeup removed. ``strength`` mixes input and output pixels.
    """

    evaluation = "makeup"

    def __init__(
        self,
        generator: nn.Module,
        model_config: dict[str, Any],
        image_size: int,
        metadata: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
    ) -> None:
        spec = ConditionSpec(directions=MAKEUP_DIRECTIONS)
        super().__init__(
            {"generator": generator}, "beautygan", model_config, image_size, spec, metadata, card
        )
        #: the bound reference, ``(1, 3, S, S)`` in ``[-1, 1]`` at the model's size, or ``None``.
        self.reference: torch.Tensor | None = None

    def with_reference(self, reference: Image.Image | torch.Tensor) -> MakeupTranslator:
        """This model bound to one reference face (shares the weights; ``self`` is unchanged).

        Args:
            reference: the made-up face, aligned like the model's training crops (``faces.makeup.reference_face``
                aligns one from a photo): a PIL image or a ``(3, H, W)`` / ``(1, 3, H, W)`` tensor in ``[-1, 1]``.
        """
        tensor = pil_to_tensor(reference.convert("RGB")) if isinstance(reference, Image.Image) else reference
        tensor = tensor.unsqueeze(0) if tensor.ndim == 3 else tensor
        check_batch(tensor)
        if tensor.shape[0] != 1:
            raise AgeshiftError(f"give one reference face, got a batch of {tensor.shape[0]}")
        bound = copy.copy(self)
        bound.reference = resize(tensor.float(), self.image_size).clamp(-1, 1).cpu()
        return bound

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        generator = self.networks["generator"]
        if condition.direction == "remove":
            return generator(images, images)[1]
        if self.reference is None:
            raise ConditionError(
                "makeup needs a reference face: model.with_reference(image), or --reference REF.jpg "
                "(direction 'remove' needs none)"
            )
        reference = self.reference.to(images.device).expand(images.shape[0], -1, -1, -1)
        return generator(images, reference)[0]

    def transfer_pairs(
        self, sources: torch.Tensor, references: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(made_up, removed)`` for paired batches at the model's size (evaluation, one reference per source).

        Args:
            sources, references: ``(B, 3, S, S)`` in ``[-1, 1]``.
        """
        check_batch(sources)
        check_batch(references)
        generator = self.networks["generator"]
        with torch.inference_mode():
            made_up, removed = generator(
                resize(sources.float(), self.image_size).to(self.device),
                resize(references.float(), self.image_size).to(self.device),
            )
        return made_up.float().clamp(-1, 1).cpu(), removed.float().clamp(-1, 1).cpu()

    def describe(self) -> dict[str, Any]:
        summary = super().describe()
        summary["reference"] = "bound" if self.reference is not None else "none (give one for 'makeup')"
        return summary
