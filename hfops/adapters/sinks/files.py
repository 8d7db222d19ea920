"""`file:` credential outputs: atomic 0600 files below --credentials-dir, never written through a symlink.

Every operation walks from the root one component at a time with directory file descriptors
opened `O_DIRECTORY|O_NOFOLLOW`, and creates, renames and removes relative to the last one, so a
directory swapped for a symlink after `check()` cannot redirect a key (nor a removal). The
temporary file is created `O_EXCL|O_NOFOLLOW`, mode 0600, named `.hfops-tmp-XXXXXXXX.NAME`, and
registered with `atomic` so a second interrupt removes it.

hfops creates the root 0700 with a `.gitignore` of `*` (as venv does) and missing sub-directories
0700; it never changes the mode of a directory it did not create, removes only sub-directories it
created (when they become empty), and cleans up only its own temporary files.

Which files are hfops' own: those in the ledger (`.hfops-ledger`) that still hold a
credential, and a file not in the ledger that holds exactly the four credential keys (written by an
hfops from before the ledger: adopted). Anything else is foreign, never overwritten or removed.

Why one module of ~475 lines: it is one class with one job, a file output's life (check, read,
write, remove), and every step shares the same descriptor walk and the same "is this still the
file we saw" rule; split, those would be private helpers reached across modules. The directory
as a whole (creation, Git warnings, stale temporaries) is `credentials_dir`.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hfops.adapters.atomic import (
    TEMPORARY_OVERHEAD,
    create_temporary,
    link_unnamed,
    link_unnamed_temporary,
    open_unnamed,
    release_temporary,
    temporary_name,
)
from hfops.adapters.sinks.ledger import Ledger, LedgerEntry, make_private_directory
from hfops.core.credentials import Held, Target
from hfops.core.errors import CredentialsError
from hfops.core.json_object import load_object

CREDENTIAL_KEYS = frozenset({"api_key", "endpoint", "model_name", "context_window"})
MIN_FREE_BYTES = 64 * 1024
MAX_READ = 1024 * 1024  # a credential is a few hundred bytes; a bigger file is not one
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _reason(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


def _read_up_to(fd: int, size: int, limit: int) -> bytes:
    """At most `limit` bytes of a file `fstat` said holds `size`: a read of what is there (plus one
    byte, to see a file that grew), not of `limit`, since a read allocates what it asks for: 1 MiB
    per credential file made reading 5,000 of them cost 0.2 s.

    On the descriptor itself, one `read` when the file holds what `fstat` said (a buffered reader
    made two, and a plan reads thousands of files while other threads want the GIL, which each
    system call gives up); on to the end or the limit otherwise (a file that grew or shrank).
    """
    content = os.read(fd, min(size + 1, limit))
    if len(content) == size or not content:
        return content
    pieces = [content]
    total = len(content)
    while total < limit:
        piece = os.read(fd, limit - total)
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    return b"".join(pieces)


def _credential_shaped(content: bytes) -> bool:
    data = load_object(content)
    return data is not None and set(data) == CREDENTIAL_KEYS


class _NotADirectory(CredentialsError):
    """A symlink or a non-directory where a directory of the path must be."""


def _explain(path: Path, error: OSError) -> CredentialsError:
    """Why opening `path` as a directory failed: a symlink and a file are told apart."""
    if error.errno in (errno.ENOTDIR, errno.ELOOP):
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            return _NotADirectory(f"{path} is a symlink; hfops never writes through one ({os.strerror(errno.ELOOP)})")
        if mode and not stat.S_ISDIR(mode):
            return _NotADirectory(f"{path} exists and is not a directory ({os.strerror(errno.ENOTDIR)})")
    return CredentialsError(f"{path}: {_reason(error)}")


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def _fsync(dir_fd: int) -> bool:
    os.fsync(dir_fd)
    return True


@dataclass(frozen=True)
class _Seen:
    held: Held
    inode: tuple[int, int] | None = None  # (st_dev, st_ino) of the file read
    replaced: bool = False  # a symlink or a non-regular file where hfops' file or directory was


class FileSink:
    def __init__(self, root: str, relative: str, ledger: Ledger) -> None:
        self.root = Path(root)
        self.relative = posixpath.normpath(relative.replace("\\", "/"))
        self.parts = tuple(self.relative.split("/"))
        self.ledger = ledger

    @property
    def output_id(self) -> str:
        return "file:" + self.relative

    @property
    def path(self) -> Path:
        return self.root.joinpath(*self.parts)

    def describe(self) -> str:
        return f"file {self.path}"

    # -- walking -------------------------------------------------------------------------------

    def _path_problem(self) -> str | None:
        if "\0" in self.relative or self.relative.startswith("/") or any(p in ("", ".", "..") for p in self.parts):
            return f"{self.relative!r} is not a file name below the credentials directory {self.root}"
        return None

    def _open_dirs(self, count: int, *, create: bool, root_fd: int | None = None) -> int | None:
        """A descriptor of root/parts[:count], reached without following a symlink; None if missing.

        With `create`, missing directories are made 0700 and recorded as hfops' own. `root_fd`: the
        root, already open (a batch of reads); the descriptor returned is a new one all the same.
        """
        try:
            fd = os.dup(root_fd) if root_fd is not None else os.open(self.root, _DIR_FLAGS)
        except FileNotFoundError:
            if not create:
                return None
            raise CredentialsError(f"credentials directory {self.root} does not exist") from None
        except OSError as error:
            raise _explain(self.root, error) from None
        current = self.root
        for index, part in enumerate(self.parts[:count]):
            current = current / part
            made = False
            try:
                if create:
                    try:
                        os.mkdir(part, 0o700, dir_fd=fd)
                        made = True
                    except FileExistsError:
                        pass
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                if made:
                    os.fchmod(child, 0o700)  # ours: whatever the umask was
            except FileNotFoundError:
                os.close(fd)
                if not create:
                    return None
                raise CredentialsError(f"{current} disappeared while being created") from None
            except OSError as error:
                os.close(fd)
                raise _explain(current, error) from None
            os.close(fd)
            fd = child
            if made:
                self.ledger.record_directory("/".join(self.parts[: index + 1]))
        return fd

    def _inspect(
        self, root_fd: int | None = None, entry_of: Callable[[str], LedgerEntry | None] | None = None
    ) -> _Seen:
        """What the file holds. `root_fd` (the root, open) and `entry_of` (the ledger, read once)
        are a batch's (`read_files`): the same answer as without them, with fewer system calls."""
        problem = self._path_problem()
        if problem:
            return _Seen(Held("unreadable", detail=problem))
        shared = root_fd is not None and len(self.parts) == 1  # the batch's root: not ours to close
        try:
            dir_fd = root_fd if shared else self._open_dirs(len(self.parts) - 1, create=False, root_fd=root_fd)
        except CredentialsError as error:
            return _Seen(Held("unreadable", detail=error.message), replaced=isinstance(error, _NotADirectory))
        if dir_fd is None:
            return _Seen(Held("absent"))
        name = self.parts[-1]
        try:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return _Seen(Held("absent"))
            if stat.S_ISLNK(info.st_mode):
                detail = f"{self.path} is a symlink; hfops never writes through one"
                return _Seen(Held("unreadable", detail=detail), replaced=True)
            if not stat.S_ISREG(info.st_mode):
                detail = f"{self.path} exists and is not a regular file"
                return _Seen(Held("unreadable", detail=detail), replaced=True)
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    return _Seen(Held("unreadable", detail=f"{self.path} exists and is not a regular file"))
                content = _read_up_to(fd, info.st_size, MAX_READ + 1)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return _Seen(Held("absent"))
        except OSError as error:
            return _Seen(Held("unreadable", detail=f"cannot read {self.path}: {_reason(error)}"))
        finally:
            if not shared:
                os.close(dir_fd)
        inode = (info.st_dev, info.st_ino)
        shaped = len(content) <= MAX_READ and _credential_shaped(content)
        entry = entry_of(self.output_id) if entry_of is not None else self.ledger.get(self.output_id)
        if entry is not None:
            if shaped:
                return _Seen(Held("ours", content=content, address=entry.address, owner=entry.owner), inode)
            detail = f"{self.path} no longer holds a credential (changed since hfops wrote it)"
            return _Seen(Held("foreign", detail=detail), inode)
        if shaped:  # written by an hfops from before the ledger: adopted
            return _Seen(Held("ours", content=content), inode)
        return _Seen(Held("foreign", detail=f"{self.path} exists and was not written by hfops"), inode)

    # -- the sink ------------------------------------------------------------------------------

    def check(self) -> list[str]:
        problem = self._path_problem()
        if problem:
            return [problem]
        try:
            root_info: os.stat_result | None = os.lstat(self.root)
        except FileNotFoundError:
            root_info = None
        except OSError as error:
            return [f"credentials directory {self.root}: {_reason(error)}"]
        if root_info is not None and stat.S_ISLNK(root_info.st_mode):
            return [f"credentials directory {self.root} is a symlink; hfops never writes through one"]
        if root_info is not None and not stat.S_ISDIR(root_info.st_mode):
            return [f"credentials directory {self.root} exists and is not a directory ({os.strerror(errno.ENOTDIR)})"]
        existing = self.root
        if root_info is None:  # the nearest existing parent, where the root will be created
            existing = self.root.absolute().parent
            while True:
                try:
                    if not stat.S_ISDIR(os.stat(existing).st_mode):
                        return [
                            f"credentials directory {self.root}: {existing} exists and is not a directory "
                            f"({os.strerror(errno.ENOTDIR)})"
                        ]
                    break
                except FileNotFoundError:
                    existing = existing.parent
                except OSError as error:
                    return [f"credentials directory {self.root}: {existing}: {_reason(error)}"]
        problems: list[str] = []
        try:
            fs = os.statvfs(existing)
            name_max = os.pathconf(existing, "PC_NAME_MAX")
            path_max = os.pathconf(existing, "PC_PATH_MAX")
        except OSError as error:
            return [f"{existing}: {_reason(error)}"]
        if fs.f_flag & os.ST_RDONLY:
            problems.append(f"{existing} is on a read-only filesystem ({os.strerror(errno.EROFS)})")
        elif not os.access(existing, os.W_OK | os.X_OK):
            problems.append(f"{existing} is not writable ({os.strerror(errno.EACCES)})")
        free = fs.f_bavail * fs.f_frsize
        if free < MIN_FREE_BYTES:
            problems.append(f"{existing}: only {free} bytes free ({os.strerror(errno.ENOSPC)})")
        for part in self.parts[:-1]:
            if len(os.fsencode(part)) > name_max:
                problems.append(
                    f"{self.path}: the directory name {part!r} is {len(os.fsencode(part))} bytes, "
                    f"this filesystem allows {name_max} ({os.strerror(errno.ENAMETOOLONG)})"
                )
        final = len(os.fsencode(self.parts[-1]))
        if final + TEMPORARY_OVERHEAD > name_max:
            problems.append(
                f"{self.path}: the file name is {final} bytes; at most {name_max - TEMPORARY_OVERHEAD} here "
                f"(the filesystem allows {name_max}, and the temporary name of an atomic write is "
                f"{TEMPORARY_OVERHEAD} bytes longer) ({os.strerror(errno.ENAMETOOLONG)})"
            )
        longest = self.path.absolute().parent / temporary_name(self.parts[-1])
        if len(os.fsencode(str(longest))) >= path_max:
            problems.append(
                f"{self.path}: the path is too long for this system (at most {path_max - 1} bytes with the "
                f"temporary name) ({os.strerror(errno.ENAMETOOLONG)})"
            )
        if root_info is None or problems:
            return problems
        # Below an existing root: every existing component a real directory, the target a file.
        depth = 0
        current = self.root
        for part in self.parts[:-1]:
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                break  # this one and those below are created by the write
            except OSError as error:
                return [f"{current}: {_reason(error)}"]
            if stat.S_ISLNK(info.st_mode):
                return [f"{current} is a symlink; hfops never writes through one"]
            if not stat.S_ISDIR(info.st_mode):
                return [f"{current} exists and is not a directory ({os.strerror(errno.ENOTDIR)})"]
            depth += 1
        else:
            try:
                info = os.lstat(self.path)
            except FileNotFoundError:
                pass
            except OSError as error:
                return [f"{self.path}: {_reason(error)}"]
            else:
                if stat.S_ISLNK(info.st_mode):
                    return [f"{self.path} is a symlink; hfops never writes a credential through one"]
                if not stat.S_ISREG(info.st_mode):
                    return [f"{self.path} exists and is not a regular file"]
        try:
            self.ledger.entries()
        except CredentialsError as error:
            return [error.message]
        return self._probe(depth)

    def _probe(self, depth: int) -> list[str]:
        """Really create (and remove) a file where the write will first create something.

        Permission bits do not tell everything (root ignores them; a read-only bind mount, a
        full quota, an immutable directory): the probe does.
        """
        where = self.root.joinpath(*self.parts[:depth])
        try:
            dir_fd = self._open_dirs(depth, create=False)
        except CredentialsError as error:
            return [error.message]
        if dir_fd is None:
            return [f"{where} disappeared during the check"]
        try:
            fd, name = create_temporary(self.parts[-1], dir_fd=dir_fd)
            os.close(fd)
            release_temporary(name, dir_fd=dir_fd, unlink=True)
        except OSError as error:
            return [f"cannot create files in {where}: {_reason(error)}"]
        finally:
            os.close(dir_fd)
        return []

    def read(self) -> Held:
        return self._inspect().held

    @classmethod
    def read_files(cls, root: str, relatives: Iterable[str], ledger: Ledger) -> dict[str, Held]:
        """What each file (relative to `root`) holds, by its `output_id`: `read` of each, with the
        root opened once and the ledger read once for all (a plan reads thousands)."""
        # One sink at a time, each let go once read: 5,000 kept at once were 4 MB at a plan's peak.
        sinks = (cls(root, relative, ledger) for relative in relatives)
        view: list[Mapping[str, LedgerEntry] | None] = []

        def entry_of(output_id: str) -> LedgerEntry | None:
            # The ledger is read when a file is first found, as `read` reads it: absent files alone
            # read nothing (nor warn of a corrupt ledger).
            if not view:
                try:
                    view.append(ledger.entries_view())
                except CredentialsError:
                    view.append(None)  # each file present then says why, as `read` does
            found = view[0]
            return found.get(output_id) if found is not None else ledger.get(output_id)

        def held(sink: FileSink, root_fd: int | None) -> Held:
            try:
                return sink._inspect(root_fd, entry_of if root_fd is not None else None).held
            except CredentialsError as error:  # the ledger cannot be read: a file it would tell about
                return Held("unreadable", detail=error.message)

        try:
            # The root as `read` opens it (a Path: "creds/" is "creds", so a symlink there is refused).
            root_fd = os.open(Path(root), _DIR_FLAGS)
        except OSError:  # missing or unusable: each read says so, as it would alone
            return {sink.output_id: held(sink, None) for sink in sinks}
        try:
            return {sink.output_id: held(sink, root_fd) for sink in sinks}
        finally:
            os.close(root_fd)

    def write(self, content: bytes, target: Target) -> None:
        seen = self._inspect()
        if seen.held.state == "foreign":
            raise CredentialsError(f"{self.path} exists and was not written by hfops; not overwritten")
        if seen.held.state == "unreadable":
            raise CredentialsError(f"{seen.held.detail}; not written")
        try:
            make_private_directory(self.root)
        except OSError as error:
            raise CredentialsError(f"cannot create credentials directory {self.root}: {_reason(error)}") from None
        dir_fd = self._open_dirs(len(self.parts) - 1, create=True)
        assert dir_fd is not None
        name = self.parts[-1]
        try:
            if not self._write_unnamed(content, name, dir_fd, seen):
                self._write_named(content, name, dir_fd, seen)
        except OSError as error:
            raise CredentialsError(f"cannot write {self.path}: {_reason(error)}") from None
        finally:
            os.close(dir_fd)
        self.ledger.record(self.output_id, target.address, target.owner)

    def _write_unnamed(self, content: bytes, name: str, dir_fd: int, seen: _Seen) -> bool:
        """Write an unnamed file (O_TMPFILE) and link it into place; False where unsupported.

        A new file gets its final name directly (link never replaces), so not even a temporary
        name exists at any moment; a replacement gets a temporary name only for the instant
        between link and rename.
        """
        fd = open_unnamed(dir_fd, mode=0o600)
        if fd is None:
            return False
        try:
            _write_all(fd, content)
            if seen.held.state == "absent":
                try:
                    return link_unnamed(fd, name, dir_fd=dir_fd) and _fsync(dir_fd)
                except FileExistsError:
                    raise CredentialsError(self._appeared()) from None
            temporary = link_unnamed_temporary(fd, name, dir_fd=dir_fd)
            if temporary is None:
                return False
        finally:
            os.close(fd)
        self._rename_in_place(temporary, name, dir_fd, seen)
        return True

    def _write_named(self, content: bytes, name: str, dir_fd: int, seen: _Seen) -> None:
        fd, temporary = create_temporary(name, dir_fd=dir_fd, mode=0o600)
        try:
            try:
                _write_all(fd, content)
            finally:
                os.close(fd)
            if seen.held.state == "absent" and self._link_new(temporary, name, dir_fd):
                release_temporary(temporary, dir_fd=dir_fd, unlink=True)
                _fsync(dir_fd)
                return
        except BaseException:
            release_temporary(temporary, dir_fd=dir_fd, unlink=True)
            raise
        self._rename_in_place(temporary, name, dir_fd, seen)

    def _appeared(self) -> str:
        return f"{self.path} appeared while hfops was writing it (not written by hfops); not overwritten"

    def _link_new(self, temporary: str, name: str, dir_fd: int) -> bool:
        """Link the temporary file to the new name (never replacing); False where links are unsupported."""
        try:
            os.link(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileExistsError:
            raise CredentialsError(self._appeared()) from None
        except OSError as error:
            if error.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
                return False
            raise
        return True

    def _rename_in_place(self, temporary: str, name: str, dir_fd: int, seen: _Seen) -> None:
        """Rename the registered temporary file over `name`, unless `name` changed since it was read."""
        try:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                now: tuple[int, int] | None = (info.st_dev, info.st_ino)
            except FileNotFoundError:
                now = None
            if now != seen.inode:
                raise CredentialsError(f"{self.path} was replaced while hfops was writing it; not overwritten")
            os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            _fsync(dir_fd)
        except BaseException:
            release_temporary(temporary, dir_fd=dir_fd, unlink=True)
            raise
        release_temporary(temporary, dir_fd=dir_fd, unlink=False)

    def remove(self, target: Target) -> None:
        entry = self.ledger.get(self.output_id)
        if (entry is not None and entry.address != target.address) or self._path_problem():
            return  # recorded for another endpoint: not touched
        seen = self._inspect()
        if entry is None and not (seen.held.state == "ours" and seen.held.address is None):
            return  # neither recorded nor a credential hfops adopts at this output: not touched
        # Unrecorded but credential-shaped at this endpoint's own output: what `read` calls ours
        # (a run killed between writing it and recording it, or an hfops from before the ledger),
        # so what the plan said it would remove is removed, not reported removed and left.
        if seen.held.state == "unreadable" and not seen.replaced:
            raise CredentialsError(f"cannot remove {self.path}: {seen.held.detail}")
        if seen.held.state == "ours":
            dir_fd = self._open_dirs(len(self.parts) - 1, create=False)
            if dir_fd is not None:
                try:
                    info = os.stat(self.parts[-1], dir_fd=dir_fd, follow_symlinks=False)
                    if (info.st_dev, info.st_ino) == seen.inode:
                        os.unlink(self.parts[-1], dir_fd=dir_fd)
                        os.fsync(dir_fd)
                except FileNotFoundError:
                    pass
                except OSError as error:
                    raise CredentialsError(f"cannot remove {self.path}: {_reason(error)}") from None
                finally:
                    os.close(dir_fd)
        # absent, removed, or replaced by someone (a symlink, a directory, other content): left
        # alone, and hfops no longer has it
        self.ledger.forget(self.output_id)
        self._remove_empty_directories()

    def _remove_empty_directories(self) -> None:
        """Remove the now-empty sub-directories on the path that hfops created (never the root)."""
        ours = self.ledger.directories()
        for depth in range(len(self.parts) - 1, 0, -1):
            relative = "/".join(self.parts[:depth])
            if relative not in ours:
                return
            try:
                parent = self._open_dirs(depth - 1, create=False)
            except CredentialsError:
                return
            if parent is None:
                return
            try:
                os.rmdir(self.parts[depth - 1], dir_fd=parent)
            except FileNotFoundError:
                pass
            except OSError:
                return  # not empty (or not a directory any more): kept
            finally:
                os.close(parent)
            self.ledger.forget_directory(relative)
