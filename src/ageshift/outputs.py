"""Where outputs go: every path checked before any work, never onto an input, each file written atomically.

Every command that writes files follows the same three steps, so the rule holds for all of them:

1. ``plan = OutputPlan(inputs)`` records the user's input files; they are never written.
2. Before any work, :meth:`OutputPlan.folder` and :meth:`OutputPlan.file` check each output location
   (an existing file where a folder is needed, a folder that cannot be written, an output that *is* an
   input, also through a symlink or a hard link) and :meth:`OutputPlan.claim` refuses a path that is an
   input or that a second input would also be written to (same stem, different suffix).
3. Each file is written through :func:`atomic_write` (a temporary file beside it, then ``os.replace``),
   so a crash never leaves half a file and an earlier output is replaced only when the new one is whole.

A refusal is an :class:`OutputError` (one line naming the path and a fix; the CLI exits 2). Commands that
finish but had to skip some inputs raise :class:`InputsSkipped` at the end (the CLI exits 1).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import AgeshiftError

#: Exit codes of every ``ageshift`` command (see README, "Exit codes").
EXIT_OK, EXIT_SKIPPED, EXIT_ERROR = 0, 1, 2


class OutputError(AgeshiftError):
    """An output path that must not or cannot be written (an input, written twice, not writable)."""


class InputsSkipped(AgeshiftError):
    """The work finished, but some inputs were skipped (each was listed on stderr): the CLI exits 1."""

    exit_code = EXIT_SKIPPED

    def __init__(self, skipped: int, total: int, first: str, written: str = "") -> None:
        done = f"; {written}" if written else ""
        super().__init__(f"skipped {skipped} of {total} input(s){done}; first: {first}")
        self.skipped = skipped
        self.total = total


def _file_id(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of an existing file (symlinks followed), ``None`` if there is none."""
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_dev, status.st_ino)


def _resolved(path: Path) -> Path:
    """The absolute path with symlinks resolved as far as they exist (never raises on missing parts)."""
    return Path(os.path.realpath(path))


def nearest_existing(path: str | Path) -> Path:
    """``path`` itself if it exists, else its closest existing ancestor (the folder it would be made in)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_folder_writable(path: str | Path, option: str = "--out") -> Path:
    """Check, without creating anything, that ``path`` is or can become a folder ageshift can write into.

    Args:
        path: the output folder (it may not exist yet).
        option: the option or argument that named it, for the message.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OutputError: ``path`` is an existing file, sits below a file, or its folder is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(
            f"{path}: {option} must be a folder, but it is an existing file; choose another {option}"
        )
    _check_writable_ancestor(path, nearest_existing(path), option, f"cannot create {option} there")
    return path


def check_file_writable(path: str | Path, option: str = "--out") -> Path:
    """Check, without creating anything, that the file ``path`` can be written (atomically, beside itself).

    Args:
        path: the output file (it may not exist yet).
        option: the option or argument that named it, for the message.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OutputError: ``path`` is a folder, or the folder it goes in cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: {option} must be a file name, but it is a folder; give a file inside it")
    _check_writable_ancestor(path, nearest_existing(path.parent), option, f"cannot write {option}")
    return path


def _check_writable_ancestor(path: Path, existing: Path, option: str, problem: str) -> None:
    """Refuse ``path`` when ``existing``, the closest existing folder it would be written in, is a file or
    cannot be written; ``problem`` starts the message for the file case."""
    if not existing.is_dir():
        raise OutputError(f"{path}: {problem}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(
            f"{path}: cannot write {option}: {existing} is not writable; choose another {option}"
        )


def is_within(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (symlinks resolved)."""
    return _resolved(Path(path)).is_relative_to(_resolved(Path(folder)))


