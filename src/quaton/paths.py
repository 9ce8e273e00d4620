"""Output paths checked before any work starts: a command that is going to write somewhere finds out
at its start, not after hours of work, that it cannot. The checks leave nothing behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from quaton.errors import OutputPathError


def _problem(path: Path, kind: str) -> str | None:
    """Why nothing of ``kind`` ('directory' or 'file') can be written at ``path``, or None."""
    if "\x00" in str(path):
        return "a path cannot hold a NUL character"
    existing = path.parent if kind == "file" else path
    try:
        if path.exists() and path.is_dir() != (kind == "directory"):
            return "it is a directory: give a file name" if kind == "file" else "it is a file, not a directory"
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            return f"{existing} is a file, not a directory"
        os.rmdir(tempfile.mkdtemp(prefix=".quaton-write-check-", dir=existing))
    except OSError as error:  # read-only, no permission, a pseudo file system (/proc), a name too long
        return f"{error.strerror or error} (tried in {existing})"
    return None


def check_writable_directory(path: str | Path, what: str) -> None:
    """Raise :class:`OutputPathError` unless ``path`` is a directory this process can write in, or one
    it can create (its nearest existing ancestor is a writable directory). ``what`` names the option
    or key in the message (e.g. ``--out``). Creates nothing that stays: writing is tried with a
    temporary directory that is removed at once."""
    problem = _problem(Path(path), "directory")
    if problem:
        raise OutputPathError(f"{what} {path} cannot be written: {problem}; choose a writable directory")


def check_writable_file(path: str | Path, what: str) -> None:
    """Raise :class:`OutputPathError` unless a file can be written at ``path`` (not a directory, in a
    writable or creatable directory)."""
    problem = _problem(Path(path), "file")
    if problem:
        raise OutputPathError(f"{what} {path} cannot be written: {problem}")
