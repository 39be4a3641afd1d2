"""Command-line interface: ``ageshift COMMAND``. Each module registers its commands on the shared app."""

from __future__ import annotations

import re
import sys

from ..errors import AgeshiftError
from ._app import app, prepare_app

# Importing a module registers its commands.
from . import demo, evaluate, faces, generate, install, latent, prepare, serve, train, translate, upscale  # noqa: E402,F401  isort: skip
from . import onnx  # noqa: E402,F401  isort: skip
from . import distill  # noqa: E402,F401  isort: skip
from . import stylize  # noqa: E402,F401  isort: skip
from . import makeup  # noqa: E402,F401  isort: skip


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ageshift`` console script: user errors become one clear line, never a traceback.

    Exit codes: 0 done; 1 done, but some inputs were skipped (each listed on stderr); 2 nothing done: bad
    input, options or output paths; 130/143 interrupted (Ctrl-C / SIGTERM).
    """
    from ..outputs import EXIT_ERROR
    from ._console import say

    try:
        app(args=argv, standalone_mode=True)
    except AgeshiftError as error:
        code = getattr(error, "exit_code", EXIT_ERROR)
        # The message holds paths: printed literally, never as console markup; always on one line (a wrapped
        # library message, e.g. torch's, is joined) so scripts and logs get one line per error.
        say(
            re.sub(r"\s*\n\s*", " ", str(error)).strip(),
            "bold red" if code == EXIT_ERROR else "bold yellow",
            label="error: " if code == EXIT_ERROR else "warning: ",
        )
        sys.exit(code)
    except OSError as error:
        # A file-system failure no check caught up front (disk full, a folder removed meanwhile): one line.
        where = f"{error.filename}: " if error.filename else ""
        say(f"{where}{error.strerror or error}", "bold red", label="error: ")
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        say("interrupted", "yellow")
        sys.exit(130)


__all__ = ["app", "main", "prepare_app"]
