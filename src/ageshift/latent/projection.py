"""Project images into a generator's latent space (GAN inversion by optimisation), and real photos too.

Each target starts from several random latents; Adam minimises pixel L1 + L2, an optional feature loss
from a frozen network, and a prior term that keeps the latent on the shell where N(0, I) samples live
(without it the optimiser drifts to latents the generator renders as artefacts). The best candidate per
target is kept. At 64×64 with a 100-d DCGAN the reconstruction is limited: PSNR is reported, not hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..faces import create_detector
from ..faces.align import AlignedFace, AlignmentSpec, align_face
from ..image import center_crop_square, check_batch, pil_to_tensor, resize, resize_pil
from .generator import DCGAN64_TEMPLATE, LatentGenerator

#: Maps ``(B, 3, H, W)`` images in ``[-1, 1]`` to a feature tensor ``(B, …)``; must be differentiable.
FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class ProjectionConfig:
    """Settings of latent projection.

    Attributes:
        steps: Adam steps.
        learning_rate: Adam step size.
        restarts: random starting latents per target (all optimised together, the best kept).
        l1_weight: weight of the mean absolute pixel error.
        l2_weight: weight of the mean squared pixel error.
        feature_weight: weight of the squared feature difference (when a feature extractor is given).
        prior_weight: weight of ``(|z|² / d − 1)²``, which keeps latents at the typical N(0, I) radius.
        seed: seed of the starting latents.
    """

    steps: int = 200
    learning_rate: float = 0.05
    restarts: int = 4
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    feature_weight: float = 0.1
    prior_weight: float = 0.05
    seed: int = 0


@dataclass
class ProjectionResult:
    """Latents found for a batch of targets and how well they reconstruct them."""

    latents: torch.Tensor  # (B, latent_dim)
    reconstructions: torch.Tensor  # (B, 3, H, W) in [-1, 1]
    psnr: np.ndarray  # (B,) dB against the target at the generator's resolution
    initial_loss: float  # mean loss of the chosen candidates at step 0
    final_loss: float  # mean loss of the chosen candidates after the last step
    loss_history: list[float] = field(default_factory=list)  # mean loss over all candidates per step
    #: per-layer noise maps ``(B, 1, r, r)`` a StyleGAN projection optimised with the latents (else None).
    noise: list[torch.Tensor] | None = None


def projection_loss(
    images: torch.Tensor,
    targets: torch.Tensor,
    latents: torch.Tensor,
    config: ProjectionConfig,
    feature_extractor: FeatureExtractor | None = None,
    target_features: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample projection loss.

    Args:
        images: ``(N, 3, H, W)`` rendered images.
        targets: ``(N, 3, H, W)`` targets.
        latents: ``(N, latent_dim)`` the latents that rendered ``images``.
        config: the loss weights.
        feature_extractor: optional frozen network.
        target_features: its features of ``targets`` (computed once by the caller).

    Returns:
        ``(N,)`` losses.
    """
    difference = images - targets
    loss = config.l1_weight * difference.abs().mean(dim=(1, 2, 3))
    loss = loss + config.l2_weight * difference.pow(2).mean(dim=(1, 2, 3))
    if feature_extractor is not None and target_features is not None and config.feature_weight > 0:
        features = feature_extractor(images)
        loss = loss + config.feature_weight * (features - target_features).pow(2).flatten(1).mean(dim=1)
    radius = latents.pow(2).mean(dim=1)
    return loss + config.prior_weight * (radius - 1.0).pow(2)


def project_images(
    generator: LatentGenerator,
    targets: torch.Tensor,
    config: ProjectionConfig | None = None,
    feature_extractor: FeatureExtractor | None = None,
    progress: bool = True,
) -> ProjectionResult:
    """Find latents whose images match the targets.

    Args:
        generator: the latent generator (frozen).
        targets: ``(B, 3, H, W)`` RGB in ``[-1, 1]``, aligned like the generator's images; resized to its
            resolution.
        config: projection settings.
        feature_extractor: optional frozen, differentiable feature network for a perceptual term.
        progress: show a progress bar.

    Returns:
        The best latent per target, its rendering, PSNR, and the loss before and after optimisation.
    """
    config = config or ProjectionConfig()
    own = getattr(generator, "project", None)
    if own is not None:  # a generator with its own projector (StyleGAN: W/W+ and noise maps)
        return own(targets, config, feature_extractor, progress)
    if config.steps < 1 or config.restarts < 1:
        raise ConfigError(
            f"projection needs steps ≥ 1 and restarts ≥ 1, got {config.steps}, {config.restarts}"
        )
    targets = resize(check_batch(targets, "projection targets").float(), generator.image_size)
    count, restarts = targets.shape[0], config.restarts
    expanded = targets.repeat_interleave(restarts, dim=0)
    target_features = None
    if feature_extractor is not None:
        with torch.no_grad():
            target_features = feature_extractor(expanded)
    start = generator.sample_latents(count * restarts, torch.Generator().manual_seed(config.seed))
    latents = start.clone().requires_grad_(True)
    step = _adam(latents, config.learning_rate)
    history: list[float] = []
    initial = None
    for _ in tqdm(range(config.steps), desc="projecting", disable=not progress, unit="step"):
        losses = projection_loss(
            generator.synthesize(latents), expanded, latents, config, feature_extractor, target_features
        )
        if initial is None:
            initial = losses.detach().clone()
        history.append(float(losses.detach().mean()))
        latents.grad = None
        losses.sum().backward()
        step()
    with torch.no_grad():
        images = generator.synthesize(latents)
        losses = projection_loss(images, expanded, latents, config, feature_extractor, target_features)
        best = losses.view(count, restarts).argmin(dim=1) + torch.arange(count) * restarts
        chosen_images = images[best]
        psnr = _psnr(chosen_images, targets)
    assert initial is not None
    return ProjectionResult(
        latents=latents.detach()[best],
        reconstructions=chosen_images,
        psnr=psnr,
        initial_loss=float(initial[best].mean()),
        final_loss=float(losses[best].mean()),
        loss_history=history,
    )


