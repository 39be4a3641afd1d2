"""Adversarial objectives as plain functions of discriminator logits: ``lsgan``, ``nonsaturating``, ``hinge``.

Each objective has a generator side (how the generator wants its fakes judged) and a discriminator side
(real judged real, fake judged fake). Logits are any shape, e.g. PatchGAN maps ``(B, 1, h, w)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import ConfigError

#: Names accepted by :func:`generator_loss` and :func:`discriminator_loss`.
GAN_LOSSES = ("lsgan", "nonsaturating", "hinge", "wgan")


def _check_kind(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ConfigError(f"unknown GAN loss {kind!r}; choose one of {', '.join(GAN_LOSSES)}")


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss for discriminator logits on its fakes.

    Args:
        kind: ``"lsgan"`` (Mao et al. 2017: ``(D(G(x)) - 1)^2``), ``"nonsaturating"`` (Goodfellow et al. 2014:
            ``softplus(-D(G(x)))``), ``"hinge"`` (Lim & Ye 2017: ``-D(G(x))``) or ``"wgan"`` (Arjovsky et al.
            2017: ``-D(G(x))``; pair it with :func:`gradient_penalty`).
        fake_logits: discriminator output on generated images, any shape.

    Returns:
        Scalar float32 loss (the mean over all patches and images).
    """
    _check_kind(kind)
    logits = fake_logits.float()
    if kind == "lsgan":
        return (logits - 1.0).square().mean()
    if kind == "nonsaturating":
        return F.softplus(-logits).mean()
    return -logits.mean()


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss: real images judged real, generated images judged fake.

    Args:
        kind: ``"lsgan"``, ``"nonsaturating"``, ``"hinge"`` or ``"wgan"`` (see :func:`generator_loss`).
        real_logits: discriminator output on real images, any shape.
        fake_logits: discriminator output on (detached) generated images, any shape.

    Returns:
        Scalar float32 loss. For ``lsgan`` and ``nonsaturating`` it is halved, as in CycleGAN, so the
        discriminator learns more slowly than the generator.
    """
    _check_kind(kind)
    real, fake = real_logits.float(), fake_logits.float()
    if kind == "lsgan":
        return 0.5 * ((real - 1.0).square().mean() + fake.square().mean())
    if kind == "nonsaturating":
        return 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())
    if kind == "wgan":
        return fake.mean() - real.mean()
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3): ``E[(||∇D(x̂)||₂ - 1)²]`` at ``x̂`` between real and fake.

    Args:
        critic: maps ``(B, 3, H, W)`` images to logits of any shape (summed per image before the gradient).
        real: ``(B, 3, H, W)`` real images.
        fake: ``(B, 3, H, W)`` generated images (detached).
        generator: source of the mixing weights (a CPU generator, so resumed runs replay it).

    Returns:
        Scalar float32 penalty (multiply by the penalty weight, 10 in the paper).
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator).to(real.device, real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    logits = critic(mixed)
    (gradients,) = torch.autograd.grad(logits.float().sum(), mixed, create_graph=True)
    norms = gradients.float().flatten(1).norm(2, dim=1)
    return (norms - 1.0).square().mean()
