"""hfops' record of the credential outputs it wrote, kept beside them in the credentials directory.

`.hfops-ledger` (JSON, mode 0600) maps an output id (`file:team/llama.json`,
`command:["vault","kv","put","x"]`) to the endpoint it was written for (`ns/name`), the owner of
the manifest set, and, for write-only outputs, a fingerprint of what was delivered. It never holds
a key. It also lists the sub-directories hfops created (so that it removes only those when they
become empty) and the random salt of the fingerprints.

Every change re-reads and rewrites the file atomically (temporary file, fsync, rename) while
holding an exclusive `flock` on the ledger file (re-checked after the lock is granted to be the one
still at the path, since every change replaces it), so two runs at once never lose each other's
entries. Changes are group-committed: the changes that threads of one run ask for while a commit
is under way are made together by the next one (each caller still returns only once its own change
is in the file), and inside `batch()` they wait for its end and make one commit. A credential file
is written (and fsynced) before its entry is recorded, so at any moment, even after a kill -9, the
ledger claims only files that were completely written; a file written but not yet recorded is
credential-shaped and adopted by the next run (see files.py). `generation` counts the commits
ever made to the file. A missing or empty ledger reads as empty; so does a corrupt one, which the next change
keeps aside as `.hfops-ledger.corrupt-<timestamp>` (never silently overwritten) and reports as a
warning.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hfops.adapters.atomic import atomic_write
from hfops.core.errors import CredentialsError
from hfops.core.json_object import load_object

# Not `*.json`: a consumer loading every `*.json` of the directory (pathlib's glob includes dot
# files) must not mistake it for a credential.
LEDGER_NAME = ".hfops-ledger"
GITIGNORE_TEXT = "# Created by hfops: the files here hold keys; never commit them.\n*\n"
# hfops' own files in a credentials directory, beside the credentials (plus `*.corrupt-<ts>`).
BOOKKEEPING_NAMES = (".gitignore", LEDGER_NAME)
_VERSION = 1
_LOCK_TIMEOUT = 30.0
BATCH_SECONDS = 0.5  # inside `Ledger.batch`, changes wait at most this long for a commit

# scrypt, N=2**15, r=8, p=1: 32 MiB of memory and ~70-100 ms of one core per guess on this machine
# (measured; the test suite asserts at least 50 ms). Recovering even a short key from its
# fingerprint means guessing it through scrypt: a 6-character [a-z0-9] key (2**31 candidates) is
# years of one core, and the random per-directory salt rules out precomputed tables.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}


@dataclass(frozen=True)
class LedgerEntry:
    address: str  # ns/name of the endpoint the output was written for
    owner: str
    digest: str | None = None  # content_fingerprint of what a write-only output was given


def content_fingerprint(content: bytes, salt: bytes) -> str:
    """A fingerprint of `content` from which the content cannot feasibly be recovered.

    `scrypt:` + hex of scrypt(content, salt, N=2**15, r=8, p=1, 32 bytes): each guess costs 32 MiB
    and roughly 70-100 ms of CPU, so guessing a short key behind it is infeasible; compare two
    fingerprints only if they were made with the same salt (`Ledger.salt()`).
    """
    if len(salt) < 16:
        raise ValueError("the salt must be at least 16 bytes")
    return "scrypt:" + hashlib.scrypt(content, salt=salt, **_SCRYPT).hex()


def make_private_directory(root: Path) -> bool:
    """Create `root` mode 0700 with a `.gitignore` of `*` (as venv does); False if it already existed.

    Only a directory hfops creates is given a mode: an existing one is never chmod-ed.
    """
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(root, 0o700)
    except FileExistsError:
        return False
    os.chmod(root, 0o700)  # ours: whatever the umask was
    fd = os.open(root / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, GITIGNORE_TEXT.encode())
    finally:
        os.close(fd)
    return True


def _stored_salt(data: dict[str, Any]) -> bytes | None:
    try:
        salt = bytes.fromhex(data["salt"])
    except (KeyError, TypeError, ValueError):
        return None
    return salt if len(salt) >= 16 else None


def _reason(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


def _identity(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _entries_of(outputs: Any) -> dict[str, LedgerEntry]:
    found: dict[str, LedgerEntry] = {}
    if not isinstance(outputs, dict):
        return found
    for key, value in outputs.items():
        if not isinstance(value, dict) or not isinstance(value.get("address"), str):
            continue
        digest = value.get("digest")
        found[key] = LedgerEntry(
            value["address"], str(value.get("owner") or ""), digest if isinstance(digest, str) else None
        )
    return found


def _json_value(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    return "null" if value is None else json.dumps(value, sort_keys=True)


def _output_line(key: str, value: Any) -> str:
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        fields = ", ".join(f"{_quote(k)}: {_json_value(v)}" for k, v in sorted(value.items()))
        return f"    {_quote(key)}: {{{fields}}}"
    return f"    {_quote(key)}: {json.dumps(value, sort_keys=True)}"


def _serialise(data: dict[str, Any]) -> bytes:
    """The ledger as JSON, one output per line.

    `json.dumps(indent=...)` runs the pure-Python encoder: for a ledger of hundreds of outputs,
    rewritten at every commit, that was most of a large apply's credential time. The strings of
    an output line go through the C string encoder instead.
    """
    parts = []
    for key in sorted(data):
        value = data[key]
        if key == "outputs" and isinstance(value, dict) and value:
            lines = ",\n".join(_output_line(k, v) for k, v in sorted(value.items()))
            parts.append(f'  "outputs": {{\n{lines}\n  }}')
        else:
            parts.append(f"  {_quote(key)}: {json.dumps(value, sort_keys=True)}")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode()


Change = Callable[[dict[str, Any]], bool]


class _Pending:
    """One change waiting for a commit, and what became of it."""

    def __init__(self, change: Change) -> None:
        self.change = change
        self.done = False
        self.warnings: list[str] = []
        self.error: CredentialsError | None = None


class Ledger:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.warnings: list[str] = []  # every warning so far (also returned by the mutation that found it)
        self._ephemeral_salt: bytes | None = None
        # entries() of the file as last read, by its identity (every change replaces the file, so a
        # changed ledger has another inode or ctime): a plan asks once per credential output, and
        # re-reading the whole ledger for each made a plan of N outputs cost N squared.
        self._entries: tuple[tuple[int, ...], dict[str, LedgerEntry]] | None = None
        self._queue: list[_Pending] = []  # changes asked for, not yet taken by a commit
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()  # one commit at a time in this process
        self._batch_depth = 0
        self._batched: list[_Pending] = []  # changes of the batch under way, not yet committed
        self._batch_since = 0.0  # when the oldest of them was asked for
        self._batch_every = BATCH_SECONDS
        self._batch_errors: list[CredentialsError] = []

    @property
    def path(self) -> Path:
        return self.root / LEDGER_NAME

    # -- reading -------------------------------------------------------------------------------

    def _load(self) -> tuple[dict[str, Any], bool]:
        """(data, corrupt). Missing → empty; unreadable as a ledger → empty and corrupt."""
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return {}, False
        except OSError as error:
            raise CredentialsError(f"cannot read {self.path}: {_reason(error)}") from None
        if not stat.S_ISREG(info.st_mode):
            raise CredentialsError(f"{self.path} is not a regular file (a symlink?); hfops will not use it")
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                text = handle.read()
        except FileNotFoundError:
            return {}, False
        except OSError as error:
            raise CredentialsError(f"cannot read {self.path}: {_reason(error)}") from None
        data = load_object(text) if text.strip() else {}  # empty: just created by a lock
        if data is None or not isinstance(data.get("outputs", {}), dict):
            return {}, True
        return data, False

    def _read(self) -> dict[str, Any]:
        data, corrupt = self._load()
        if corrupt:
            message = f"{self.path} is not a valid hfops ledger; read as empty (kept as it is until the next change)"
            if message not in self.warnings:
                self.warnings.append(message)
        return data

    def _identity(self) -> tuple[int, ...] | None:
        try:
            return _identity(self.path.lstat())
        except OSError:
            return None

    def entries(self) -> dict[str, LedgerEntry]:
        return dict(self.entries_view())

    def entries_view(self) -> Mapping[str, LedgerEntry]:
        """The entries as `entries` has them, read-only and not copied (a batch of reads looks up
        thousands in it; an apply makes one batch per endpoint, over a ledger of thousands)."""
        identity = self._identity()
        cached = self._entries
        if identity is not None and cached is not None and cached[0] == identity:
            return MappingProxyType(cached[1])
        found = self._parse_entries()
        if identity is not None:
            self._entries = (identity, found)
        return MappingProxyType(found)

    def _parse_entries(self) -> dict[str, LedgerEntry]:
        return _entries_of(self._read().get("outputs") or {})

    def generation(self) -> int:
        """How many commits the ledger file has seen (0: none, or written by an hfops before the count)."""
        value = self._read().get("generation")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def get(self, output_id: str) -> LedgerEntry | None:
        identity = self._identity()
        cached = self._entries
        if identity is not None and cached is not None and cached[0] == identity:
            return cached[1].get(output_id)
        return self.entries().get(output_id)

    def directories(self) -> set[str]:
        """Sub-directories (relative, `/`-separated) that hfops created below the root."""
        value = self._read().get("directories") or []
        return {d for d in value if isinstance(d, str)} if isinstance(value, list) else set()

    def salt(self) -> bytes:
        """The fingerprint salt of this credentials directory (16 random bytes, made once, kept).

        Reading never creates anything: before the first fingerprint is recorded this is a salt of
        this Ledger object alone (no recorded fingerprint can match a new one then anyway); the
        salt is stored by the first `record(..., fingerprint_of=...)`, under the lock.
        """
        stored = _stored_salt(self._read())
        if stored is not None:
            return stored
        if self._ephemeral_salt is None:
            self._ephemeral_salt = secrets.token_bytes(16)
        return self._ephemeral_salt

    # -- changing ------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive flock on the ledger file itself, the one now at its path.

        Every change replaces the file (rename), so after the lock is granted the locked inode is
        compared with the one at the path: if another run replaced it meanwhile, lock the new one.
        (No separate lock file to leave behind; works wherever flock does.)
        """
        make_private_directory(self.root)
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise CredentialsError(
                                f"{self.path} stayed locked for {_LOCK_TIMEOUT:g}s (another hfops run?)"
                            ) from None
                        time.sleep(0.005)
                locked = os.fstat(fd)
                try:
                    current = os.stat(self.path, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # moved aside by another run: lock whatever comes next
                if (locked.st_dev, locked.st_ino) != (current.st_dev, current.st_ino):
                    continue
                yield
                return
            finally:
                os.close(fd)  # releases the lock

    @contextmanager
    def batch(self, *, every: float = BATCH_SECONDS) -> Iterator[None]:
        """Changes asked for inside (from any thread) are committed together: at the end, and
        whenever the oldest waiting one is `every` seconds old (so that a long batch, killed,
        loses at most that much bookkeeping).

        A change then returns before it is in the file: use it only where what the change records
        is already complete (a credential file is written, fsynced and renamed before its entry
        is asked for), so that a kill leaves at worst files the ledger does not claim yet (adopted
        as hfops' by the next run), never entries for files that were not written. A failed
        commit is raised at the end of the batch.
        """
        with self._queue_lock:
            self._batch_depth += 1
            if self._batch_depth == 1:
                self._batch_every = every
                self._batch_errors = []
        try:
            yield
        finally:
            with self._queue_lock:
                self._batch_depth -= 1
                last = self._batch_depth == 0
                batched, self._batched = (self._batched, []) if last else ([], self._batched)
                self._queue.extend(batched)
            if batched:
                self._group_commit(batched)
                self._batch_errors.extend(p.error for p in batched if p.error is not None)
            if last and self._batch_errors:
                raise self._batch_errors[0]

    def flush(self) -> None:
        """Commit now what the batch under way has waiting (so that its end, in another thread,
        has nothing left to write); a failure is raised at the end of the batch."""
        with self._queue_lock:
            due, self._batched = self._batched, []
            self._queue.extend(due)
        if due:
            self._group_commit(due)
            self._batch_errors.extend(p.error for p in due if p.error is not None)

    def _timed_flush(self) -> None:
        with self._queue_lock:
            if self._batch_depth == 0:
                return  # the batch ended (and committed) meanwhile
        self.flush()

    def _change(self, change: Change) -> list[str]:
        """Apply `change(data) -> bool (changed)` to the ledger; returns warnings (see `_commit`).

        Group commit: the change is queued; whichever thread holds the commit lock next takes
        every queued change and makes one commit of them all. Inside a batch, see `batch`.
        """
        pending = _Pending(change)
        with self._queue_lock:
            batched = self._batch_depth > 0
            timer = None
            if batched:
                now = time.monotonic()
                if not self._batched:
                    self._batch_since = now
                    # Committed `every` seconds from now even if no other change comes: a batch
                    # that waits (an apply waiting on slow endpoints) must not keep a record a
                    # kill would lose, while the file it records is long written.
                    timer = threading.Timer(self._batch_every, self._timed_flush)
                    timer.daemon = True
                self._batched.append(pending)
                if now - self._batch_since < self._batch_every:
                    if timer is not None:
                        timer.start()
                    return []
                due, self._batched = self._batched, []
            else:
                due = [pending]
            self._queue.extend(due)  # in the order asked for, under the same lock as taken
        self._group_commit(due)
        if batched:  # the callers of the others have returned: told at the end of the batch
            self._batch_errors.extend(p.error for p in due if p.error is not None)
            return pending.warnings
        if pending.error is not None:
            raise pending.error
        return pending.warnings

    def _group_commit(self, mine: list[_Pending]) -> None:
        """Make sure the changes `mine`, already queued, are committed (by this thread or another).

        Changes are queued in the order they were asked for, moved from a batch to the queue
        under one hold of the queue lock, so that two of one output (a removal, then a write)
        are never committed in the other order."""
        with self._commit_lock:
            if all(p.done for p in mine):
                return  # made by the commit of another thread meanwhile
            with self._queue_lock:
                taken, self._queue = self._queue, []
            try:
                warnings = self._commit([p.change for p in taken])
            except CredentialsError as error:
                for p in taken:
                    p.error, p.done = error, True
                return
            except BaseException as error:  # told to every waiting change, then raised
                failure = CredentialsError(f"cannot update {self.path}: {type(error).__name__}")
                for p in taken:
                    p.error, p.done = failure, True
                raise
            for p in taken:
                p.warnings, p.done = list(warnings), True

    def _commit(self, changes: list[Change]) -> list[str]:
        """Under the lock: re-read, apply every change, rewrite once if any changed; returns warnings."""
        found: list[str] = []
        try:
            with self._locked():
                data, corrupt = self._load()
                if corrupt:
                    aside = self.path.with_name(f"{LEDGER_NAME}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
                    if aside.exists():
                        aside = aside.with_name(f"{aside.name}-{secrets.token_hex(2)}")
                    os.rename(self.path, aside)
                    found.append(f"{self.path} was not a valid hfops ledger; kept aside as {aside.name}, started anew")
                changed = [change(data) for change in changes]  # every one applied, none skipped
                if any(changed) or corrupt:
                    data["version"] = _VERSION
                    generation = data.get("generation")
                    valid = isinstance(generation, int) and not isinstance(generation, bool) and generation >= 0
                    data["generation"] = (generation if valid and isinstance(generation, int) else 0) + 1
                    written = atomic_write(self.path, _serialise(data), mode=0o600)
                    # What this run just wrote needs no re-reading: recognised by the file's identity.
                    self._entries = (_identity(written), _entries_of(data.get("outputs") or {}))
        except OSError as error:
            raise CredentialsError(f"cannot update {self.path}: {_reason(error)}") from None
        self.warnings.extend(found)
        return found

    def record(
        self,
        output_id: str,
        address: str,
        owner: str,
        digest: str | None = None,
        *,
        fingerprint_of: bytes | None = None,
    ) -> list[str]:
        """Record (or replace) an output's entry; returns warnings (a corrupt ledger kept aside).

        With `fingerprint_of`, the digest is `content_fingerprint(fingerprint_of, salt)` with the
        stored salt (made and stored, under the lock, the first time).
        """

        # The fingerprint (scrypt: ~0.1 s of CPU) is made here, outside the lock, with the salt
        # the ledger has now (or the one this object will store); redone under the lock only if
        # another run stored a different salt meanwhile.
        early_salt = self.salt() if fingerprint_of is not None else None
        early = content_fingerprint(fingerprint_of, early_salt) if fingerprint_of is not None and early_salt else None

        def add(data: dict[str, Any]) -> bool:
            value = digest
            if fingerprint_of is not None:
                salt = _stored_salt(data)
                if salt is None:
                    salt = early_salt or self._ephemeral_salt or secrets.token_bytes(16)
                    data["salt"] = salt.hex()
                value = early if salt == early_salt else content_fingerprint(fingerprint_of, salt)
            data.setdefault("outputs", {})[output_id] = {"address": address, "owner": owner, "digest": value}
            return True

        return self._change(add)

    def forget(self, output_id: str) -> list[str]:
        def drop(data: dict[str, Any]) -> bool:
            return data.get("outputs", {}).pop(output_id, None) is not None

        return self._change(drop)

    def record_directory(self, relative: str) -> list[str]:
        def add(data: dict[str, Any]) -> bool:
            known = data.get("directories")
            known = [d for d in known if isinstance(d, str)] if isinstance(known, list) else []
            if relative in known:
                return False
            data["directories"] = sorted({*known, relative})
            return True

        return self._change(add)

    def forget_directory(self, relative: str) -> list[str]:
        def drop(data: dict[str, Any]) -> bool:
            known = data.get("directories")
            if not isinstance(known, list) or relative not in known:
                return False
            data["directories"] = [d for d in known if d != relative]
            return True

        return self._change(drop)
