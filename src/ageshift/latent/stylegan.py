"""An ageshift StyleGAN (``--family stylegan``) as a :class:`~ageshift.latent.generator.LatentGenerator`.

Two latent spaces: ``w`` (one ``w_dim`` vector shared by every layer; directions and ridge fits work as in the
DCGAN's z) and ``w+`` (one vector per layer, flattened to ``num_ws · w_dim``: projections reconstruct better,
edits are less constrained). Latents are sampled through the mapping network with the truncation trick.

Projection follows StyleGAN2's projector (Karras et al. 2020, §5): start at ``w_avg``, optimise the latent
and every per-layer noise map with Adam, a ramped learning rate and decaying latent noise, and the noise
regulariser (the squared autocorrelation of every noise map at shifts of one pixel, over a pyramid of
scales), which stops the noise maps from copying the target. The feature loss is pluggable (the paper uses
VGG16 LPIPS, which is not available offline).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import ConfigError, ModelLoadError
from ..image import check_batch, resize
from ..models.stylegan.networks import Generator
from .projection import FeatureExtractor, ProjectionConfig, ProjectionResult, _adam, _psnr

SPACES = ("w", "w+")


class StyleGANLatentGenerator:
    """A frozen StyleGAN generator behind the latent interface, in W or W+.

    Args:
        network: the generator (an exported model's ``networks["generator"]``).
        space: ``"w"`` or ``"w+"``.
        truncation_psi: ψ of the truncation trick for sampled latents (1: none).
        name: recorded in directions fitted with it.
        noise: fixed per-layer noise maps ``(1, 1, r, r)`` (a projection's); ``None``: the network's own.
    """

    def __init__(
        self,
        network: Generator,
        space: str = "w",
        truncation_psi: float = 1.0,
        name: str = "stylegan",
        noise: list[torch.Tensor] | None = None,
    ) -> None:
        if space not in SPACES:
            raise ConfigError(f"latent space {space!r} is not one of {', '.join(SPACES)}")
        self.network = network.eval()
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)
        self.space = space
        self.truncation_psi = float(truncation_psi)
        self.name = f"{name}-{space}"
        self.num_ws, self.w_dim = network.num_ws, network.w_dim
        self.latent_dim = self.w_dim if space == "w" else self.num_ws * self.w_dim
        self.image_size = network.config.image_size
        self.noise = noise

    def sample_latents(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` latents: ``z ~ N(0, I)`` through the mapping network and truncation.

        Returns:
            ``(count, latent_dim)`` float32.
        """
        z = torch.randn(count, self.network.latent_dim, generator=generator)
        with torch.no_grad():
            ws = self.network.mapping(z, self.truncation_psi)
        return ws[:, 0].clone() if self.space == "w" else ws.flatten(1)

    def to_ws(self, latents: torch.Tensor) -> torch.Tensor:
        """``(B, latent_dim)`` → ``(B, num_ws, w_dim)``."""
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim:
            raise ModelLoadError(
                f"{self.name}: latents must have shape (B, {self.latent_dim}), got {tuple(latents.shape)}"
            )
        if self.space == "w":
            return latents.float().unsqueeze(1).expand(-1, self.num_ws, -1)
        return latents.float().reshape(-1, self.num_ws, self.w_dim)

    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        """Render latents with fixed noise (differentiable in ``latents``).

        Returns:
            ``(B, 3, image_size, image_size)`` RGB float32 in ``[-1, 1]``.
        """
        ws = self.to_ws(latents)
        noise: str | list[torch.Tensor] = "const"
        if self.noise is not None:
            noise = [n.expand(ws.shape[0], -1, -1, -1) for n in self.noise]
        return self.network.synthesis(ws, noise).clamp(-1, 1)

    def with_noise(self, noise: list[torch.Tensor]) -> StyleGANLatentGenerator:
        """The same generator rendering with ``noise`` (one ``(1, 1, r, r)`` map per layer)."""
        copy = StyleGANLatentGenerator(self.network, self.space, self.truncation_psi, "x", noise)
        copy.name = self.name
        return copy

    def project(
        self,
        targets: torch.Tensor,
        config: ProjectionConfig,
        feature_extractor: FeatureExtractor | None = None,
        progress: bool = True,
    ) -> ProjectionResult:
        """StyleGAN2's projector (see the module docstring); ``config.restarts`` is ignored (one start, w_avg).

        Returns:
            A :class:`ProjectionResult` whose ``noise`` holds each target's optimised maps.
        """
        return project_stylegan(self, targets, config, feature_extractor, progress)


#: StyleGAN2 projector constants: initial latent noise (× the spread of w), its ramp, and the LR ramps.
NOISE_START = 0.05
NOISE_RAMP = 0.75
LR_RAMP_DOWN = 0.25
LR_RAMP_UP = 0.05
#: the noise regulariser's weight (1e5 in the paper, where image losses are LPIPS distances ~0.1–1).
NOISE_REGULARISATION = 1e3


def noise_regularisation(noise: list[torch.Tensor]) -> torch.Tensor:
    """``Σ_scales (mean(n · roll_x(n))² + mean(n · roll_y(n))²)`` per sample: 0 for white noise.

    Args:
        noise: maps ``(B, 1, r, r)``.

    Returns:
        ``(B,)``.
    """
    total = torch.zeros(noise[0].shape[0], device=noise[0].device)
    for maps in noise:
        while True:
            total = total + (maps * torch.roll(maps, 1, dims=3)).mean(dim=(1, 2, 3)).square()
            total = total + (maps * torch.roll(maps, 1, dims=2)).mean(dim=(1, 2, 3)).square()
            if maps.shape[-1] <= 8:
                break
            maps = F.avg_pool2d(maps, 2)
    return total


def project_stylegan(
    generator: StyleGANLatentGenerator,
    targets: torch.Tensor,
    config: ProjectionConfig,
    feature_extractor: FeatureExtractor | None = None,
    progress: bool = True,
) -> ProjectionResult:
    """Project ``(B, 3, H, W)`` targets in ``[-1, 1]`` into ``generator``'s space (W or W+) and noise maps."""
    if config.steps < 1:
        raise ConfigError(f"projection needs steps ≥ 1, got {config.steps}")
    network = generator.network
    targets = resize(check_batch(targets, "projection targets").float(), generator.image_size)
    count = targets.shape[0]
    seeded = torch.Generator().manual_seed(config.seed)
    with torch.no_grad():
        sampled = network.mapping(torch.randn(2000, network.latent_dim, generator=seeded))[:, 0]
    w_avg, w_std = sampled.mean(dim=0), float(sampled.std(dim=0).square().sum().sqrt())
    start = w_avg.expand(count, -1) if generator.space == "w" else w_avg.repeat(count, generator.num_ws)
    latents = start.clone().contiguous().requires_grad_(True)
    layers = network.synthesis.layers()
    noise = [torch.randn(count, 1, layer.resolution, layer.resolution, generator=seeded) for layer in layers]
    parameters = [latents, *(n.requires_grad_(True) for n in noise)]
    steps = [_adam(parameter, config.learning_rate) for parameter in parameters]
    target_features = None
    if feature_extractor is not None and config.feature_weight > 0:
        with torch.no_grad():
            target_features = feature_extractor(targets)

    def losses(images: torch.Tensor) -> torch.Tensor:
        difference = images - targets
        loss = config.l1_weight * difference.abs().mean(dim=(1, 2, 3))
        loss = loss + config.l2_weight * difference.square().mean(dim=(1, 2, 3))
        if target_features is not None:
            assert feature_extractor is not None
            loss = loss + config.feature_weight * (
                feature_extractor(images) - target_features
            ).square().flatten(1).mean(dim=1)
        return loss

    history: list[float] = []
    initial = None
    for step in tqdm(range(config.steps), desc="projecting", disable=not progress, unit="step"):
        t = step / config.steps
        # The projector's schedule: latent noise decaying to 0 by 75 %; LR ramped up, then cosine down.
        strength = w_std * NOISE_START * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
        ramp = min(1.0, (1.0 - t) / LR_RAMP_DOWN)
        ramp = (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / LR_RAMP_UP) if step else 0.0
        rate = config.learning_rate * max(ramp, 0.02)
        jitter = torch.randn(latents.shape, generator=seeded) * strength
        images = network.synthesis(generator.to_ws(latents + jitter), noise)
        image_loss = losses(images)
        if initial is None:
            initial = image_loss.detach().clone()
        history.append(float(image_loss.detach().mean()))
        loss = image_loss + NOISE_REGULARISATION * noise_regularisation(noise)
        for parameter in parameters:
            parameter.grad = None
        loss.sum().backward()
        for update in steps:
            update(rate)
        with torch.no_grad():  # keep the maps white: zero mean, unit variance (as the projector does)
            for maps in noise:
                maps.sub_(maps.mean(dim=(2, 3), keepdim=True)).div_(maps.std(dim=(2, 3), keepdim=True))
    with torch.no_grad():
        final_noise = [n.detach().clone() for n in noise]
        images = network.synthesis(generator.to_ws(latents), final_noise).clamp(-1, 1)
        final = losses(images)
    assert initial is not None
    return ProjectionResult(
        latents=latents.detach().clone(),
        reconstructions=images,
        psnr=_psnr(images, targets),
        initial_loss=float(initial.mean()),
        final_loss=float(final.mean()),
        loss_history=history,
        noise=final_noise,
    )


def load_stylegan_latent(
    path: str | Path, space: str = "w", truncation_psi: float = 1.0
) -> StyleGANLatentGenerator:
    """An exported ``stylegan`` model folder as a latent generator.

    Raises:
        ModelLoadError: the folder holds another family's model.
    """
    import ageshift

    model = ageshift.load(str(path))
    network = model.networks.get("generator")
    if model.family != "stylegan" or not isinstance(network, Generator):
        raise ModelLoadError(f"{path}: a {model.family} model, not a stylegan generator")
    return StyleGANLatentGenerator(network, space, truncation_psi, name=f"stylegan:{Path(path).name}")
