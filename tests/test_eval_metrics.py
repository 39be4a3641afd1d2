"""Image metrics (L1, PSNR, SSIM) and FID/KID: known values, symmetry, unbiasedness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ageshift.errors import AgeshiftError
from ageshift.evaluation import fid, image_metrics


def test_identical_images_give_infinite_psnr_and_unit_ssim() -> None:
    images = torch.rand(2, 3, 24, 24) * 2 - 1
    assert torch.isinf(image_metrics.psnr(images, images)).all()
    assert torch.allclose(image_metrics.ssim(images, images), torch.ones(2, dtype=torch.float64))
    assert torch.equal(image_metrics.l1_error(images, images), torch.zeros(2, dtype=torch.float64))


def test_psnr_and_l1_of_a_known_offset() -> None:
    # A constant offset of 0.1 on the [0, 1] scale is 0.2 on [-1, 1]: MSE 0.01 → 20 dB, L1 0.1.
    first = torch.full((1, 3, 16, 16), -0.5)
    second = first + 0.2
    assert image_metrics.psnr(first, second).item() == pytest.approx(20.0, abs=1e-6)
    assert image_metrics.l1_error(first, second).item() == pytest.approx(0.1, abs=1e-6)


def test_psnr_of_gaussian_noise_matches_its_level() -> None:
    generator = torch.Generator().manual_seed(0)
    clean = torch.zeros(1, 3, 128, 128)
    sigma = 0.05  # on the [0, 1] scale
    noisy = clean + 2 * sigma * torch.randn(clean.shape, generator=generator)
    expected = 10 * math.log10(1 / sigma**2)  # 26.02 dB
    assert image_metrics.psnr(clean, noisy).item() == pytest.approx(expected, abs=0.1)


def test_ssim_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    generator = torch.Generator().manual_seed(1)
    first = torch.rand(1, 3, 40, 48, generator=generator) * 2 - 1
    second = (first + 0.3 * torch.randn(first.shape, generator=generator)).clamp(-1, 1)
    reference = metrics.structural_similarity(
        ((first[0].permute(1, 2, 0).numpy() + 1) / 2).astype(np.float64),
        ((second[0].permute(1, 2, 0).numpy() + 1) / 2).astype(np.float64),
        channel_axis=2,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    value = image_metrics.ssim(first, second).item()
    assert value == pytest.approx(reference, abs=1e-6)
    assert value < 0.9


def test_metrics_refuse_mismatched_shapes() -> None:
    with pytest.raises(AgeshiftError, match="share a shape"):
        image_metrics.psnr(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 17))
    with pytest.raises(AgeshiftError, match="at least 11"):
        image_metrics.ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians() -> None:
    first_variance, second_variance = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    first_mean, second_mean = np.zeros(3), np.array([1.0, 0.0, 2.0])
    expected = 5.0 + np.sum(first_variance + second_variance - 2 * np.sqrt(first_variance * second_variance))
    value = fid.frechet_distance(first_mean, np.diag(first_variance), second_mean, np.diag(second_variance))
    assert value == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric() -> None:
    generator = np.random.default_rng(0)
    first = generator.normal(size=(40, 16))
    second = generator.normal(loc=0.5, scale=1.5, size=(50, 16)) @ generator.normal(size=(16, 16))
    assert abs(fid.fid_from_features(first, first)) < 1e-6
    forward, backward = fid.fid_from_features(first, second), fid.fid_from_features(second, first)
    assert forward > 1.0
    assert forward == pytest.approx(backward, rel=1e-8)


def test_kid_is_unbiased_on_one_distribution_and_positive_on_two() -> None:
    generator = np.random.default_rng(0)
    same = [
        fid.kid_from_features(generator.normal(size=(60, 8)), generator.normal(size=(60, 8)), subsets=20)[0]
        for _ in range(10)
    ]
    # Unbiased: the estimates scatter around zero (some negative) instead of sitting above it.
    assert abs(np.mean(same)) < 0.02
    assert min(same) < 0 < max(same)
    different = fid.kid_from_features(
        generator.normal(size=(60, 8)), generator.normal(loc=1.0, size=(60, 8)), subsets=20
    )[0]
    assert different > 0.3


def test_fid_needs_two_rows() -> None:
    with pytest.raises(AgeshiftError, match="at least 2"):
        fid.fid_from_features(np.zeros((1, 4)), np.zeros((3, 4)))


def test_inception_features_of_real_images() -> None:
    """The packaged TF-Inception network: 2048-d features, FID(X, X) = 0, X vs noise > 0."""
    try:
        features = fid.InceptionFeatures(batch_size=8)
    except AgeshiftError as error:
        pytest.skip(str(error))
    generator = torch.Generator().manual_seed(0)
    # Four images only: the network costs ~6 GFLOP per image on a shared 2-core CPU.
    smooth = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 4, generator=generator) * 2 - 1, size=32)
    noise = torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1
    both = features(torch.cat([smooth, noise]))
    assert both.shape == (4, 2048)
    smooth_features, noise_features = both[:2], both[2:]
    assert abs(fid.fid_from_features(smooth_features, smooth_features)) < 1e-3
    assert fid.fid_from_features(smooth_features, noise_features) > 10.0
    assert fid.FID_NAME == "fid_inception_bilinear299"


def test_custom_feature_weights_and_missing_file(tmp_path) -> None:
    network = torch.jit.script(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten()))
    path = tmp_path / "tiny.pt"
    network.save(str(path))
    features = fid.InceptionFeatures(weights=path)(torch.full((2, 3, 8, 8), -1.0))
    assert features.shape == (2, 12)
    # Black in [-1, 1] is uint8 0, which the network sees as (0 - 128) / 128 = -1.
    assert np.allclose(features, -1.0)
    with pytest.raises(AgeshiftError, match="not found"):
        fid.InceptionFeatures(weights=tmp_path / "missing.pt")
