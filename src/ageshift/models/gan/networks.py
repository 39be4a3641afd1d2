"""The teaching GANs' networks: a fully connected and a DCGAN generator/discriminator pair.

Every network takes an optional ``(B,)`` tensor of class ids. A conditional network (``num_classes > 0``)
reads the label as a one-hot vector concatenated to its input (Mirza & Osindero 2014): to the noise for a
generator, to the pixels (MLP) or as constant extra channels (DCGAN) for a discriminator.

Generators map ``(B, latent_dim)`` noise to ``(B, C, S, S)`` images in ``[-1, 1]`` (tanh); discriminators map
images to ``(B,)`` logits: "how real", before the sigmoid (the loss applies it; see ``model.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import GANConfig


def with_label(inputs: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """Append the one-hot label to ``(B, N)`` vectors, or as ``num_classes`` constant maps to ``(B, C, H, W)``."""
    if num_classes == 0:
        return inputs
    if labels is None:
        raise ValueError("a conditional network needs the class ids (labels)")
    one_hot = F.one_hot(labels.long(), num_classes).to(inputs.dtype)
    if inputs.ndim == 4:
        one_hot = one_hot[:, :, None, None].expand(-1, -1, *inputs.shape[-2:])
    return torch.cat([inputs, one_hot], dim=1)


class MLPGenerator(nn.Module):
    """``z → Linear → LeakyReLU → (Linear → BatchNorm1d → LeakyReLU) × 2 → Linear → tanh``, reshaped to an image."""

    def __init__(self, config: GANConfig, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.shape = (config.image_channels, config.image_size, config.image_size)
        width, slope = config.hidden, config.leaky_slope
        self.layers = nn.Sequential(
            nn.Linear(config.latent_dim + num_classes, width),
            nn.LeakyReLU(slope),
            nn.Linear(width, 2 * width),
            nn.BatchNorm1d(2 * width),
            nn.LeakyReLU(slope),
            nn.Linear(2 * width, 4 * width),
            nn.BatchNorm1d(4 * width),
            nn.LeakyReLU(slope),
            nn.Linear(4 * width, self.shape[0] * self.shape[1] * self.shape[2]),
            nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.layers(with_label(noise, labels, self.num_classes)).view(-1, *self.shape)


class MLPDiscriminator(nn.Module):
    """``pixels → Linear → LeakyReLU → Linear → LeakyReLU → Linear``: one logit per image."""

    def __init__(self, config: GANConfig, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        pixels = config.image_channels * config.image_size**2
        width, slope = config.hidden, config.leaky_slope
        self.layers = nn.Sequential(
            nn.Linear(pixels + num_classes, 4 * width),
            nn.LeakyReLU(slope),
            nn.Linear(4 * width, 2 * width),
            nn.LeakyReLU(slope),
            nn.Linear(2 * width, 1),
        )

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.layers(with_label(images.flatten(1), labels, self.num_classes)).squeeze(1)


class DCGANGenerator(nn.Module):
    """``z → Linear → (4c, S/4, S/4) → ConvTranspose ×2 → (C, S, S)``, batch norm and ReLU between, tanh out."""

    def __init__(self, config: GANConfig, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.start = (4 * config.channels, config.image_size // 4, config.image_size // 4)
        c = config.channels
        self.project = nn.Sequential(
            nn.Linear(config.latent_dim + num_classes, self.start[0] * self.start[1] * self.start[2]),
            nn.BatchNorm1d(self.start[0] * self.start[1] * self.start[2]),
            nn.ReLU(),
        )
        self.upsample = nn.Sequential(
            # kernel 4, stride 2, padding 1 exactly doubles the side.
            nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * c, config.image_channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.project(with_label(noise, labels, self.num_classes))
        return self.upsample(features.view(-1, *self.start))


class DCGANDiscriminator(nn.Module):
    """``(C [+ classes], S, S) → Conv s2 → Conv s2 + BatchNorm → Linear``, LeakyReLU between: one logit."""

    def __init__(self, config: GANConfig, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        c, slope = config.channels, config.leaky_slope
        self.features = nn.Sequential(
            nn.Conv2d(config.image_channels + num_classes, 2 * c, 4, stride=2, padding=1),
            nn.LeakyReLU(slope),
            nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1),
            nn.BatchNorm2d(4 * c),
            nn.LeakyReLU(slope),
        )
        self.head = nn.Linear(4 * c * (config.image_size // 4) ** 2, 1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.features(with_label(images, labels, self.num_classes))
        return self.head(features.flatten(1)).squeeze(1)


def build_networks(config: GANConfig) -> tuple[nn.Module, nn.Module]:
    """The ``(generator, discriminator)`` pair of ``config.architecture``, conditional when it has classes."""
    num_classes = len(config.classes)
    if config.architecture == "dcgan":
        return DCGANGenerator(config, num_classes), DCGANDiscriminator(config, num_classes)
    return MLPGenerator(config, num_classes), MLPDiscriminator(config, num_classes)
