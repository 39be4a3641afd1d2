"""Super-resolution networks: the SRResNet/SRGAN generator (Ledig et al. 2017) and RRDBNet (ESRGAN, Wang et al.
2018, as Real-ESRGAN x4plus uses it), plus the SRGAN discriminator for fine-tuning.

Both generators take and return the house convention, ``(B, 3, H, W)`` RGB float32 in ``[-1, 1]``; each maps
it to the range its published weights were trained on (``[0, 1]``) inside ``forward``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

#: Keras' BatchNormalization default, which the packaged SRGAN weights were trained with.
KERAS_BATCHNORM_EPS = 1e-3
SCALES = (2, 4)


def _check_scale(scale: int) -> int:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale}")
    return scale.bit_length() - 1  # number of ×2 stages


class ResidualBlock(nn.Module):
    """conv → BN → PReLU → conv → BN, plus the input (SRResNet's block)."""

    def __init__(self, channels: int, batchnorm: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm1: nn.Module = (
            nn.BatchNorm2d(channels, eps=KERAS_BATCHNORM_EPS) if batchnorm else nn.Identity()
        )
        self.act = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2: nn.Module = (
            nn.BatchNorm2d(channels, eps=KERAS_BATCHNORM_EPS) if batchnorm else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))


class SubPixelUpsample(nn.Module):
    """×2 sub-pixel upsampling: conv to ``4·C`` channels, :class:`nn.PixelShuffle`, per-channel PReLU.

    The channel order is PyTorch's (``c·4 + i·2 + j``); Keras weights are permuted on import (see ports.py).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class SRResNet(nn.Module):
    """The SRResNet / SRGAN generator: 9×9 stem, residual blocks, global skip, sub-pixel ×2 stages, 9×9 tanh head.

    Args:
        channels: feature width (64 in the paper).
        num_blocks: residual blocks (16 in the paper).
        scale: 2 or 4.
        batchnorm: BatchNorm in the residual blocks and after the trunk (the paper's, and the packaged weights').
    """

    def __init__(
        self, channels: int = 64, num_blocks: int = 16, scale: int = 4, batchnorm: bool = True
    ) -> None:
        super().__init__()
        stages = _check_scale(scale)
        self.scale = scale
        self.head = nn.Conv2d(3, channels, 9, padding=4)
        self.head_act = nn.PReLU(channels)
        self.blocks = nn.Sequential(*(ResidualBlock(channels, batchnorm) for _ in range(num_blocks)))
        self.trunk_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.trunk_norm: nn.Module = (
            nn.BatchNorm2d(channels, eps=KERAS_BATCHNORM_EPS) if batchnorm else nn.Identity()
        )
        self.upsample = nn.Sequential(*(SubPixelUpsample(channels) for _ in range(stages)))
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[-1, 1]`` → ``(B, 3, s·H, s·W)`` in ``[-1, 1]`` (tanh)."""
        # The weights expect x/255 in [0, 1]; their output (tanh + 1)·127.5 is tanh in [-1, 1] in our convention.
        features = self.head_act(self.head((x + 1.0) * 0.5))
        trunk = features + self.trunk_norm(self.trunk_conv(self.blocks(features)))
        return torch.tanh(self.tail(self.upsample(trunk)))


class DenseBlock(nn.Module):
    """ESRGAN's residual dense block: five 3×3 convs, each reading all earlier features; ``0.2·out + x``."""

    def __init__(self, channels: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(channels + index * growth, growth if index < 4 else channels, 3, padding=1)
            for index in range(5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in self.convs[:4]:
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return self.convs[4](torch.cat(features, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three :class:`DenseBlock`\\ s, ``0.2·out + x``."""

    def __init__(self, channels: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(channels, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator as Real-ESRGAN x4plus uses it: RRDB trunk, nearest-neighbour ×2 stages, LeakyReLU 0.2.

    Module order is the weights' order in the packaged ncnn file (stem, blocks, trunk conv, upsampling, head).

    Args:
        channels: feature width (64).
        num_blocks: RRDB blocks (23 in x4plus).
        growth: channels each dense-block conv adds (32).
        scale: 2 or 4.
    """

    def __init__(self, channels: int = 64, num_blocks: int = 23, growth: int = 32, scale: int = 4) -> None:
        super().__init__()
        stages = _check_scale(scale)
        self.scale = scale
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = nn.Sequential(*(RRDB(channels, growth) for _ in range(num_blocks)))
        self.trunk_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.upsample = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(stages))
        self.hr_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[-1, 1]`` → ``(B, 3, s·H, s·W)``, about ``[-1, 1]`` (not clamped)."""
        features = self.head((x + 1.0) * 0.5)
        features = features + self.trunk_conv(self.blocks(features))
        for conv in self.upsample:
            features = F.leaky_relu(conv(F.interpolate(features, scale_factor=2.0, mode="nearest")), 0.2)
        return self.tail(F.leaky_relu(self.hr_conv(features), 0.2)) * 2.0 - 1.0


class Discriminator(nn.Module):
    """SRGAN's discriminator, fully convolutional (a patch head instead of the dense layers, so any crop size).

    Args:
        channels: width of the first layer (doubles every two layers, up to ``8·channels``).
        num_layers: strided/unstrided conv pairs (4 in the paper).
    """

    def __init__(self, channels: int = 64, num_layers: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        width = channels
        for index in range(num_layers):
            out = channels * min(2**index, 8)
            if index > 0:
                layers += [nn.Conv2d(width, out, 3, padding=1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
                width = out
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in ``[-1, 1]`` → ``(B, 1, H/16, W/16)`` real/fake logits."""
        return self.layers(x)


def fuse_batchnorm(network: nn.Module) -> nn.Module:
    """A copy of ``network`` with every BatchNorm that follows a conv folded into that conv (eval mode).

    Same outputs up to float rounding, one fewer pass over the features per BatchNorm.

    Args:
        network: an :class:`SRResNet` (other networks are returned as an eval-mode copy).

    Returns:
        The fused copy.
    """
    fused = copy.deepcopy(network).eval()
    pairs: list[tuple[nn.Module, str, str]] = []
    if isinstance(fused, SRResNet):
        pairs = [(block, "conv1", "norm1") for block in fused.blocks]
        pairs += [(block, "conv2", "norm2") for block in fused.blocks]
        pairs.append((fused, "trunk_conv", "trunk_norm"))
    with torch.no_grad():
        for owner, conv_name, norm_name in pairs:
            conv, norm = getattr(owner, conv_name), getattr(owner, norm_name)
            if not isinstance(norm, nn.BatchNorm2d):
                continue
            assert norm.running_var is not None and norm.running_mean is not None
            factor = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            conv.weight.mul_(factor.view(-1, 1, 1, 1))
            conv.bias.copy_((conv.bias - norm.running_mean) * factor + norm.bias)
            setattr(owner, norm_name, nn.Identity())
    return fused
