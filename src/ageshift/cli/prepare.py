"""ageshift CLI: prepare commands."""

from ._app import app, prepare_app  # noqa: F401
