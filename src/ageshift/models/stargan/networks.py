"""Networks of the conditional family: the generator ``G(x, c)`` and the discriminator with auxiliary heads."""

from __future__ import annotations

import torch
from torch import nn

from ...nn.layers import make_norm, make_pad
from .config import ConditionalDiscriminatorConfig, ConditionalGeneratorConfig

#: Inputs are clamped to this before ``atanh`` in the residual output (``atanh(±0.999) ≈ ±3.8``: finite gradients).
RESIDUAL_LIMIT = 0.999


class FiLMResidualBlock(nn.Module):
    """``x + body(x)``, where the body's second normalised features are scaled by ``1 + γ(c)`` and shifted by
    ``β(c)`` (feature-wise linear modulation, Perez et al. 2018)."""

    def __init__(self, channels: int, condition_dim: int, padding: str) -> None:
        super().__init__()
        self.first = nn.Sequential(
            make_pad(padding, 1),
            nn.Conv2d(channels, channels, 3),
            make_norm("instance", channels),
            nn.ReLU(True),
        )
        self.second = nn.Sequential(
            make_pad(padding, 1), nn.Conv2d(channels, channels, 3), make_norm("instance", channels)
        )
        self.modulation = nn.Linear(condition_dim, 2 * channels) if condition_dim else None

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        features = self.second(self.first(x))
        if self.modulation is not None:
            scale, shift = self.modulation(condition)[:, :, None, None].chunk(2, dim=1)
            features = features * (1 + scale) + shift
        return x + features


