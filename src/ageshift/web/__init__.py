"""A local web page over the face pipeline: ``ageshift serve --model MODEL`` (needs ``ageshift[web]``).

``process`` is the page's whole behaviour as a plain function; ``build_app`` wraps it in Gradio.
"""

from __future__ import annotations

from .app import ServeSettings, build_app, launch, serve
from .pipeline import FACE_TABLE_COLUMNS, ProcessResult, process

__all__ = ["FACE_TABLE_COLUMNS", "ProcessResult", "ServeSettings", "build_app", "launch", "process", "serve"]
