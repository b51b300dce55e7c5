"""Atomic file writes: a reader, or a process killed mid-write, sees the old file or the whole new one, never a part.

Every file the package writes (results, figures, exported pages, run manifests, toy weights) goes through
:func:`write_atomic`: the bytes go to a temporary file in the destination's folder, are flushed and fsynced, and
``os.replace`` renames the temporary file onto the destination (atomic on POSIX and on Windows within one volume);
the folder is then fsynced so the rename survives a power cut. A temporary file is named ``.<name>.<random>.partial``:
never the final name, unique per write (a stale one left by a killed process is ignored by every later save and
load), and removed when the write raises.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_atomic", "fsync_directory", "PARTIAL_SUFFIX"]

PARTIAL_SUFFIX = ".partial"
"""The suffix of a temporary file :func:`write_atomic` has not renamed yet."""


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object], *, staging: Path | None = None) -> Path:
    """Create or replace the file ``path`` with what ``write(handle)`` writes to a binary handle; returns the path.

    ``staging`` is the temporary file to use (its folder must be on the same volume as ``path``); by default a new
    ``.<name>.<random>.partial`` beside ``path``. Missing parent folders are created. An exception in ``write``
    leaves ``path`` as it was and removes the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if staging is None:
        staging = path.parent / f".{path.name}.{secrets.token_hex(6)}{PARTIAL_SUFFIX}"
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to open()
    else:
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise
    fsync_directory(path.parent)
    return path


def fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
