"""Pixel-level similarity for cycle consistency (A→B→A): L1, PSNR and SSIM, per image, in torch.

All functions take ``(B, 3, H, W)`` RGB float tensors in ``[-1, 1]`` and compare them on the ``[0, 1]``
scale, the one PSNR and SSIM are usually quoted on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import AgeshiftError
from ..image import check_batch

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
#: SSIM's stabilising constants (K1 = 0.01, K2 = 0.03) for a data range of 1.
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def _pair(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    check_batch(first, "first")
    check_batch(second, "second")
    if first.shape != second.shape:
        raise AgeshiftError(
            f"images to compare must share a shape, got {tuple(first.shape)} and {tuple(second.shape)}"
        )
    return (first.double() + 1.0) / 2.0, (second.double() + 1.0) / 2.0


def l1_error(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference on the ``[0, 1]`` scale.

    Args:
        first: ``(B, 3, H, W)`` in ``[-1, 1]``.
        second: same shape.

    Returns:
        ``(B,)`` float64.
    """
    first, second = _pair(first, second)
    return (first - second).abs().mean(dim=(1, 2, 3))


def psnr(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for a peak of 1 (``inf`` for identical images).

    Args:
        first: ``(B, 3, H, W)`` in ``[-1, 1]``.
        second: same shape.

    Returns:
        ``(B,)`` float64.
    """
    first, second = _pair(first, second)
    mse = (first - second).pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(1.0 / mse)


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    coordinates = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    weights = torch.exp(-(coordinates**2) / (2 * sigma**2))
    return weights / weights.sum()


def ssim(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004): 11-tap Gaussian window, σ 1.5, K1 0.01, K2 0.03.

    Computed per channel over the valid region (no padding) and averaged, like scikit-image's
    ``structural_similarity(..., gaussian_weights=True, use_sample_covariance=False)``.

    Args:
        first: ``(B, 3, H, W)`` in ``[-1, 1]``, at least 11 pixels on each side.
        second: same shape.

    Returns:
        ``(B,)`` float64 in ``[-1, 1]`` (1 for identical images).
    """
    first, second = _pair(first, second)
    if min(first.shape[-2:]) < SSIM_WINDOW:
        raise AgeshiftError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(first.shape[-2:])}"
        )
    channels = first.shape[1]
    line = _gaussian_window(SSIM_WINDOW, SSIM_SIGMA)
    kernel = (line[:, None] * line[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW)

    def blur(values: torch.Tensor) -> torch.Tensor:
        return F.conv2d(values, kernel, groups=channels)

    mean_first, mean_second = blur(first), blur(second)
    variance_first = blur(first * first) - mean_first**2
    variance_second = blur(second * second) - mean_second**2
    covariance = blur(first * second) - mean_first * mean_second
    numerator = (2 * mean_first * mean_second + SSIM_C1) * (2 * covariance + SSIM_C2)
    denominator = (mean_first**2 + mean_second**2 + SSIM_C1) * (variance_first + variance_second + SSIM_C2)
    return (numerator / denominator).mean(dim=(1, 2, 3))
