"""The re-aging U-Net (blur pooling, additive skips) and its conditional PatchGAN discriminator."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: Ages enter the network as years / AGE_SCALE, so the age channels are about as large as the RGB ones.
AGE_SCALE = 100.0


class BlurPool(nn.Module):
    """Anti-aliased ×1/2 downsampling: a [1, 2, 1]² binomial blur per channel, then stride 2 (Zhang 2019).

    Plain strided pooling aliases; small shifts of the face between video frames would then change the
    predicted change, which shows as flicker.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        line = torch.tensor([1.0, 2.0, 1.0])
        kernel = (line[:, None] * line[None, :]) / 16.0
        self.kernel: torch.Tensor
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)
        self.channels = channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        padded = F.pad(features, (1, 1, 1, 1), mode="replicate")
        return F.conv2d(padded, self.kernel.to(features.dtype), stride=2, groups=self.channels)


def _conv(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))


class ReagerUNet(nn.Module):
    """``(B, 5, S, S)`` RGB in ``[-1, 1]`` + current and target age maps → ``(B, 3, S, S)`` RGB change.

    Encoder: per level one 3×3 convolution (two below the first level), blur pooling between levels. Decoder:
    a 1×1 projection, bilinear ×2, added to the skip features (cheaper than concatenation at full size), a 3×3
    convolution. The head starts at zero, so an untrained student returns its input.

    Args:
        channels: features per level, finest first.
    """

    def __init__(self, channels: list[int] | tuple[int, ...]) -> None:
        super().__init__()
        channels = list(channels)
        self.encoder = nn.ModuleList()
        self.pools = nn.ModuleList()
        previous = 5
        for level, width in enumerate(channels):
            layers = [_conv(previous, width)] + ([_conv(width, width)] if level else [])
            self.encoder.append(nn.Sequential(*layers))
            if level < len(channels) - 1:
                self.pools.append(BlurPool(width))
            previous = width
        self.projections = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in range(len(channels) - 2, -1, -1):
            self.projections.append(nn.Conv2d(channels[level + 1], channels[level], 1))
            self.decoder.append(_conv(channels[level], channels[level]))
        self.head = nn.Conv2d(channels[0], 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        if self.head.bias is not None:
            nn.init.zeros_(self.head.bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        skips = []
        features = inputs
        for level, block in enumerate(self.encoder):
            features = block(features)
            if level < len(self.pools):
                skips.append(features)
                features = self.pools[level](features)
        for projection, block in zip(self.projections, self.decoder, strict=True):
            skip = skips.pop()
            # The 1×1 projection and bilinear upsampling commute (both linear, the weights sum to one), so project
            # first: a quarter of the pixels and half the channels to upsample.
            upsampled = F.interpolate(
                projection(features), size=skip.shape[-2:], mode="bilinear", align_corners=False
            )
            features = block(upsampled + skip)
        return self.head(features)


def student_input(images: torch.Tensor, current: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The network's input: images ``(B, 3, S, S)`` and age maps ``(B, 1, S, S)`` in years → ``(B, 5, S, S)``."""
    return torch.cat([images, current / AGE_SCALE, target / AGE_SCALE], dim=1)


class AgePatchDiscriminator(nn.Module):
    """A PatchGAN critic (Isola et al. 2017) that also reads the target-age map: ``(B, 4, S, S)`` → patch logits."""

    def __init__(self, channels: int = 32, num_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 4
        for layer in range(num_layers):
            width = channels * 2**layer
            layers += [nn.Conv2d(previous, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            previous = width
        layers.append(nn.Conv2d(previous, 1, 3, padding=1))
        self.network = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.network(torch.cat([images, target / AGE_SCALE], dim=1))


def count_macs(network: nn.Module, size: int) -> int:
    """Multiply-accumulates of one ``size²`` forward pass (convolutions only; activations and resizes excluded)."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += output.numel() // output.shape[0] * kernel

    handles = [m.register_forward_hook(hook) for m in network.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            first = next(m for m in network.modules() if isinstance(m, nn.Conv2d))
            network(torch.zeros(1, first.in_channels, size, size))
    finally:
        for handle in handles:
            handle.remove()
    return total
