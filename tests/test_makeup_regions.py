"""Makeup foundations: region masks from 68 landmarks, the histogram-matching loss, synthetic made-up faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ageshift.data.synthetic_makeup import (
    Makeup,
    delta_e,
    makeup_identity,
    random_makeup,
    region_colours,
    render_made_up_face,
    synthetic_landmarks,
)
from ageshift.errors import AgeshiftError
from ageshift.faces.regions import REGIONS, crop_landmarks, region_masks
from ageshift.models.beautygan.losses import histogram_distance, makeup_loss


def _known_landmarks() -> np.ndarray:
    """A hand-made frontal face on a 100-pixel canvas: every region's area is known within rounding."""
    points = np.zeros((68, 2))
    angles = np.linspace(np.pi, 0, 17)
    points[0:17] = np.stack(
        [50 + 40 * np.cos(angles), 40 + 50 * np.sin(angles)], -1
    )  # jaw: lower half-ellipse
    for start, centre in ((17, 30), (22, 70)):
        points[start : start + 5] = np.stack([np.linspace(centre - 10, centre + 10, 5), np.full(5, 28)], -1)
    points[27:36] = [[50, 40 + i * 4] for i in range(4)] + [[44 + 3 * i, 56] for i in range(5)]
    square = np.array([[-6, 0], [-3, -3], [3, -3], [6, 0], [3, 3], [-3, 3]], float)
    points[36:42], points[42:48] = square + [30, 40], square + [70, 40]
    points[48:60] = np.array([[40, 70], [43, 66], [46, 66], [50, 66], [54, 66], [57, 66], [60, 70],
                              [57, 74], [54, 74], [50, 74], [46, 74], [43, 74]], float)  # fmt: skip
    points[60:68] = np.array([[42, 70], [46, 69], [50, 69], [54, 69], [58, 70], [54, 71], [50, 71], [46, 71]])
    return points


def test_region_masks_areas_and_no_overlap() -> None:
    masks = region_masks(_known_landmarks(), 100)
    areas = masks.areas()
    # Outer lips: a 20x8 hexagon-ish polygon (~140 px) minus a thin inner mouth (~30 px).
    assert 80 < areas["lips"] < 160
    # Two rings grown 1.9x around 12x6 eyes: (1.9^2 - 1) x ~54 px each, less what the brows cover.
    assert 150 < areas["eyes"] < 400
    # The face: a half-ellipse of pi*40*50/2 ≈ 3140 px plus the forehead strip from the jaw's top (y=40) to a
    # quarter of the brow-to-chin gap above the brows (y≈12.5), ~1500 px, less eyes, rings, brows and nose-free lips.
    assert 3500 < areas["skin"] < 5000
    stacked = masks.stack()
    assert stacked.shape == (3, 100, 100)
    assert not (masks.lips & masks.skin).any()
    assert stacked.sum(0).max() == 1.0  # no pixel in two regions
    assert masks.skin[50, 20] and masks.lips[67, 50] and not masks.lips[70, 50]  # inner mouth excluded
    assert masks.eyes[40, 22] and not masks.eyes[40, 30]  # the ring, not the eye itself


def test_region_masks_reject_bad_landmarks() -> None:
    with pytest.raises(AgeshiftError, match=r"\(68, 2\)"):
        region_masks(np.zeros((5, 2)), 64)
    bad = _known_landmarks()
    bad[3, 0] = np.nan
    with pytest.raises(AgeshiftError, match="finite"):
        region_masks(bad, 64)


def test_crop_landmarks_follow_the_alignment_matrix() -> None:
    matrix = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, 4.0]])
    mapped = crop_landmarks(_known_landmarks(), matrix)
    assert np.allclose(mapped[0], _known_landmarks()[0] * 0.5 + [-10, 4])


