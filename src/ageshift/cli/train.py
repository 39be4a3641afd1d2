"""ageshift CLI: train commands."""

from ._app import app, prepare_app  # noqa: F401
