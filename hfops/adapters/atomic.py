"""Atomic file writes: a temporary file in the target's directory, fsync, rename.

A reader (or a crash, or an interrupt) sees the old file or the new one, never a partial one.
Refuses to write through a symlink.

Every temporary file hfops creates is named `.hfops-tmp-XXXXXXXX.NAME` (8 random characters), so
that clean-up after a killed run removes hfops' own leftovers and nothing of the user's (an editor's
`.notes.ABCDEFGH.tmp` is not hfops'). While being written, a temporary file is registered here, so
that an immediate exit (a second interrupt) can remove it.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import threading
from pathlib import Path

TEMPORARY_PREFIX = ".hfops-tmp-"
# `.hfops-tmp-` + 8 random characters + `.` + the final name: 20 bytes more than the final name.
TEMPORARY_OVERHEAD = len(TEMPORARY_PREFIX) + 8 + 1
_TEMPORARY = re.compile(r"^\.hfops-tmp-[A-Za-z0-9]{8}\..+$", re.DOTALL)

# Temporary files being written right now: (directory descriptor or None, name or absolute path).
# The directory descriptor stays open while the file is being written, so the clean-up unlinks
# exactly the file that was created, even if a directory on its path was renamed meanwhile.
_IN_FLIGHT: set[tuple[int | None, str]] = set()
_IN_FLIGHT_LOCK = threading.Lock()


def temporary_name(final_name: str) -> str:
    """The name of a temporary file for `final_name`: recognisably hfops' own."""
    return f"{TEMPORARY_PREFIX}{secrets.token_hex(4)}.{final_name}"


def is_temporary_name(name: str) -> bool:
    return _TEMPORARY.match(name) is not None


def create_temporary(final_name: str, *, dir_fd: int | None, directory: str = "", mode: int = 0o600) -> tuple[int, str]:
    """Create (O_EXCL, O_NOFOLLOW) and register a temporary file for `final_name`; returns (fd, name).

    With `dir_fd` the name is relative to that directory; without it, to `directory`. The file is
    created with `mode` exactly (the umask does not widen or narrow it: fchmod after creating).
    The caller must call `release_temporary` when the file is renamed or abandoned.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _attempt in range(16):
        name = temporary_name(final_name)
        key = (dir_fd, name if dir_fd is not None else os.path.join(directory or ".", name))
        with _IN_FLIGHT_LOCK:  # created and registered as one step, see remove_in_flight
            try:
                fd = os.open(key[1], flags, mode, dir_fd=dir_fd)
            except FileExistsError:
                continue
            _IN_FLIGHT.add(key)
        try:
            os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            release_temporary(name, dir_fd=dir_fd, directory=directory, unlink=True)
            raise
        return fd, name
    raise FileExistsError(f"could not create a temporary file for {final_name}")


def release_temporary(name: str, *, dir_fd: int | None, directory: str = "", unlink: bool) -> None:
    """Forget a temporary file (renamed into place); with `unlink`, remove it first (abandoned)."""
    key = (dir_fd, name if dir_fd is not None else os.path.join(directory or ".", name))
    if unlink:
        try:
            os.unlink(key[1], dir_fd=dir_fd)
        except FileNotFoundError:
            pass
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.discard(key)


def open_unnamed(dir_fd: int, *, mode: int = 0o600) -> int | None:
    """An unnamed file in the directory (Linux O_TMPFILE), or None where unsupported.

    It has no name until `link_unnamed` gives it one, so no crash, kill or interrupt can leave it
    behind: the kernel frees it with the last descriptor.
    """
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return None
    try:
        fd = os.open(".", flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), mode, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            return None  # the filesystem (or kernel) has no O_TMPFILE
        raise
    try:
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def link_unnamed(fd: int, name: str, *, dir_fd: int) -> bool:
    """Give the unnamed file `fd` the name `name` (never replacing one: FileExistsError); False if unsupported."""
    try:
        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd, follow_symlinks=True)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EACCES):
            return False  # no /proc, or linking not allowed here
        raise
    return True


def link_unnamed_temporary(fd: int, final_name: str, *, dir_fd: int) -> str | None:
    """Give the unnamed file `fd` a registered temporary name (see `create_temporary`); None if unsupported."""
    for _attempt in range(16):
        name = temporary_name(final_name)
        with _IN_FLIGHT_LOCK:
            try:
                if not link_unnamed(fd, name, dir_fd=dir_fd):
                    return None
            except FileExistsError:
                continue
            _IN_FLIGHT.add((dir_fd, name))
        return name
    raise FileExistsError(f"could not create a temporary file for {final_name}")


def remove_in_flight() -> None:
    """Unlink every temporary file still being written, just before an immediate exit.

    The lock is taken and deliberately kept: no writer can create another temporary file
    between this clean-up and the exit. (Writers are worker threads; the caller is the main
    thread's signal handler, which never holds the lock itself.)
    """
    _IN_FLIGHT_LOCK.acquire(timeout=2.0)
    for dir_fd, name in list(_IN_FLIGHT):
        try:
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove hfops' own temporary files a killed run left in `directory` (and below); returns them.

    Only names `.hfops-tmp-XXXXXXXX.NAME` that are regular files; symlinks are neither followed
    (into other directories) nor removed, and a file being written right now is left alone.
    """
    removed: list[Path] = []
    if not directory.is_dir() or directory.is_symlink():
        return removed
    with _IN_FLIGHT_LOCK:
        busy = {name for _fd, name in _IN_FLIGHT}
    for folder, _dirs, files in os.walk(directory, followlinks=False):
        for name in files:
            if not is_temporary_name(name) or name in busy:
                continue
            path = Path(folder) / name
            try:
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
    return sorted(removed)


def atomic_write(target: Path, data: bytes, *, mode: int = 0o600) -> os.stat_result:
    """Write `data` to `target` atomically, with `mode`; refuses to write through a symlink.

    Returns the status of the file written, taken after the rename from its own descriptor (so it
    is that file's, even if another process replaced `target` at once): a caller that caches what
    it wrote can recognise the file later by it.
    """
    if target.is_symlink():
        raise OSError(f"{target} is a symlink; refusing to write through it")
    directory = str(target.parent)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        fd, name = create_temporary(target.name, dir_fd=dir_fd, mode=mode)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                os.rename(name, target.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                written = os.fstat(fd)
            finally:
                os.close(fd)
        except BaseException:
            release_temporary(name, dir_fd=dir_fd, unlink=True)
            raise
        release_temporary(name, dir_fd=dir_fd, unlink=False)
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return written
