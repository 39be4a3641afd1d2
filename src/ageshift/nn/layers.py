"""Building blocks shared by the generators and discriminators."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

NORMS = ("instance", "batch", "none")
PADDINGS = ("reflect", "replicate", "zeros")


def make_norm(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name: ``instance`` (no affine, no running stats, as in CycleGAN), ``batch`` or ``none``."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


def uses_bias(norm: str) -> bool:
    """Convolutions before a batch norm need no bias (its shift replaces it); the others keep one."""
    return norm != "batch"


def make_pad(kind: str, amount: int) -> nn.Module:
    """Explicit padding layer (so the conv itself uses ``padding=0``)."""
    if kind == "reflect":
        return nn.ReflectionPad2d(amount)
    if kind == "replicate":
        return nn.ReplicationPad2d(amount)
    if kind == "zeros":
        return nn.ZeroPad2d(amount)
    raise ConfigError(f"unknown padding {kind!r}; choose one of {', '.join(PADDINGS)}")


class ResidualBlock(nn.Module):
    """``x + body(x)`` with body = pad, conv3×3, norm, ReLU, [dropout], pad, conv3×3, norm (He et al. 2016)."""

    def __init__(
        self, channels: int, norm: str = "instance", padding: str = "reflect", dropout: float = 0.0
    ) -> None:
        super().__init__()
        bias = uses_bias(norm)
        layers: list[nn.Module] = [
            make_pad(padding, 1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(norm, channels),
            nn.ReLU(inplace=True),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [
            make_pad(padding, 1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(norm, channels),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@torch.no_grad()
def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """CycleGAN's initialisation: conv weights ~ N(0, gain), biases 0, norm scales ~ N(1, gain)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)
