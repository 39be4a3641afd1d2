"""StyleGAN2's networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN").

Written from the paper. The generator is a mapping network ``z → w`` and a synthesis network that starts from
a learned 4×4 constant and, per resolution, runs two modulated 3×3 convolutions (each followed by a per-pixel
noise input and a bias) and adds a toRGB output to the upsampled image of the resolution before ("skip"
generator). The discriminator is residual: per resolution two 3×3 convolutions and a 1×1 shortcut, halved in
size, then minibatch standard deviation and two fully connected layers at 4×4.

Every weight is stored as ``N(0, 1)`` and scaled at run time by He's constant (equalised learning rate,
Karras et al. 2018), so Adam's per-parameter step sizes mean the same thing in every layer. Up- and
downsampling (``config.resample``) are the paper's separable [1, 3, 3, 1] FIR filter (``fir``, the GPU preset) or
bilinear interpolation and 2×2 average pooling (``bilinear``, the CPU presets: cheaper, and at 32² hardly
different). Unlike the paper the upsampling convolution is not fused with the filter: the features are upsampled,
then convolved.

Images are ``(B, 3, S, S)`` RGB in ``[-1, 1]`` (the generator's output is not clamped while training).
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .config import StyleGANConfig

#: LeakyReLU slope and the gain that restores unit variance after it (√2, as for ReLU).
SLOPE = 0.2
ACTIVATION_GAIN = math.sqrt(2.0)
NOISE_MODES = ("random", "const", "none")


#: The paper's low-pass taps; their outer product, normalised to sum 1, is the 2-D filter.
FIR_TAPS = (1.0, 3.0, 3.0, 1.0)


def _fir_kernel(x: torch.Tensor, gain: float) -> torch.Tensor:
    """The depthwise ``(C, 1, 4, 4)`` [1, 3, 3, 1] ⊗ [1, 3, 3, 1] filter for ``x``'s channels, summing to ``gain``."""
    taps = torch.tensor(FIR_TAPS, dtype=x.dtype, device=x.device)
    kernel = torch.outer(taps, taps)
    kernel = kernel * (gain / kernel.sum())
    return kernel.expand(x.shape[1], 1, 4, 4)


def upsample2x(x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, C, 2H, 2W)``: bilinear, or (``fir``) zero insertion then the FIR low-pass with gain
    4, so a constant stays constant away from the border (one transposed depthwise convolution)."""
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return F.conv_transpose2d(x, _fir_kernel(x, 4.0), stride=2, padding=1, groups=x.shape[1])


def downsample2x(x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, C, H/2, W/2)``: 2×2 average pooling, or (``fir``) the FIR low-pass then every other
    pixel, which removes what would alias (the taps' response is 0 at the Nyquist frequency)."""
    if mode == "bilinear":
        return F.avg_pool2d(x, 2)
    return F.conv2d(F.pad(x, (1, 1, 1, 1)), _fir_kernel(x, 1.0), stride=2, groups=x.shape[1])


def leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, SLOPE) * ACTIVATION_GAIN


class EqualLinear(nn.Module):
    """A fully connected layer with equalised learning rate: ``y = (x · W·c + b·lr) `` with ``c = lr/√in``.

    ``lr_multiplier`` < 1 makes the layer learn that much slower (the mapping network's 0.01).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.lr_multiplier = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_multiplier)
        return leaky(y) if self.activation else y


class EqualConv2d(nn.Module):
    """A convolution with equalised learning rate, optional bias and LeakyReLU, optional 2× downsampling after."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        bias: bool = True,
        activation: bool = True,
        downsample: bool = False,
        resample: str = "bilinear",
    ) -> None:
        super().__init__()
        self.resample = resample
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.padding = kernel // 2
        self.activation = activation
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)
        if self.downsample:
            y = downsample2x(y, self.resample)
        return leaky(y) if self.activation else y


