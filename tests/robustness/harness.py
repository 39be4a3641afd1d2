"""Run one CLI command in-process and classify what happened, the way a user would judge it.

Outcomes (the five classes of the robustness issue):
- ``clear error``: refused with exit 2 (or 1 when only some inputs were skipped) and one ``error:`` line;
- ``correct``: exit 0 and the expected outputs exist and are readable;
- ``traceback``: an exception escaped, ``Traceback`` was printed, or an error came without its one line;
- ``silent wrong``: the exit code or the outputs disagree with what the case expects (a bad input taken as
  good, a good input refused, outputs missing after exit 0, skipped inputs with exit 0);
- ``data loss``: an input file changed or disappeared.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import traceback
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("clear error", "correct", "traceback", "silent wrong", "data loss")
GOOD = ("clear error", "correct")
#: Exit codes: 0 everything done, 1 finished but some inputs were skipped, 2 refused (nothing done).
EXIT_OK, EXIT_PARTIAL, EXIT_REFUSED = 0, 1, 2


@dataclass
class Outcome:
    """What one run did: its class, exit code and the lines a user saw on stderr."""

    category: str
    exit_code: int | None
    detail: str = ""
    stderr: str = ""
    stdout: str = ""


@dataclass
class Expect:
    """What a case should do: ``ok``, ``partial`` or ``error``, the outputs it must write, and names whose
    ``[...]`` parts must survive wherever they are printed."""

    result: str
    outputs: list[Path] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)  # text that must never appear (e.g. a pickle's)
    reason: str = ""  # an error must name this (so a case is refused for its own fault, not another one)


def snapshot(paths: list[Path]) -> dict[Path, str]:
    """sha256 of every file under ``paths`` (files or folders)."""
    digests = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digests[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def invoke(argv: list[str]) -> tuple[int | None, str, str, str]:
    """Run ``ageshift ARGV`` in-process: (exit code, stdout, stderr, escaped-exception text)."""
    from ageshift.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: int | None = 0
    escaped = ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(arg) for arg in argv])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:  # noqa: BLE001  anything else is what the suite is looking for
            code = None
            escaped = traceback.format_exc()
    return code, out.getvalue(), err.getvalue(), escaped


def classify(argv: list[str], inputs: list[Path], expect: Expect) -> Outcome:
    """Run the command and sort the result into one of :data:`OUTCOMES`."""
    before = snapshot(inputs)
    code, out, err, escaped = invoke(argv)
    after = snapshot(inputs)
    lost = [str(path) for path in before if after.get(path) != before[path]]
    if lost:
        return Outcome("data loss", code, f"changed or removed: {lost}", err, out)
    text = out + err + escaped
    if escaped or "Traceback (most recent call last)" in text:
        first = escaped.strip().splitlines()[-1] if escaped else "Traceback printed"
        return Outcome("traceback", code, first, err, out)
    seen = [text_ for text_ in expect.forbidden if text_ in text]
    if seen:
        return Outcome("silent wrong", code, f"printed {seen}", err, out)
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    if code == EXIT_REFUSED:
        if len(error_lines) != 1:
            return Outcome("traceback", code, f"exit 2 with {len(error_lines)} 'error:' lines", err, out)
        if expect.result == "error":
            if expect.reason.lower() not in error_lines[0].lower():
                return Outcome(
                    "silent wrong", code, f"refused for another reason: {error_lines[0]}", err, out
                )
            return Outcome("clear error", code, error_lines[0], err, out)
        return Outcome("silent wrong", code, f"refused a good input: {error_lines[0]}", err, out)
    if code not in (EXIT_OK, EXIT_PARTIAL):
        return Outcome("traceback", code, f"unexpected exit code {code}", err, out)
    if expect.result == "error":
        return Outcome("silent wrong", code, f"exit {code} for a bad input", err, out)
    wanted = EXIT_OK if expect.result == "ok" else EXIT_PARTIAL
    if code != wanted:
        return Outcome("silent wrong", code, f"exit {code}, expected {wanted}", err, out)
    missing = [str(path) for path in expect.outputs if not _readable(path)]
    if missing:
        return Outcome("silent wrong", code, f"outputs missing or unreadable: {missing}", err, out)
    mangled = [name for name in expect.mentions if not _printed_literally(name, out + err)]
    if mangled:
        return Outcome("silent wrong", code, f"printed without its brackets: {mangled}", err, out)
    return Outcome("clear error" if expect.result == "partial" else "correct", code, "", err, out)


def _printed_literally(name: str, text: str) -> bool:
    """Whether every printed mention of ``name`` keeps its ``[...]`` parts (console markup eats them)."""
    import re

    stripped = re.sub(r"\[[^\]]*\]", "", name).strip()
    return text.count(stripped) == text.count(name)


def _readable(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    if not path.is_file() or path.stat().st_size == 0:
        return False
    if path.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp", ".gif"}:
        from PIL import Image

        try:
            with Image.open(path) as image:
                image.load()
        except Exception:  # noqa: BLE001
            return False
    return True
