"""The re-aging student at inference: ``translate(images, target_age=..., current_age=...)`` adds a predicted change.

The change is predicted at the model's size and upscaled to the input's size, then added there: the input's
own pixels are never resampled. Ages may be numbers, one per image, or per-pixel maps (e.g. a lower target
for the eyes, or the target only inside the skin).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from ...errors import AgeshiftError
from ...image import check_batch, pil_to_tensor, resize, tensor_to_pil
from ..conditions import Condition, ConditionError, ConditionSpec
from ..translator import Translator
from .networks import student_input

#: What an age may be: years for every image, ``(B,)`` years per image, or a map ``(H, W)``/``(B, 1, H, W)``.
AgeLike = float | int | torch.Tensor | np.ndarray | str | None


class ReagerTranslator(Translator):
    """Inference of a distilled re-aging U-Net.

    ``current_age`` is the face's own age: a number, per image or per pixel (labels or the user), or an estimator
    name (``"packaged"``, ``"cue"``, a ``train-age-estimator`` folder); ``None`` uses the one the student was
    distilled with (``model_config["age_estimator"]``). ``strength`` moves the target from the current age
    towards the requested one.
    """

    strength_by_blending = False
    #: the face pipeline adds :meth:`predict_delta`'s change at the face's real size instead of pasting a crop.
    predicts_delta = True

    def __init__(
        self,
        network: nn.Module,
        model_config: dict[str, Any],
        image_size: int,
        metadata: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
    ) -> None:
        low, high = (float(v) for v in model_config.get("age_range", (20.0, 80.0)))
        super().__init__(
            {"student": network}, "reager", model_config, image_size, ConditionSpec(age=(low, high)),
            metadata, card,
        )  # fmt: skip

    # ---- ages -------------------------------------------------------------------------------------------

    def current_ages(self, images: torch.Tensor, estimator: str | None = None) -> torch.Tensor:
        """The faces' own ages ``(B,)`` in years (see :func:`estimate_ages`); default: the student's estimator."""
        return estimate_ages(images, estimator or str(self.model_config.get("age_estimator", "packaged")))

    def age_map(
        self, value: AgeLike, count: int, size: tuple[int, int], device: torch.device
    ) -> torch.Tensor:
        """``value`` as a ``(count, 1, H, W)`` map in years at ``size``: numbers fill it, maps are resized (bilinear)."""
        tensor = torch.as_tensor(value, dtype=torch.float32, device=device)
        if tensor.ndim == 0:
            return tensor.expand(count, 1, *size).clone()
        if tensor.ndim == 1:
            if tensor.shape[0] != count:
                raise ConditionError(f"{tensor.shape[0]} ages given for {count} image(s)")
            return tensor.view(count, 1, 1, 1).expand(count, 1, *size).clone()
        if tensor.ndim == 2:
            tensor = tensor[None, None].expand(count, 1, *tensor.shape)
        elif tensor.ndim == 3:
            tensor = tensor[:, None]
        if tensor.ndim != 4 or tensor.shape[1] != 1 or tensor.shape[0] not in (1, count):
            raise ConditionError(
                f"an age map must be (H, W), (B, H, W) or (B, 1, H, W) for {count} image(s); got {tuple(tensor.shape)}"
            )
        tensor = tensor.expand(count, -1, -1, -1)
        if tuple(tensor.shape[-2:]) != tuple(size):
            tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)
        return tensor

    def _checked_target(self, target_age: AgeLike) -> None:
        if target_age is None:
            raise ConditionError(f"say what to change: this model accepts {self.conditions.accepts()}")
        if isinstance(target_age, str):
            raise ConditionError(f"target age must be a number or a map of numbers, got {target_age!r}")
        values = torch.as_tensor(target_age, dtype=torch.float32)
        if values.ndim == 0:
            self.condition(target_age=float(values))
            return
        low, high = self.conditions.age or (0.0, 150.0)
        if not bool(torch.isfinite(values).all()) or values.min() < low or values.max() > high:
            raise ConditionError(f"target ages must lie in this model's range {low:g}..{high:g}")

    # ---- the change -------------------------------------------------------------------------------------

    @torch.inference_mode()
    def predict_delta(
        self,
        images: torch.Tensor,
        target_age: AgeLike,
        current_age: AgeLike = None,
        strength: float | None = 1.0,
    ) -> torch.Tensor:
        """The change ageing makes, at the model's size.

        Args:
            images: ``(B, 3, H, W)`` RGB float in ``[-1, 1]`` (resized to the model's size for the network only).
            target_age: years: a number, ``(B,)``, or a map ``(H, W)`` / ``(B, 1, H, W)`` at any size.
            current_age: the same forms, an estimator name, or ``None`` (the student's estimator).
            strength: ``[0, 1]``: the target moves from the current age towards ``target_age``.

        Returns:
            ``(B, 3, S, S)`` float32 change in ``[-1, 1]`` units on the CPU (``S = image_size``).
        """
        check_batch(images)
        self._checked_target(target_age)
        strength = 1.0 if strength is None else float(strength)
        if not 0.0 <= strength <= 1.0:  # NaN fails too
            raise ConditionError(f"strength must be between 0 and 1, got {strength}")
        count, side = images.shape[0], (self.image_size, self.image_size)
        small = resize(images.to(self.device, torch.float32), self.image_size)
        if current_age is None or isinstance(current_age, str):
            current_age = self.current_ages(images, current_age)
        current = self.age_map(current_age, count, side, self.device)
        target = self.age_map(target_age, count, side, self.device)
        target = torch.lerp(current, target, strength)
        delta = self.networks["student"](student_input(small, current, target))
        return self._checked(delta).float().cpu()

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        assert condition.target_age is not None
        delta = self.predict_delta(images, condition.target_age, None, condition.strength)
        return images + delta.to(images.device)

    @torch.inference_mode()
    def translate_batch(
        self,
        images: torch.Tensor,
        direction: str | None = None,
        *,
        target_age: AgeLike = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
        batch_size: int = 16,
        current_age: AgeLike = None,
    ) -> torch.Tensor:
        """Re-age a tensor batch: input + the change upscaled (bicubic) to the input's size, clamped to ``[-1, 1]``.

        Args and Returns as :meth:`Translator.translate_batch`, plus ``current_age`` (see :meth:`predict_delta`);
        ``target_age`` may be a map.
        """
        check_batch(images)
        if direction is not None or attributes:
            raise ConditionError(
                f"this model takes a target age only; it accepts {self.conditions.accepts()}"
            )
        if batch_size < 1:
            raise AgeshiftError(f"batch_size must be >= 1, got {batch_size}")
        self._checked_target(target_age)
        outputs = []
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start : start + batch_size].float().cpu()

            stop, total = start + chunk.shape[0], images.shape[0]
            delta = self.predict_delta(
                chunk, _rows(target_age, start, stop, total), _rows(current_age, start, stop, total), strength
            )
            outputs.append((chunk + upscale_delta(delta, chunk.shape[-2:])).clamp(-1, 1))
        return torch.cat(outputs) if outputs else images.new_zeros((0, 3, *images.shape[-2:]))

    def translate(
        self,
        images: Any,
        direction: str | None = None,
        *,
        target_age: AgeLike = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
        batch_size: int = 16,
        current_age: AgeLike = None,
    ) -> Any:
        """As :meth:`Translator.translate`, plus ``current_age``; ``target_age`` may be a map."""
        options: dict[str, Any] = {
            "target_age": target_age, "attributes": attributes, "strength": strength,
            "batch_size": batch_size, "current_age": current_age,
        }  # fmt: skip
        if isinstance(images, torch.Tensor):
            single = images.ndim == 3
            result = self.translate_batch(images.unsqueeze(0) if single else images, direction, **options)
            return result[0] if single else result
        if isinstance(images, Image.Image):
            return self.translate([images], direction, **options)[0]
        pictures = list(images)
        for index, picture in enumerate(pictures):
            if not isinstance(picture, Image.Image):
                raise AgeshiftError(f"images[{index}] is a {type(picture).__name__}, expected a PIL image")
        self._checked_target(target_age)
        results = []
        for index, picture in enumerate(pictures):
            batch = pil_to_tensor(picture.convert("RGB"))[None]
            one = {
                **options,
                "current_age": _rows(current_age, index, index + 1, len(pictures)),
                "target_age": _rows(target_age, index, index + 1, len(pictures)),
            }
            results.append(tensor_to_pil(self.translate_batch(batch, direction, **one)[0]))
        return results


def estimate_ages(images: torch.Tensor, spec: str) -> torch.Tensor:
    """Ages ``(B,)`` in years of ``(B, 3, H, W)`` faces in ``[-1, 1]``, read by the age estimator ``spec``.

    Raises:
        AgeshiftError: the estimator finds no face in an image (give the current age then).
    """
    from ...evaluation.age import create_age_estimator, predict_crop_ages
    from ...image import tensor_to_uint8

    reader = create_age_estimator(spec)
    pixels = [tensor_to_uint8(image) for image in images]
    if getattr(reader, "aligned", True):
        ages, detected = predict_crop_ages(pixels, reader)
    else:
        side = (reader.chip_size, reader.chip_size)
        chips = [np.asarray(Image.fromarray(p).resize(side, Image.Resampling.BILINEAR)) for p in pixels]
        ages = reader.predict(np.stack(chips)) if chips else np.zeros(0)
        detected = np.ones(len(pixels), bool)
    missing = int((~np.asarray(detected, bool)).sum()) + int((~np.isfinite(np.asarray(ages, float))).sum())
    if missing:
        raise AgeshiftError(
            f"the {spec!r} age estimator found no face in {missing} image(s); "
            "give the current age (current_age=…, --current-age)"
        )
    return torch.as_tensor(np.asarray(ages, np.float32))


def _rows(value: AgeLike, start: int, stop: int, count: int) -> AgeLike:
    """Images ``start:stop`` of a per-image age (``(B,)``, ``(B, H, W)``, ``(B, 1, H, W)``); other forms as given."""
    if isinstance(value, torch.Tensor | np.ndarray) and value.ndim in (1, 3, 4) and value.shape[0] == count:
        return value[start:stop]
    return value


def upscale_delta(delta: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """A ``(B, 3, S, S)`` change brought to ``size`` (bicubic when enlarging, area when shrinking)."""
    if tuple(delta.shape[-2:]) == tuple(size):
        return delta
    if size[0] >= delta.shape[-2]:
        return F.interpolate(delta, size=tuple(size), mode="bicubic", align_corners=False)
    return F.interpolate(delta, size=tuple(size), mode="area")
