"""Adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data"), written from the paper.

Every image the discriminator sees, real or generated, passes through the same random, differentiable
augmentations, each applied to a sample with probability ``p``. Because the generator's images are augmented
too, and every augmentation is applied with ``p < 1``, the augmentations do not "leak" into the generated
distribution. ``p`` is tuned during training from the overfitting heuristic ``r_t = E[sign(D(real))]``: above
the target (0.6) the discriminator is too sure of the training images and ``p`` rises, below it ``p`` falls.

Implemented: x-flip, 90° rotations, integer translation (±1/8 of the side), isotropic scale (log₂-normal,
σ = 0.2), arbitrary rotation, brightness, contrast and saturation: the paper's "bgc" pipeline less the
anisotropic scale, fractional translation, luma flip and hue rotation. Geometric ones are composed into one
affine map per sample and applied with one bilinear ``grid_sample`` (reflection padding), so an image
that no transform touches comes back bit for bit.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def adjust_p(p: float, r_t: float, images: float, target: float, speed_images: float) -> float:
    """One ADA update: ``p ± images / speed_images`` towards making ``r_t`` equal ``target``, kept in [0, 1].

    Args:
        p: the current probability.
        r_t: ``E[sign(D(real))]`` over the last interval.
        images: real images the discriminator saw in that interval.
        target: the heuristic's target (0.6 in the paper).
        speed_images: images it takes ``p`` to go from 0 to 1 (500k in the paper).
    """
    step = math.copysign(images / speed_images, r_t - target) if r_t != target else 0.0
    return min(max(p + step, 0.0), 1.0)


def _applied(mask: torch.Tensor, value: torch.Tensor, identity: float) -> torch.Tensor:
    return torch.where(mask, value, torch.full_like(value, identity))


def augment(images: torch.Tensor, p: float) -> torch.Tensor:
    """Augment a batch: each transform applied to each sample with probability ``p`` (differentiable).

    Args:
        images: ``(B, 3, H, W)`` in ``[-1, 1]`` (values may leave the range: colour transforms are unclamped,
            as in the paper).
        p: probability per transform and sample.

    Returns:
        ``(B, 3, H, W)``.
    """
    if p <= 0:
        return images
    batch, device = images.shape[0], images.device

    def chosen() -> torch.Tensor:
        return torch.rand(batch, device=device) < p

    # Geometric: a (B, 2, 3) affine map of output coordinates to input coordinates in [-1, 1].
    matrix = torch.eye(3, device=device).repeat(batch, 1, 1)

    def then(transform: torch.Tensor) -> None:
        nonlocal matrix
        matrix = matrix @ transform

    flip = _applied(chosen(), 1.0 - 2.0 * torch.randint(2, (batch,), device=device).float(), 1.0)
    then(_scale(flip, torch.ones_like(flip)))
    quarter = _applied(chosen(), torch.randint(4, (batch,), device=device).float(), 0.0)
    then(_rotate(quarter * (math.pi / 2)))
    # Whole pixels: 2 / side per pixel in normalised coordinates.
    side = images.shape[-1]
    shift = torch.round((torch.rand(batch, 2, device=device) * 2 - 1) * 0.125 * side) * (2.0 / side)
    shift = torch.where(chosen().unsqueeze(1), shift, torch.zeros_like(shift))
    then(_translate(shift[:, 0], shift[:, 1]))
    scale = _applied(chosen(), torch.exp2(torch.randn(batch, device=device) * 0.2), 1.0)
    then(_scale(scale, scale))
    angle = _applied(chosen(), (torch.rand(batch, device=device) * 2 - 1) * math.pi, 0.0)
    then(_rotate(angle))
    moved = (matrix - torch.eye(3, device=device)).abs().flatten(1).amax(dim=1) > 1e-7
    if bool(moved.any()):
        grid = F.affine_grid(matrix[:, :2].to(images.dtype), list(images.shape), align_corners=False)
        warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        images = torch.where(moved.reshape(-1, 1, 1, 1), warped, images)

    # Colour: brightness (add), contrast (scale about mid-grey 0), saturation (scale about the grey axis).
    brightness = _applied(chosen(), torch.randn(batch, device=device) * 0.2, 0.0)
    contrast = _applied(chosen(), torch.exp2(torch.randn(batch, device=device) * 0.5), 1.0)
    saturation = _applied(chosen(), torch.exp2(torch.randn(batch, device=device) * 1.0), 1.0)
    shape = (-1, 1, 1, 1)
    images = images + brightness.reshape(shape).to(images.dtype)
    images = images * contrast.reshape(shape).to(images.dtype)
    grey = images.mean(dim=1, keepdim=True)
    return grey + (images - grey) * saturation.reshape(shape).to(images.dtype)


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    matrix = torch.eye(3, device=sx.device).repeat(sx.shape[0], 1, 1)
    matrix[:, 0, 0], matrix[:, 1, 1] = sx, sy
    return matrix


def _rotate(angle: torch.Tensor) -> torch.Tensor:
    matrix = torch.eye(3, device=angle.device).repeat(angle.shape[0], 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1] = cos, -sin, sin, cos
    return matrix


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    matrix = torch.eye(3, device=tx.device).repeat(tx.shape[0], 1, 1)
    matrix[:, 0, 2], matrix[:, 1, 2] = tx, ty
    return matrix


class AdaptiveAugment(nn.Module):
    """ADA's state: ``p`` and the running sum of ``sign(D(real))`` over the current interval (buffers, so
    they are saved with the weights and a resumed run continues exactly)."""

    p: torch.Tensor
    sign_sum: torch.Tensor
    sign_count: torch.Tensor
    last_r_t: torch.Tensor

    def __init__(self, mode: str, p: float, target: float, interval: int, speed_images: float) -> None:
        super().__init__()
        self.mode = mode
        self.target = target
        self.interval = interval
        self.speed_images = speed_images
        self.register_buffer("p", torch.tensor(float(p if mode != "none" else 0.0), dtype=torch.float64))
        self.register_buffer("sign_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("sign_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("last_r_t", torch.zeros((), dtype=torch.float64))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return augment(images, float(self.p))

    @torch.no_grad()
    def observe(self, real_logits: torch.Tensor) -> None:
        """Accumulate ``sign(D(real))`` of one discriminator step (in every mode: ``r_t`` is logged even when
        it does not steer ``p``, so runs without ADA show how far their discriminator overfits)."""
        self.sign_sum += real_logits.detach().sign().sum().double().cpu().to(self.sign_sum.device)
        self.sign_count += real_logits.numel()

    @torch.no_grad()
    def update(self, step: int) -> None:
        """After step ``step`` (0-based): every ``interval`` steps, measure ``r_t``, move ``p`` (ADA only) and
        start a new interval."""
        if (step + 1) % self.interval or float(self.sign_count) == 0:
            return
        r_t = float(self.sign_sum / self.sign_count)
        if self.mode == "ada":
            self.p.fill_(adjust_p(float(self.p), r_t, float(self.sign_count), self.target, self.speed_images))
        self.last_r_t.fill_(r_t)
        self.sign_sum.zero_()
        self.sign_count.zero_()
