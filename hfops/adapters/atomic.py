"""Atomic file writes: a temporary file in the target's directory, fsync, rename.

A reader (or a crash, or an interrupt) sees the old file or the new one, never a partial one.
Refuses to write through a symlink.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

# Temporary files being written right now, so that an immediate exit (a second interrupt) can
# remove them: a crash must never leave half a credential behind, even under a temporary name.
_IN_FLIGHT: set[str] = set()
_IN_FLIGHT_LOCK = threading.Lock()
_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def remove_in_flight() -> None:
    """Unlink every temporary file still being written, just before an immediate exit.

    The lock is taken and deliberately kept: no writer can create another temporary file
    between this clean-up and the exit. (Writers are worker threads; the caller is the main
    thread's signal handler, which never holds the lock itself.)
    """
    _IN_FLIGHT_LOCK.acquire(timeout=2.0)
    for path in list(_IN_FLIGHT):
        try:
            os.unlink(path)
        except OSError:
            pass


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove temporary files a killed run left in `directory` (and below); returns them."""
    removed: list[Path] = []
    if not directory.is_dir() or directory.is_symlink():
        return removed
    for path in directory.rglob(".*.tmp"):
        if _TEMPORARY.match(path.name) and path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(path)
    return removed


def atomic_write(target: Path, data: bytes, *, mode: int = 0o600) -> None:
    if target.is_symlink():
        raise OSError(f"{target} is a symlink; refusing to write through it")
    with _IN_FLIGHT_LOCK:  # created and registered as one step, see remove_in_flight
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        _IN_FLIGHT.add(temporary)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.discard(temporary)
    directory_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