class OutputPlan:
    """The outputs of one command: checked against its inputs and each other before any work.

    Args:
        inputs: the user's input files; no output may be one of them (by path, symlink or hard link).
    """

    def __init__(self, inputs: Iterable[str | Path] = ()) -> None:
        self._inputs: dict[Path, Path] = {}
        self._input_ids: dict[tuple[int, int], Path] = {}
        self._claimed: dict[Path, tuple[Path, Path | None]] = {}
        self.protect(*inputs)

    def protect(self, *paths: str | Path) -> None:
        """Add input files that no output may replace."""
        for given in paths:
            path = Path(given)
            self._inputs[_resolved(path)] = path
            file_id = _file_id(path)
            if file_id is not None:
                self._input_ids[file_id] = path

    def input_at(self, path: str | Path) -> Path | None:
        """The input file that writing ``path`` would replace, or ``None``."""
        path = Path(path)
        found = self._inputs.get(_resolved(path))
        if found is not None:
            return found
        file_id = _file_id(path)
        return self._input_ids.get(file_id) if file_id is not None else None

    def claim(self, path: str | Path, source: str | Path | None = None, option: str = "output") -> Path:
        """Reserve ``path`` for one output (of ``source``, when it is the result of an input).

        Returns:
            ``path`` as a ``Path``.

        Raises:
            OutputError: ``path`` is an input, or another output (of another input) already goes there.
        """
        path = Path(path)
        source = Path(source) if source is not None else None
        replaced = self.input_at(path)
        if replaced is not None:
            if source is not None and _resolved(source) == _resolved(replaced):
                problem = "the result would replace this input"
            elif source is not None:
                problem = f"the result of {source} would replace the input {replaced}"
            elif str(replaced) == str(path):
                problem = f"{option} is an input file"
            else:
                problem = f"{option} is the input {replaced} (another name for it)"
            raise OutputError(f"{path}: {problem}; choose another {option} so the input is kept")
        key = _resolved(path)
        if key in self._claimed:
            _, earlier_source = self._claimed[key]
            if earlier_source is not None and source is not None:
                why = "different suffix" if earlier_source.suffix != source.suffix else "different folders"
                raise OutputError(
                    f"{path}: {earlier_source} and {source} would both be written there (same name, {why}); "
                    "rename one of them or process them in separate runs"
                )
            raise OutputError(
                f"{path}: two outputs of this command would be written there; choose another path"
            )
        self._claimed[key] = (path, source)
        return path

    def is_claimed(self, path: str | Path) -> bool:
        """Whether an output of this plan already goes to ``path``."""
        return _resolved(Path(path)) in self._claimed

    def folder(self, path: str | Path, option: str = "--out") -> Path:
        """Check an output folder before any work (see :func:`check_folder_writable`); it must not be an input.

        Returns:
            ``path`` as a ``Path``.
        """
        path = check_folder_writable(path, option)
        replaced = self.input_at(path)
        if replaced is not None:
            raise OutputError(f"{path}: {option} is the input {replaced}; choose another {option}")
        return path

    def file(self, path: str | Path, option: str = "--out", source: str | Path | None = None) -> Path:
        """Check and claim an output file before any work (see :func:`check_file_writable` and :meth:`claim`).

        Returns:
            ``path`` as a ``Path``.
        """
        return self.claim(check_file_writable(path, option), source, option)


def refuse_same_folder(
    out: str | Path, inputs: Iterable[str | Path], option: str = "--out", nested: bool = False
) -> None:
    """Refuse an output folder that is an input folder (with ``nested``: or holds one, or lies inside one).

    Commands whose outputs' names are not all known up front (datasets, reports) use this so that no
    input can be among the files they write or replace.

    Raises:
        OutputError: naming both folders.
    """
    for given in inputs:
        source = Path(given)
        if _resolved(Path(out)) == _resolved(source):
            raise OutputError(f"{out}: {option} is the input folder {source}; choose another {option}")
        if nested and (is_within(out, source) or is_within(source, out)):
            inside = "inside" if is_within(out, source) else "around"
            raise OutputError(
                f"{out}: {option} is {inside} the input folder {source}; choose a folder apart from it"
            )


def refuse_inputs_inside(out: str | Path, inputs: Iterable[str | Path], option: str = "--out") -> None:
    """Refuse an output folder that holds an input file (for commands that write fixed file names into it).

    Raises:
        OutputError: naming the folder and the input.
    """
    for given in inputs:
        if is_within(given, out):
            raise OutputError(
                f"{out}: {option} holds the input {given}; choose a folder that does not, so the input is kept"
            )


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator:
    """Open a temporary file beside ``path`` and move it into place only when the block succeeds.

    A crash inside the block leaves any previous ``path`` untouched and no partial file behind; the
    temporary file is hidden (``.NAME.*.tmp``) so folder listings never pick it up as an input.

    Args:
        path: the destination; its parent folders are created.
        mode: ``"wb"`` or ``"w"`` (text is UTF-8).

    Returns:
        A context manager yielding the open stream.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file as 0600; give it the permissions a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, mode, encoding=None if "b" in mode else "utf-8") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (non-JSON values become strings).

    Returns:
        ``path`` as a ``Path``.
    """
    path = Path(path)
    with atomic_write(path, "w") as stream:
        json.dump(data, stream, indent=2, default=str)
    return path


__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_SKIPPED",
    "InputsSkipped",
    "OutputError",
    "OutputPlan",
    "atomic_write",
    "check_file_writable",
    "check_folder_writable",
    "is_within",
    "nearest_existing",
    "refuse_inputs_inside",
    "refuse_same_folder",
    "write_json",
]