def modulated_conv2d(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True, padding: int = 1
) -> torch.Tensor:
    """StyleGAN2's modulated convolution (paper eq. 1–3), as one grouped convolution over the batch.

    Each sample's weights are scaled per input channel by its style, ``w'_ijk = s_i · w_ijk``, then (with
    ``demodulate``) divided by ``σ_j = sqrt(Σ_ik w'_ijk² + ε)``: for inputs of unit variance every output
    channel has unit variance again, which replaces AdaIN's normalisation of the activations themselves.

    Args:
        x: ``(B, I, H, W)`` features.
        weight: ``(O, I, k, k)`` already scaled by the equalised-LR gain.
        styles: ``(B, I)`` per-sample scales of the input channels.
        demodulate: normalise each output channel's weights (off for toRGB).
        padding: convolution padding.

    Returns:
        ``(B, O, H, W)``.
    """
    batch, in_channels, height, width = x.shape
    out_channels = weight.shape[0]
    weights = weight.unsqueeze(0) * styles.reshape(batch, 1, in_channels, 1, 1)
    if demodulate:
        weights = weights * torch.rsqrt(weights.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    y = F.conv2d(
        x.reshape(1, batch * in_channels, height, width),
        weights.reshape(batch * out_channels, in_channels, *weight.shape[2:]),
        padding=padding,
        groups=batch,
    )
    return y.reshape(batch, out_channels, *y.shape[2:])


class ModulatedConv2d(nn.Module):
    """A modulated convolution with its affine map ``w → styles`` (bias 1: styles start near 1)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        w_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        resample: str = "bilinear",
    ) -> None:
        super().__init__()
        self.resample = resample
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = upsample2x(x, self.resample)
        styles = self.affine(w)
        return modulated_conv2d(x, self.weight * self.weight_gain, styles, self.demodulate, self.padding)


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution, then ``+ strength · noise`` (one map per pixel, learned strength), bias, LReLU."""

    noise_const: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        upsample: bool,
        resample: str = "bilinear",
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, upsample=upsample, resample=resample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.resolution = resolution
        # Fixed noise for reproducible rendering (inference, projection's start): drawn once at build time.
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | str = "random") -> torch.Tensor:
        x = self.conv(x, w)
        if isinstance(noise, torch.Tensor):
            x = x + noise * self.noise_strength
        elif noise == "random":
            x = (
                x
                + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
                * self.noise_strength
            )
        elif noise == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return leaky(x + self.bias.reshape(1, -1, 1, 1).to(x.dtype))


class ToRGB(nn.Module):
    """A modulated 1×1 convolution to RGB, without demodulation (the output's scale is the image's)."""

    def __init__(self, in_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.reshape(1, -1, 1, 1).to(x.dtype)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: (the 4×4 constant or) upsampling conv, conv, toRGB."""

    def __init__(self, config: StyleGANConfig, resolution: int) -> None:
        super().__init__()
        channels = config.channels(resolution)
        self.resolution = resolution
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(channels, 4, 4))
            self.layers = nn.ModuleList([SynthesisLayer(channels, channels, config.w_dim, 4, False)])
        else:
            previous = config.channels(resolution // 2)
            self.layers = nn.ModuleList(
                [
                    SynthesisLayer(previous, channels, config.w_dim, resolution, True, config.resample),
                    SynthesisLayer(channels, channels, config.w_dim, resolution, False),
                ]
            )
        self.to_rgb = ToRGB(channels, config.w_dim)
        self.resample = config.resample

    def forward(
        self,
        x: torch.Tensor | None,
        image: torch.Tensor | None,
        ws: torch.Tensor,
        noise: list[torch.Tensor | str],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``ws``: ``(B, len(layers) + 1, w_dim)``, the last one for toRGB; ``noise`` one entry per layer."""
        if x is None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        for index, layer in enumerate(self.layers):
            x = layer(x, ws[:, index], noise[index])
        rgb = self.to_rgb(x, ws[:, len(self.layers)])
        if image is not None:
            rgb = rgb + upsample2x(image, self.resample)
        return x, rgb


class SynthesisNetwork(nn.Module):
    """``ws (B, num_ws, w_dim) → (B, 3, S, S)``: block ``k`` reads ``ws`` from its first layer's index on,
    its toRGB sharing the index of the next block's first convolution (so ``num_ws = 2 · blocks``)."""

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(SynthesisBlock(config, r) for r in config.resolutions)
        self.num_ws = config.num_ws
        self.w_dim = config.w_dim

    def layers(self) -> list[SynthesisLayer]:
        """Every noise-taking layer, in order (the order of :meth:`forward`'s ``noise`` list)."""
        return [cast(SynthesisLayer, layer) for block in self.block_list() for layer in block.layers]

    def block_list(self) -> list[SynthesisBlock]:
        """The blocks from 4×4 up."""
        return [cast(SynthesisBlock, block) for block in self.blocks]

    def forward(self, ws: torch.Tensor, noise: str | list[torch.Tensor] = "random") -> torch.Tensor:
        """Render ``ws``; ``noise`` is a mode (``random``, ``const``, ``none``) or one map per layer."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        layers = self.layers()
        noises: list[torch.Tensor | str] = (
            list(noise) if not isinstance(noise, str) else [noise] * len(layers)
        )
        if len(noises) != len(layers):
            raise ValueError(f"noise must list {len(layers)} maps, got {len(noises)}")
        x = image = None
        first, taken = 0, 0
        for block in self.block_list():
            count = len(block.layers)
            x, image = block(x, image, ws[:, first : first + count + 1], noises[taken : taken + count])
            first += count
            taken += count
        assert image is not None
        return image


class MappingNetwork(nn.Module):
    """``z → w``: normalise ``z`` to unit second moment, then ``mapping_layers`` LReLU layers at 0.01× LR.

    Keeps ``w_avg``, the running mean of ``w`` during training: the centre of the truncation trick.
    """

    w_avg: torch.Tensor

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        sizes = [config.latent_dim] + [config.w_dim] * config.mapping_layers
        self.layers = nn.Sequential(
            *(
                EqualLinear(a, b, lr_multiplier=config.mapping_lr_multiplier, activation=True)
                for a, b in zip(sizes[:-1], sizes[1:], strict=True)
            )
        )
        self.register_buffer("w_avg", torch.zeros(config.w_dim))
        self.num_ws = config.num_ws
        self.w_avg_beta = config.w_avg_beta

    def forward(
        self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        """``(B, latent_dim) → (B, num_ws, w_dim)``; ``ψ < 1`` pulls the first ``cutoff`` (all) ws to ``w_avg``."""
        z = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        w = self.layers(z)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1.0:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws

    @torch.no_grad()
    def track_w_avg(self, ws: torch.Tensor) -> None:
        """Move ``w_avg`` towards the batch's mean ``w`` (training only)."""
        self.w_avg.copy_(ws[:, 0].detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))


