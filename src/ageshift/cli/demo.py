"""ageshift CLI: demo commands."""

from ._app import app, prepare_app  # noqa: F401