def _region_image(colour: tuple[float, float, float], noise: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.tensor(colour).view(3, 1, 1) + noise * torch.randn(3, 16, 16, generator=generator)


def test_histogram_loss_zero_for_identical_regions_and_decreasing() -> None:
    mask = torch.zeros(16, 16)
    mask[4:12, 4:12] = 1
    reference = _region_image((0.6, -0.4, -0.2), 0.1, 0)
    assert float(histogram_distance(reference.clone(), reference, mask, mask)) == 0.0
    start = _region_image((-0.5, 0.3, 0.4), 0.05, 1)
    distances = [
        float(histogram_distance(start + t * (reference - start), reference, mask, mask))
        for t in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert all(a > b for a, b in zip(distances, distances[1:], strict=False)), distances
    assert distances[-1] < 1e-6
    # Only the masked pixels count: changing the outside changes nothing.
    outside = reference.clone()
    outside[:, :2] = 5.0
    assert float(histogram_distance(outside, reference, mask, mask)) == 0.0


def test_makeup_loss_gradient_moves_output_towards_reference() -> None:
    masks = torch.zeros(1, 3, 16, 16)
    masks[0, 0, 2:6, 2:14] = 1
    masks[0, 1, 8:12, 2:14] = 1
    masks[0, 2, 13:16] = 1
    reference = _region_image((0.8, -0.6, -0.3), 0.05, 2)[None]
    output = _region_image((0.0, 0.0, 0.0), 0.05, 3)[None].requires_grad_()
    before = float(makeup_loss(output, reference, masks, masks).detach())
    optimiser = torch.optim.Adam([output], lr=0.05)
    for _ in range(40):
        optimiser.zero_grad()
        makeup_loss(output, reference, masks, masks).backward()
        optimiser.step()
    assert float(makeup_loss(output, reference, masks, masks).detach()) < 0.2 * before
    with pytest.raises(AgeshiftError, match="region masks"):
        makeup_loss(output, reference, masks[:, :2], masks)


def test_synthetic_makeup_is_measurable() -> None:
    rng = np.random.default_rng(5)
    lip_changes, eye_changes = [], []
    for _ in range(6):
        identity, makeup = makeup_identity(rng), random_makeup(rng)
        bare, points = render_made_up_face(identity, Makeup(), 96)
        made, same_points = render_made_up_face(identity, makeup, 96)
        assert np.array_equal(points, same_points) and points.shape == (68, 2)
        before, after = region_colours(bare, points), region_colours(made, points)
        assert set(after) == set(REGIONS)
        lip_changes.append(delta_e(before["lips"], after["lips"]))
        eye_changes.append(delta_e(before["eyes"], after["eyes"]))
        # Everything outside the painted regions (and the blush on the cheeks) is untouched.
        changed = np.abs(np.asarray(bare, int) - np.asarray(made, int)).sum(-1) > 0
        assert changed.mean() < 0.2
    assert min(lip_changes) > 3 and np.median(lip_changes) > 15
    assert min(eye_changes) > 5 and np.median(eye_changes) > 10


def test_measured_colour_tracks_the_painted_colour() -> None:
    rng = np.random.default_rng(9)
    identity = makeup_identity(rng)
    red, _ = render_made_up_face(identity, Makeup(lips=(200, 20, 40)), 96)
    blue, points = render_made_up_face(identity, Makeup(lips=(40, 40, 200)), 96)
    red_lab, blue_lab = region_colours(red, points)["lips"], region_colours(blue, points)["lips"]
    assert red_lab[1] > blue_lab[1] + 15  # a*: red is redder
    assert blue_lab[2] < red_lab[2] - 15  # b*: blue is bluer
    assert (
        synthetic_landmarks(identity, 96)[8, 1] > synthetic_landmarks(identity, 96)[30, 1]
    )  # chin below nose


def test_makeup_generator_returns_both_images() -> None:
    from ageshift.models.beautygan import MakeupGenerator, PatchDiscriminator
    from ageshift.models.cyclegan import DiscriminatorConfig

    torch.manual_seed(0)
    generator = MakeupGenerator(channels=8, num_res_blocks=1)
    source, reference = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    made_up, removed = generator(source, reference)
    assert made_up.shape == removed.shape == source.shape
    assert made_up.abs().max() <= 1 and removed.abs().max() <= 1
    (made_up.mean() + removed.mean()).backward()
    assert all(p.grad is not None for p in generator.encode_reference.parameters())
    assert PatchDiscriminator(DiscriminatorConfig(channels=8, num_layers=2))(made_up).dim() == 4