class Generator(nn.Module):
    """Mapping and synthesis networks: ``z (B, latent_dim) → (B, 3, S, S)``."""

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)
        self.latent_dim = config.latent_dim
        self.w_dim = config.w_dim
        self.num_ws = config.num_ws

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        noise: str | None = None,
    ) -> torch.Tensor:
        """Draw images; ``labels`` is accepted for :class:`~ageshift.models.generator.ImageGenerator` and must be
        ``None``. Noise defaults to fresh draws while training and the fixed maps in eval mode."""
        if labels is not None:
            raise ValueError("a StyleGAN generator is unconditional: it takes no labels")
        mode = noise or ("random" if self.training else "const")
        return self.synthesis(self.mapping(z, truncation_psi), mode)


def mix_styles(
    mapping: MappingNetwork, z: torch.Tensor, z_other: torch.Tensor, cutoffs: torch.Tensor
) -> torch.Tensor:
    """Style mixing: per sample, ``ws`` of ``z`` before layer ``cutoffs[i]`` and of ``z_other`` from it on.

    Args:
        mapping: the mapping network.
        z, z_other: ``(B, latent_dim)``.
        cutoffs: ``(B,)`` integer layer indices in ``[1, num_ws]`` (``num_ws``: no mixing).

    Returns:
        ``(B, num_ws, w_dim)``.
    """
    ws = mapping(z)
    other = mapping(z_other)
    layer = torch.arange(ws.shape[1], device=ws.device).unsqueeze(0)
    use_other = (layer >= cutoffs.to(ws.device).unsqueeze(1)).unsqueeze(2)
    return torch.where(use_other, other, ws)


def minibatch_stddev(x: torch.Tensor, group_size: int, channels: int) -> torch.Tensor:
    """Append the mean standard deviation of each feature over groups of samples (Karras et al. 2018).

    A discriminator seeing it can tell a batch of near-identical fakes from real variety (mode collapse).
    The group is the largest divisor of the batch not above ``group_size``.
    """
    batch, features, height, width = x.shape
    group = max(g for g in range(1, min(group_size, batch) + 1) if batch % g == 0)
    y = x.float().reshape(group, -1, channels, features // channels, height, width)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()
    y = y.mean(dim=(2, 3, 4)).reshape(-1, channels, 1, 1).repeat(group, 1, height, width)
    return torch.cat([x, y.to(x.dtype)], dim=1)


class DiscriminatorBlock(nn.Module):
    """Residual block: two 3×3 convolutions (the second halving the size) plus a 1×1 halved shortcut, /√2."""

    def __init__(self, in_channels: int, out_channels: int, resample: str = "bilinear") -> None:
        super().__init__()
        self.resample = resample
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, downsample=True, resample=resample)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activation=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.skip(downsample2x(x, self.resample))
        return (shortcut + self.conv1(self.conv0(x))) / math.sqrt(2.0)


class Discriminator(nn.Module):
    """``(B, 3, S, S) → (B,)`` logits: fromRGB, residual blocks down to 4×4, minibatch std, conv, two FC layers."""

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        top = config.image_size
        self.image_size = top
        self.from_rgb = EqualConv2d(3, config.channels(top), 1)
        self.blocks = nn.Sequential(
            *(
                DiscriminatorBlock(config.channels(r), config.channels(r // 2), config.resample)
                for r in reversed(config.resolutions[1:])
            )
        )
        channels = config.channels(4)
        if channels % config.mbstd_channels:
            raise ValueError(
                f"4×4 channels {channels} not divisible by mbstd_channels {config.mbstd_channels}"
            )
        self.mbstd = (config.mbstd_group, config.mbstd_channels)
        self.conv = EqualConv2d(channels + config.mbstd_channels, channels, 3)
        self.fc = EqualLinear(channels * 16, channels, activation=True)
        self.out = EqualLinear(channels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.from_rgb(images))
        x = self.conv(minibatch_stddev(x, *self.mbstd))
        return self.out(self.fc(x.flatten(1))).squeeze(1)