def _adam(
    parameter: torch.Tensor,
    learning_rate: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> Callable[..., None]:
    """A minimal Adam (Kingma & Ba 2015, Algorithm 1) for one tensor; returns its step function, which
    takes an optional learning rate for this step (a schedule).

    Written out because ``torch.optim`` imports ``torch._dynamo`` on first use, which costs tens of seconds
    on a busy CPU machine, longer than a whole small projection.
    """
    first = torch.zeros_like(parameter)
    second = torch.zeros_like(parameter)
    count = [0]

    def step(rate: float | None = None) -> None:
        with torch.no_grad():
            count[0] += 1
            gradient = parameter.grad
            assert gradient is not None, "step() runs after backward() has set the gradient"
            first.mul_(betas[0]).add_(gradient, alpha=1 - betas[0])
            second.mul_(betas[1]).addcmul_(gradient, gradient, value=1 - betas[1])
            corrected_first = first / (1 - betas[0] ** count[0])
            corrected_second = second / (1 - betas[1] ** count[0])
            parameter.sub_(
                (learning_rate if rate is None else rate) * corrected_first / (corrected_second.sqrt() + eps)
            )

    return step


def _psnr(images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """PSNR in dB of ``[-1, 1]`` images, on the 0–1 scale (peak 1)."""
    mse = ((images - targets) / 2.0).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return (10.0 * torch.log10(1.0 / mse)).cpu().numpy().astype(np.float64)


def packaged_age_features() -> FeatureExtractor:
    """The differentiable packaged age network (``ageshift.evaluation.age``) as a feature extractor.

    Its 81-way age distribution is the feature, so the projection keeps the apparent age of the target.

    Returns:
        A function ``(B, 3, H, W)`` in ``[-1, 1]`` → ``(B, 81)`` class probabilities (×10, to weigh like pixels).
    """
    from ..evaluation.age import TorchAgeEstimator

    estimator = TorchAgeEstimator().eval()
    for parameter in estimator.parameters():
        parameter.requires_grad_(False)

    def features(images: torch.Tensor) -> torch.Tensor:
        chips = resize(images, 64)
        pixels = (chips + 1.0) * 127.5
        # Probabilities are small numbers spread over 81 classes: scale so their differences count.
        return 10.0 * estimator.network((pixels - estimator.means) / 256.0)

    return features


def align_for_generator(
    photo: Image.Image, size: int, detector: str = "mtcnn"
) -> tuple[torch.Tensor, AlignedFace | None]:
    """Cut the largest face of a photo the way the packaged DCGAN frames its faces (template ``"dcgan64"``,
    no padding), or the largest centred square when no face is found.

    Args:
        photo: RGB photo.
        size: the generator's image side.
        detector: face detector name (``ageshift.faces.create_detector``).

    Returns:
        ``((1, 3, size, size) target RGB in [-1, 1], AlignedFace or None)``; ``None`` means no face was
        found and the centred square was used.
    """
    detections = create_detector(detector).detect(photo)
    if not detections:
        return pil_to_tensor(resize_pil(center_crop_square(photo), size)).unsqueeze(0), None
    aligned = align_face(photo, detections[0], AlignmentSpec(template="dcgan64", size=size))
    return pil_to_tensor(aligned.crop).unsqueeze(0), aligned


__all__ = [
    "DCGAN64_TEMPLATE",
    "FeatureExtractor",
    "ProjectionConfig",
    "ProjectionResult",
    "align_for_generator",
    "packaged_age_features",
    "project_images",
    "projection_loss",
]