class ConditionalGenerator(nn.Module):
    """Stem, strided downsampling, residual blocks, upsampling, tanh head; the condition enters as tiled input
    channels (``tile``), as FiLM in every block (``film``), or both.

    Input and output: ``(B, 3, H, W)`` RGB in ``[-1, 1]``; the condition is ``(B, condition_dim)``.

    Outputs (``config.output``): ``image`` draws the whole picture (StarGAN); ``residual`` adds a predicted
    change to the input in tanh's pre-activation space; ``directed`` predicts one change map per condition
    entry and adds ``Σ_k (c_k − s_k) · Δ_k(x)`` for the target ``c`` and the face's own condition ``s`` (which
    the network also reads). Asking for the face's own condition is then exactly the identity, and "older"
    and "younger" requests pull the same maps in consistent directions, which is what lets a small model
    learn the edit in a few hundred CPU steps (docs/conditional.md).
    """

    def __init__(self, config: ConditionalGeneratorConfig, condition_dim: int) -> None:
        super().__init__()
        self.config = config
        self.condition_dim = condition_dim
        self.tiled = config.conditioning in ("tile", "both")
        self.directed = config.output == "directed"
        # A directed generator reads both the target and the face's own condition.
        read_dim = condition_dim * (2 if self.directed else 1)
        film_dim = read_dim if config.conditioning in ("film", "both") else 0
        width = config.channels
        in_channels = 3 + (read_dim if self.tiled else 0)
        # Tiled condition channels are constant, so after a reflection pad and instance norm nothing of them
        # would be left (measured: the output moved by 2e-6 when the condition changed); StarGAN's zero
        # padding lets them through at the borders, which is what the stem uses when tiling.
        self.stem = nn.Sequential(
            make_pad("zeros" if self.tiled else config.padding, 3),
            nn.Conv2d(in_channels, width, 7),
            make_norm("instance", width),
            nn.ReLU(True),
        )
        down = []
        for i in range(config.num_downsamples):
            channels = width * 2**i
            down.append(
                nn.Sequential(
                    nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1),
                    make_norm("instance", channels * 2),
                    nn.ReLU(True),
                )
            )
        self.down = nn.Sequential(*down)
        inner = width * 2**config.num_downsamples
        self.blocks = nn.ModuleList(
            [FiLMResidualBlock(inner, film_dim, config.padding) for _ in range(config.num_res_blocks)]
        )
        up = []
        for i in range(config.num_downsamples, 0, -1):
            channels = width * 2**i
            if config.upsample == "transpose":
                resample: list[nn.Module] = [
                    nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1)
                ]
            else:
                mode = "bilinear" if config.upsample == "bilinear" else "nearest"
                resample = [
                    nn.Upsample(scale_factor=2, mode=mode),
                    make_pad(config.padding, 1),
                    nn.Conv2d(channels, channels // 2, 3),
                ]
            up.append(nn.Sequential(*resample, make_norm("instance", channels // 2), nn.ReLU(True)))
        self.up = nn.Sequential(*up)
        self.residual = config.output in ("residual", "directed")
        out_channels = 3 * condition_dim if self.directed else 3
        head: list[nn.Module] = [make_pad(config.padding, 3), nn.Conv2d(width, out_channels, 7)]
        self.head = nn.Sequential(*head) if self.residual else nn.Sequential(*head, nn.Tanh())

    def forward(
        self, images: torch.Tensor, condition: torch.Tensor, source_condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``G(x, c)``; directed generators also need the face's own condition ``source_condition``."""
        source = images
        read = condition
        if self.directed:
            if source_condition is None:
                raise ValueError("a directed generator needs the face's own condition (source_condition)")
            read = torch.cat([condition, source_condition], dim=1)
        if self.tiled and read.shape[1]:
            tiles = read[:, :, None, None].expand(-1, -1, *images.shape[-2:]).to(images.dtype)
            images = torch.cat([images, tiles], dim=1)
        features = self.down(self.stem(images))
        for block in self.blocks:
            features = block(features, read)
        change = self.head(self.up(features))
        if self.directed:
            assert source_condition is not None
            maps = change.unflatten(1, (self.condition_dim, 3))
            weights = (condition - source_condition).to(maps.dtype)[:, :, None, None, None]
            change = (weights * maps).sum(dim=1)
        if self.residual:
            # The network predicts what the edit changes, in tanh's pre-activation space: a small output is
            # the input itself, so the face, background and detail need not be redrawn from scratch.
            return torch.tanh(torch.atanh(source.clamp(-RESIDUAL_LIMIT, RESIDUAL_LIMIT)) + change)
        return change


class ConditionalDiscriminator(nn.Module):
    """Real/fake patch logits plus auxiliary outputs: one age value and the logits of every attribute.

    ``forward(images, condition=None)`` returns ``(patch_logits (B, 1, h, w), auxiliary (B, aux_dim))``; the
    auxiliary head pools the features over space, so it works at every stage size of a progressive schedule.
    With ``config.projection`` and a condition, the patch logits gain ``⟨W c, φ(x)⟩`` at every location (the
    projection discriminator, Miyato & Koyama 2018): the critic then judges "a real face *of this age and
    hair colour*", not only "a real face".
    """

    def __init__(self, config: ConditionalDiscriminatorConfig, aux_dim: int) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.Conv2d(3, config.channels, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        channels = config.channels
        for _ in range(1, config.num_layers):
            layers += [nn.Conv2d(channels, channels * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            channels *= 2
        self.features = nn.Sequential(*layers)
        self.patch = nn.Conv2d(channels, 1, 3, padding=1, bias=False)
        self.auxiliary = nn.Linear(channels, aux_dim) if aux_dim else None
        self.projection = nn.Linear(aux_dim, channels, bias=False) if config.projection and aux_dim else None

    def forward(
        self, images: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        patch = self.patch(features)
        if self.projection is not None and condition is not None:
            embedded = self.projection(condition.to(features.dtype))[:, :, None, None]
            patch = patch + (embedded * features).sum(dim=1, keepdim=True)
        if self.auxiliary is None:
            return patch, features.new_zeros(features.shape[0], 0)
        return patch, self.auxiliary(features.mean(dim=(2, 3)))
