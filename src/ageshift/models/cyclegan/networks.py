"""CycleGAN networks: the ResNet generator and the PatchGAN discriminator (Zhu et al. 2017)."""

from __future__ import annotations

import torch
from torch import nn

from ...nn.layers import ResidualBlock, make_norm, make_pad, uses_bias
from .config import DiscriminatorConfig, GeneratorConfig

#: Inputs are clamped to this before ``atanh`` in the residual output (``atanh(±0.999) ≈ ±3.8``).
RESIDUAL_LIMIT = 0.999


class ResnetGenerator(nn.Module):
    """Image-to-image generator: stem, strided downsampling, residual blocks, upsampling, tanh head.

    Input and output follow the library convention: ``(B, 3, H, W)`` RGB in ``[-1, 1]``; ``H`` and ``W``
    must be divisible by ``2 ** num_downsamples``.
    """

    def __init__(self, config: GeneratorConfig, in_channels: int = 3, out_channels: int = 3) -> None:
        super().__init__()
        self.config = config
        width, norm, bias = config.channels, config.norm, uses_bias(config.norm)
        self.stem = nn.Sequential(
            make_pad(config.padding, 3),
            nn.Conv2d(in_channels, width, 7, bias=bias),
            make_norm(norm, width),
            nn.ReLU(inplace=True),
        )
        down = []
        for i in range(config.num_downsamples):
            channels = width * 2**i
            down.append(
                nn.Sequential(
                    nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1, bias=bias),
                    make_norm(norm, channels * 2),
                    nn.ReLU(inplace=True),
                )
            )
        self.down = nn.Sequential(*down)
        inner = width * 2**config.num_downsamples
        self.blocks = nn.Sequential(
            *[
                ResidualBlock(inner, norm, config.padding, config.dropout)
                for _ in range(config.num_res_blocks)
            ]
        )
        up = []
        for i in range(config.num_downsamples, 0, -1):
            channels = width * 2**i
            if config.upsample == "transpose":
                resample = nn.ConvTranspose2d(
                    channels, channels // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                )
                up.append(nn.Sequential(resample, make_norm(norm, channels // 2), nn.ReLU(inplace=True)))
            elif config.upsample == "conv_bilinear":
                # Convolving before interpolating costs what the transposed conv did (a quarter of resizing
                # first), and interpolation spreads every pixel evenly, so there is no checkerboard.
                up.append(
                    nn.Sequential(
                        nn.Conv2d(channels, channels // 2, 3, padding=1, bias=bias),
                        make_norm(norm, channels // 2),
                        nn.ReLU(inplace=True),
                        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                    )
                )
            else:
                mode = "bilinear" if config.upsample == "bilinear" else "nearest"
                up.append(
                    nn.Sequential(
                        nn.Upsample(scale_factor=2, mode=mode),
                        nn.Conv2d(channels, channels // 2, 3, padding=1, bias=bias),
                        make_norm(norm, channels // 2),
                        nn.ReLU(inplace=True),
                    )
                )
        self.up = nn.Sequential(*up)
        self.residual = config.output == "residual"
        head: list[nn.Module] = [make_pad(config.padding, 3), nn.Conv2d(width, out_channels, 7)]
        self.head = nn.Sequential(*head) if self.residual else nn.Sequential(*head, nn.Tanh())
        if config.norm_affine and norm == "instance":
            _make_instance_norms_affine(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        change = self.head(self.up(self.blocks(self.down(self.stem(images)))))
        if self.residual:
            # Edit rather than redraw: the head's output is added to the input in tanh's pre-activation space,
            # so background, skin and detail are kept unless the translation needs them changed.
            return torch.tanh(torch.atanh(images.clamp(-RESIDUAL_LIMIT, RESIDUAL_LIMIT)) + change)
        return change


def _make_instance_norms_affine(module: nn.Module) -> None:
    """Swap every instance norm inside ``module`` for one with a learned scale (ones) and shift (zeros)."""
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.InstanceNorm2d) and not child.affine:
                setattr(parent, name, nn.InstanceNorm2d(child.num_features, affine=True))


class PatchDiscriminator(nn.Module):
    """PatchGAN: classifies overlapping patches as real or fake; returns ``(B, 1, h, w)`` logits."""

    def __init__(self, config: DiscriminatorConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.config = config
        width, norm, bias = config.channels, config.norm, uses_bias(config.norm)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        multiplier = 1
        for i in range(1, config.num_layers + 1):
            previous, multiplier = multiplier, min(2**i, 8)
            # The last block keeps the resolution (stride 1), as in the reference PatchGAN.
            stride = 2 if i < config.num_layers else 1
            layers += [
                nn.Conv2d(width * previous, width * multiplier, 4, stride=stride, padding=1, bias=bias),
                make_norm(norm, width * multiplier),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(width * multiplier, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)
