"""Printing for every command: paths and other user text appear literally (a file called ``[x].png`` keeps
its brackets, which rich would read as markup), one message per line, on stderr unless asked otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from ..outputs import InputsSkipped


def say(message: object, style: str | None = None, *, err: bool = True, label: str = "") -> None:
    """Print ``message`` literally (no markup, no highlighting, no wrapping), after a styled ``label``."""
    text = Text()
    if label:
        text.append(label, style=style or "")
        text.append(str(message))
    else:
        text.append(str(message), style=style or "")
    Console(stderr=err).print(text, highlight=False, soft_wrap=True)


def cell(value: object, style: str | None = None) -> Text:
    """A table cell shown literally."""
    return Text(str(value), style=style or "")


def report_skipped(problems: Sequence[str], total: int, written: str) -> None:
    """List each skipped input on stderr, then stop with exit code 1 when any was skipped.

    Args:
        problems: one line per skipped input, naming it.
        total: the number of inputs.
        written: what was written, e.g. ``"wrote 3 image(s) to out"``.

    Raises:
        InputsSkipped: when ``problems`` is not empty (the CLI prints it and exits 1).
    """
    for problem in problems:
        say(problem, "yellow", label="skipped: ")
    if problems:
        raise InputsSkipped(len(problems), total, problems[0], written)
