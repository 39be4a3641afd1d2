"""BeautyGAN's networks (Li et al., ACM MM 2018): a dual-input, dual-output generator; discriminators per domain.

The generator encodes the source (no makeup) and the reference (with makeup) separately, concatenates the two
feature maps, runs shared residual blocks and decodes two images: the source wearing the reference's makeup and
the reference with its makeup removed. Each domain gets its own PatchGAN discriminator (CycleGAN's).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...nn.layers import ResidualBlock, make_norm, make_pad, uses_bias
from ..cyclegan.networks import PatchDiscriminator

__all__ = ["MakeupGenerator", "PatchDiscriminator"]


def _encoder(channels: int, norm: str) -> nn.Sequential:
    bias = uses_bias(norm)
    return nn.Sequential(
        make_pad("reflect", 3), nn.Conv2d(3, channels, 7, bias=bias), make_norm(norm, channels), nn.ReLU(True),
        nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=bias), make_norm(norm, channels * 2), nn.ReLU(True),
    )  # fmt: skip


def _decoder(channels: int, norm: str) -> nn.Sequential:
    bias = uses_bias(norm)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(channels * 4, channels, 3, padding=1, bias=bias), make_norm(norm, channels), nn.ReLU(True),
        make_pad("reflect", 3), nn.Conv2d(channels, 3, 7),
    )  # fmt: skip


class MakeupGenerator(nn.Module):
    """``(source, reference) -> (source with the reference's makeup, reference without makeup)``.

    Args:
        channels: width of the first layer (the encoders' outputs have twice as many, concatenated four times).
        num_res_blocks: shared residual blocks at half resolution.
        norm: ``"instance"``, ``"batch"`` or ``"none"``.

    Both outputs are residual: the decoders predict a change added to the input in tanh's pre-activation space,
    so a face is made up rather than redrawn. Images: ``(B, 3, H, W)`` RGB in ``[-1, 1]``, ``H, W`` even.
    """

    def __init__(self, channels: int = 32, num_res_blocks: int = 3, norm: str = "instance") -> None:
        super().__init__()
        self.encode_source = _encoder(channels, norm)
        self.encode_reference = _encoder(channels, norm)
        self.blocks = nn.Sequential(*(ResidualBlock(channels * 4, norm) for _ in range(num_res_blocks)))
        self.decode_made_up = _decoder(channels, norm)
        self.decode_removed = _decoder(channels, norm)

    def forward(self, source: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
        features = self.blocks(torch.cat([self.encode_source(source), self.encode_reference(reference)], 1))
        made_up = (_atanh(source) + self.decode_made_up(features)).tanh()
        removed = (_atanh(reference) + self.decode_removed(features)).tanh()
        return made_up, removed


def _atanh(images: Tensor) -> Tensor:
    # Inputs of exactly ±1 would give infinities; 0.999 keeps the residual path finite.
    return images.clamp(-0.999, 0.999).atanh()
