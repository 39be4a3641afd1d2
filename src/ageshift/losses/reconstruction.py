"""Reconstruction losses of CycleGAN (Zhu et al. 2017): cycle consistency and identity, both L1."""

from __future__ import annotations

import torch


def weighted_l1(target: torch.Tensor, prediction: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight`` × mean absolute difference, computed in float32 even under autocast."""
    return weight * (prediction.float() - target.float()).abs().mean()


def cycle_loss(original: torch.Tensor, reconstructed: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """Weighted L1 between an image and its round trip ``F(G(x))`` (paper eq. 2, λ = ``weight``).

    Args:
        original: ``(B, 3, H, W)`` RGB in ``[-1, 1]``.
        reconstructed: the same images after both generators, same shape.
        weight: ``cycle_weight`` (10 in the paper).

    Returns:
        Scalar float32 loss.
    """
    return weighted_l1(original, reconstructed, weight)


def identity_loss(original: torch.Tensor, mapped: torch.Tensor, weight: float = 5.0) -> torch.Tensor:
    """Weighted L1 between a target-domain image and the generator's output on it, ``‖G(y) − y‖₁``.

    Keeps colours and content when the input already belongs to the output domain (paper section 5.2;
    weight = ``identity_fraction`` × ``cycle_weight``, 0.5 × 10 there).

    Args:
        original: ``(B, 3, H, W)`` RGB in ``[-1, 1]``, an image of the generator's output domain.
        mapped: the generator's output for it, same shape.
        weight: absolute weight of this term.

    Returns:
        Scalar float32 loss.
    """
    return weighted_l1(original, mapped, weight)
