"""Reusable layers and blocks."""

from .layers import ResidualBlock, init_weights, make_norm

__all__ = ["ResidualBlock", "init_weights", "make_norm"]
