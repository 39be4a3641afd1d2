"""Is it older, is it the same person, does it look real? Metrics and the evaluation report.

Modules: :mod:`.age` (packaged age/gender estimator, its PyTorch port), :mod:`.identity` (dlib face
descriptor distance), :mod:`.fid` (FID/KID), :mod:`.image_metrics` (L1/PSNR/SSIM), :mod:`.age_regressor`
(our own trainable age estimator), :mod:`.runner` (``evaluate_model``: chooses by the model's
``ConditionSpec``), :mod:`.conditional` (target vs achieved age and attributes of conditional models, and
the identity judges), :mod:`.report` (``write_report``, ``report_html``). The names below are imported
lazily, so ``import ageshift.evaluation`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "evaluate_model": "runner",
    "evaluate_conditional": "conditional",
    "load_labelled_split": "conditional",
    "default_target_ages": "conditional",
    "identity_judge": "conditional",
    "attribute_judge": "conditional",
    "write_report": "report",
    "report_html": "report",
    "PackagedAgeEstimator": "age",
    "TorchAgeEstimator": "age",
    "create_age_estimator": "age",
    "estimate_faces": "age",
    "identity_distances": "identity",
    "fid_from_features": "fid",
    "kid_from_features": "fid",
    "InceptionFeatures": "fid",
    "psnr": "image_metrics",
    "ssim": "image_metrics",
    "l1_error": "image_metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ageshift.evaluation' has no attribute {name!r}")


__all__ = list(_LAZY)
