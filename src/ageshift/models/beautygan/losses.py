"""BeautyGAN's makeup loss (Li et al., ACM MM 2018, eq. 6): histogram matching per facial region.

The paper matches the histogram of each region of the output to the reference's and takes an L2 distance to
the remapped image. We use the exact 1-D form of that remapping: per channel, the output region's sorted
values are pulled towards the reference region's values at the same quantiles (the 1-D optimal transport map),
so the loss is the Wasserstein-1 distance between the two colour distributions. It is zero for identical
regions, shrinks as one distribution moves towards the other, and its gradient flows to the output only.
"""

from __future__ import annotations

import torch

from ...errors import AgeshiftError

#: Regions with fewer pixels than this in either image are skipped (a closed mouth, a crop without eyes).
MIN_REGION_PIXELS = 8


def _quantiles(values: torch.Tensor, count: int) -> torch.Tensor:
    """``values`` (sorted, ``(C, N)``) resampled at ``count`` evenly spaced quantiles, linearly interpolated."""
    size = values.shape[-1]
    if size == count:
        return values
    positions = torch.linspace(0, size - 1, count, device=values.device, dtype=values.dtype)
    low = positions.floor().long()
    high = (low + 1).clamp(max=size - 1)
    weight = positions - low.to(values.dtype)
    return values[:, low] * (1 - weight) + values[:, high] * weight


def histogram_distance(
    output: torch.Tensor, reference: torch.Tensor, output_mask: torch.Tensor, reference_mask: torch.Tensor
) -> torch.Tensor:
    """Wasserstein-1 distance between one region's colours in ``output`` and in ``reference``.

    Args:
        output: ``(3, H, W)`` image in ``[-1, 1]`` (gradients flow here).
        reference: ``(3, H', W')`` image in ``[-1, 1]`` (treated as a constant).
        output_mask, reference_mask: ``(H, W)`` / ``(H', W')`` masks; pixels above 0.5 are in the region.

    Returns:
        A scalar: the mean over channels of the mean absolute difference between matched quantiles
        (``0`` when the region is too small in either image).
    """
    if output.dim() != 3 or reference.dim() != 3:
        raise AgeshiftError(
            f"expected (3, H, W) images, got {tuple(output.shape)} and {tuple(reference.shape)}"
        )
    inside = output[:, output_mask > 0.5]
    target = reference.detach()[:, reference_mask > 0.5]
    if inside.shape[1] < MIN_REGION_PIXELS or target.shape[1] < MIN_REGION_PIXELS:
        return output.sum() * 0.0
    sorted_output = inside.sort(dim=1).values
    matched = _quantiles(target.sort(dim=1).values, sorted_output.shape[1])
    return (sorted_output - matched).abs().mean()


def makeup_loss(
    output: torch.Tensor,
    reference: torch.Tensor,
    output_masks: torch.Tensor,
    reference_masks: torch.Tensor,
    weights: tuple[float, ...] = (1.0, 1.0, 0.1),
) -> torch.Tensor:
    """The makeup loss of a batch: weighted per-region histogram distances, averaged over the batch.

    Args:
        output: ``(B, 3, H, W)`` transferred images in ``[-1, 1]``.
        reference: ``(B, 3, H, W)`` makeup references.
        output_masks, reference_masks: ``(B, R, H, W)`` region masks in :data:`ageshift.faces.regions.REGIONS`
            order (lips, eyes, skin).
        weights: one weight per region (the paper: lips 1, eyes 1, face 0.1).

    Returns:
        A scalar.
    """
    if output_masks.shape[1] != len(weights) or reference_masks.shape[1] != len(weights):
        raise AgeshiftError(
            f"expected {len(weights)} region masks, got {output_masks.shape[1]} and {reference_masks.shape[1]}"
        )
    total = output.new_zeros(())
    for index in range(output.shape[0]):
        for region, weight in enumerate(weights):
            if weight:
                total = total + weight * histogram_distance(
                    output[index],
                    reference[index],
                    output_masks[index, region],
                    reference_masks[index, region],
                )
    return total / output.shape[0]
