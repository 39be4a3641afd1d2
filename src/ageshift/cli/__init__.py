"""Command-line interface: ``ageshift COMMAND``. Each module registers its commands on the shared app."""

from __future__ import annotations

import sys

from rich.console import Console

from ..errors import AgeshiftError
from ._app import app, prepare_app

# Importing a module registers its commands.
from . import demo, evaluate, faces, install, latent, prepare, serve, train, translate  # noqa: E402,F401  isort: skip


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ageshift`` console script: user errors become one clear line, exit code 2."""
    try:
        app(args=argv, standalone_mode=True)
    except AgeshiftError as error:
        Console(stderr=True).print(
            f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)


__all__ = ["app", "main", "prepare_app"]
