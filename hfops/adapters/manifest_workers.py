"""Parsing manifests in a second process while this one gets ready for the network.

A plan is CPU-bound until its first request: parsing YAML (libyaml, then building values in
Python), building specs (schema, Defaults, checks) and importing huggingface_hub's HTTP stack
(httpx: 50-60 ms) each hold the GIL, so threads cannot overlap them, but this machine has more
than one core. `start_manifest_load` reads the manifest files here and forks a child that parses
a share of them (`read_documents`, the same function a serial load uses), builds their specs
ahead (`prebuild_file`) and sends each file's documents and specs back through a pipe as it is
done; this process goes on to import and build its client, parses and builds its own share the
same way, then assembles the whole set (Defaults, schema, fleet checks) as a serial load does.
The child takes the files of its share one at a time from a queue (`ClaimQueue`), from which
this process, its own share done, takes those the child has not reached: who is late varies from
run to run on a shared machine, and a whole file's parse is what one waited for the other.
Black formats files in a process pool for the same reason.

A spec depends on every Defaults document of the set, wherever it is: each process first parses
the files beyond its share that may hold one (`might_hold_defaults`), and `assemble_manifests`
uses a file's prebuilt specs only if they were built under exactly the Defaults the whole set
holds (else, and for any file with a problem, it builds them again): the guess can only cost time.

Only where it is safe and worth it: on Linux, in the console process (`gc_pause.command_ends_process`:
never in tests that call `main(argv)`, an embedding program or the operator), with no other
thread running (a child forked beside a thread could inherit a lock that thread held), for at
least `MIN_PARALLEL_BYTES` of manifests, and unless `HFOPS_MANIFEST_WORKERS=1`. The child only
works on what it was given in memory: it opens no file, makes no request, writes nothing but its
answer, and leaves by `os._exit` (no atexit handler, no flush of this process's buffers). If it
fails in any way (killed, interrupted, an unpicklable answer, a short read), this process parses
its share itself: the result never depends on the child.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from hfops.core import gc_pause
from hfops.core.manifest_files import ManifestTexts, read_manifest_files

if TYPE_CHECKING:
    # Imported where used: the child imports the parser after the fork, while this process
    # imports its HTTP stack (the fork comes 30 ms sooner).
    from hfops.core.manifest import ManifestSet, ParsedFile, PrebuiltSpecs

# Below this much YAML a fork costs more than it saves (a 200-endpoint file parses in ~25 ms).
MIN_PARALLEL_BYTES = 64 * 1024
# What this process does between the fork and its own share (imports, client), in bytes of YAML
# parsed in the same time (~6 KB per ms here).
PREPARATION_BYTES = 400 * 1024
# The cost of a byte of YAML to each process, in units of parsing it (measured here): the child
# parses, builds specs and pickles; this process parses and builds its share and unpickles the
# child's. The share is the prefix of the files that makes the later of the two end soonest.
# This process is the slower per byte (its pages are copied on write after the fork, and the
# thread building the HTTP client runs beside it).
CHILD_COST = 2.3
PARENT_COST = 3.5
COLLECT_COST = 0.1
# A process builds its share's specs only if the files beyond it that may hold Defaults (which
# it must parse too) are at most this fraction of its share; otherwise assembling builds them.
MAX_DEFAULTS_OVERHEAD = 0.25
WORKERS_VARIABLE = "HFOPS_MANIFEST_WORKERS"
PIPE_BYTES = 1024 * 1024  # Linux's default largest pipe for an unprivileged process


def parallel_allowed(env: dict[str, str] | os._Environ[str] | None = None) -> bool:
    env = os.environ if env is None else env
    return (
        sys.platform == "linux"
        and gc_pause.process_ends_with_command()
        and env.get(WORKERS_VARIABLE, "").strip() != "1"
        and (os.cpu_count() or 1) > 1
        and threading.active_count() == 1
    )


def child_share(texts: ManifestTexts) -> tuple[str, ...]:
    """The files the child parses and builds: the first ones, as many as balance the two processes."""
    sizes = [len(text) for text in texts.texts.values()]
    total = sum(sizes)
    best_cost, best_count, taken = float("inf"), 1, 0
    for count, size in enumerate(sizes, start=1):
        taken += size
        child = CHILD_COST * taken
        parent = PREPARATION_BYTES + PARENT_COST * (total - taken) + COLLECT_COST * taken
        if max(child, parent) < best_cost:
            best_cost, best_count = max(child, parent), count
    return tuple(list(texts.texts)[:best_count])


def defaults_files_beyond(texts: ManifestTexts, share: Sequence[str]) -> tuple[str, ...] | None:
    """The files outside `share` that may hold Defaults (to parse as well before building the
    share's specs), or None when they are too large for building ahead to pay."""
    from hfops.core.manifest import might_hold_defaults

    mine = set(share)
    beyond = tuple(f for f, text in texts.texts.items() if f not in mine and might_hold_defaults(text))
    own = sum(len(texts.texts[f]) for f in share)
    if sum(len(texts.texts[f]) for f in beyond) > MAX_DEFAULTS_OVERHEAD * own:
        return None
    return beyond


def parse_and_prebuild(
    texts: ManifestTexts,
    share: Sequence[str],
    default_namespace: str | None,
    taken: Iterable[str] | None = None,
) -> Iterator[tuple[str, ParsedFile, PrebuiltSpecs | None]]:
    """Each file of `share` parsed and, when that pays, its specs built ahead, one file at a time.

    The files that may hold Defaults (in the share or beyond it) are parsed first: every spec
    needs them. Those beyond the share are parsed only for that and not given out. `taken`: the
    files of the share to give out, as they are claimed (`ClaimQueue`: the parent takes some
    too); by default all of it, in order.
    """
    from hfops.core.manifest import known_defaults, might_hold_defaults, prebuild_file, read_documents

    order = share if taken is None else taken
    beyond = defaults_files_beyond(texts, share)
    if beyond is None:
        for file in order:
            yield file, read_documents(texts.texts[file], file=file), None
        return
    first = [f for f in texts.texts if f in beyond or (f in share and might_hold_defaults(texts.texts[f]))]
    early = {file: read_documents(texts.texts[file], file=file) for file in first}
    defaults = known_defaults(texts, early)
    for file in order:
        parsed = early.pop(file, None) or read_documents(texts.texts[file], file=file)
        yield file, parsed, prebuild_file(texts, file, parsed, defaults, default_namespace=default_namespace)


class ClaimQueue:
    """The child's share as a queue both processes take files from, one at a time.

    The cost model that sizes the share is a guess, and the machine is shared: the child is often
    late by a file or two (40-60 ms of a 350 ms plan of 500), while this process, ready, waited.
    Now this process, its own share done, takes the files of the child's share the child has not
    reached yet. A pipe of 2-byte indices, written in full and its write end closed before the
    fork: a read takes one whole index (a pipe read of 2 bytes from a buffer holding an even
    number of them never splits one), or b"" once the queue is empty; it never blocks. Each file
    is taken by exactly one process.
    """

    MAX_FILES = 16 * 1024  # 32 KiB of indices, at most

    def __init__(self, read_fd: int, files: Sequence[str]) -> None:
        self._fd: int | None = read_fd
        self._files = tuple(files)

    @classmethod
    def of(cls, files: Sequence[str]) -> ClaimQueue | None:
        """A queue of `files`, or None (too many, or no pipe to be had: the child takes them all)."""
        if not files or len(files) > cls.MAX_FILES:
            return None
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            return None
        data = b"".join(i.to_bytes(2, "big") for i in range(len(files)))
        try:
            # Never waits: nobody reads yet. A pipe holds 64 KiB, but only 4 KiB or 8 KiB once the
            # user's pipe buffers are used up (`pipe-user-pages-soft`): a short write is no queue.
            os.set_blocking(write_fd, False)
            written = os.write(write_fd, data)
        except OSError:  # BlockingIOError (full at once) included
            written = -1
        finally:
            os.close(write_fd)
        if written != len(data):
            os.close(read_fd)
            return None
        return cls(read_fd, files)

    def take(self) -> str | None:
        """The next file nobody has taken, now this process's; None when none is left."""
        if self._fd is None:
            return None
        try:
            read = os.read(self._fd, 2)
        except OSError:
            read = b""
        index = int.from_bytes(read, "big") if len(read) == 2 else len(self._files)
        if index >= len(self._files):
            self.close()  # empty (or, impossibly, garbled): whatever is left is never taken
            return None
        return self._files[index]

    def taken(self) -> Iterator[str]:
        """Take files one at a time until none is left (each taken just before it is yielded)."""
        while (file := self.take()) is not None:
            yield file

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class StartedLoad:
    """A manifest load begun by `start_manifest_load`; `result()` finishes it (once)."""

    texts: ManifestTexts
    default_namespace: str | None
    allow_empty: bool
    child_files: tuple[str, ...] = ()
    pid: int | None = None
    _answer_fd: int | None = None
    _claims: ClaimQueue | None = field(default=None, repr=False)
    _result: ManifestSet | None = field(default=None, repr=False)

    @property
    def paths(self) -> tuple[str, ...]:
        return self.texts.paths

    def result(self, while_waiting: Callable[[], object] | None = None) -> ManifestSet:
        """The ManifestSet, as `load_manifests` would give it; raises its ManifestError.

        `while_waiting`: work for the time this process, its own share parsed, would wait for
        the child's (a share is whole files: one of them often ends well before the other). Done
        only when this process had a share of its own, before its first look at the child's answer.
        """
        if self._result is not None:
            return self._result
        from hfops.core.manifest import assemble_manifests, read_documents

        with gc_pause.paused_gc():
            forked = self.pid is not None
            parsed: dict[str, ParsedFile] = {}
            prebuilt: dict[str, PrebuiltSpecs] = {}
            mine = [file for file in self.texts.texts if file not in self.child_files]
            if forked:  # the child builds its share ahead: this process does the same with its own
                for file, parsed_file, ready in parse_and_prebuild(self.texts, mine, self.default_namespace):
                    parsed[file] = parsed_file
                    if ready is not None:
                        prebuilt[file] = ready
            else:
                parsed = {file: read_documents(self.texts.texts[file], file=file) for file in mine}
            # The files of the child's share it has not reached: parsed here (their specs are built
            # by `assemble_manifests`, in this process either way).
            stolen: set[str] = set()
            if self._claims is not None:
                for file in self._claims.taken():
                    parsed[file] = read_documents(self.texts.texts[file], file=file)
                    stolen.add(file)
            if forked and mine and while_waiting is not None:
                while_waiting()
            answer = self._collect(stolen)
            debug = bool(os.environ.get("HFOPS_DEBUG"))
            if answer is None:  # no child, or it failed: the same parse, here
                if forked and debug:
                    sys.stderr.write("hfops: the second process failed; its manifest files were parsed here\n")
                parsed.update(
                    (file, read_documents(self.texts.texts[file], file=file))
                    for file in self.child_files
                    if file not in stolen
                )
            else:
                theirs, their_specs = answer
                parsed.update(theirs)
                prebuilt.update(their_specs)
                if debug:
                    count = f"{len(theirs)} of {len(self.texts.texts)}"
                    built = sum(len(p.specs) for p in their_specs.values())
                    here = f"; {len(stolen)} of its share it had not reached parsed here" if stolen else ""
                    sys.stderr.write(
                        f"hfops: {count} manifest files parsed by a second process ({built} specs built there){here}\n"
                    )
            self._result = assemble_manifests(
                self.texts,
                parsed,
                default_namespace=self.default_namespace,
                allow_empty=self.allow_empty,
                prebuilt=prebuilt,
            )
        return self._result

    def _collect(self, stolen: Collection[str]) -> tuple[dict[str, ParsedFile], dict[str, PrebuiltSpecs]] | None:
        """The child's answer, read as it streams in (one pickle per file it took, then None);
        None if it failed, or if its files and the `stolen` ones are not its share exactly."""
        fd, self._answer_fd = self._answer_fd, None
        if fd is None:
            return None
        parsed: dict[str, ParsedFile] = {}
        prebuilt: dict[str, PrebuiltSpecs] = {}
        complete = False
        try:
            with os.fdopen(fd, "rb") as answer:
                for _ in range(len(self.child_files) + 1):
                    item = _TextSharingUnpickler(answer, self.texts).load()
                    if item is None:  # its last file sent: nothing may follow
                        complete = answer.read(1) == b""
                        break
                    file, parsed_file, ready = item
                    if file not in self.child_files or file in parsed or file in stolen:
                        break
                    parsed[file] = parsed_file
                    if ready is not None:
                        prebuilt[file] = ready
        except Exception:
            complete = False
        ok = self._reap()
        if not ok or not complete or len(parsed) + len(stolen) != len(self.child_files):
            return None
        return parsed, prebuilt

    def _reap(self) -> bool:
        pid, self.pid = self.pid, None
        if pid is None:
            return False
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return False
        return os.waitstatus_to_exitcode(status) == 0

    def close(self) -> None:
        """Stop and reap the child if it still runs (an error or an interrupt before `result`)."""
        if self._claims is not None:
            self._claims.close()
        if self._answer_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._answer_fd)
            self._answer_fd = None
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()


class _TextSharingPickler(pickle.Pickler):
    """Sends a file's text (kept by its documents to find lines on error) by name: the parent has
    the very same string, and a copy of every text would stay alive beside it."""

    def __init__(self, stream: IO[bytes], names: Mapping[int, str]) -> None:
        super().__init__(stream, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = names

    @staticmethod
    def names_of(texts: ManifestTexts) -> dict[int, str]:
        """Each text's file by the text's id: made once per child (made once per file, it made a
        share of 3,000 small files quadratic: 9 million entries)."""
        return {id(text): file for file, text in texts.texts.items()}

    def persistent_id(self, obj: object) -> str | None:
        return self._names.get(id(obj)) if isinstance(obj, str) else None


class _TextSharingUnpickler(pickle.Unpickler):
    def __init__(self, stream: IO[bytes], texts: ManifestTexts) -> None:
        super().__init__(stream)
        self._texts = texts.texts

    def persistent_load(self, pid: object) -> str:
        if not isinstance(pid, str) or pid not in self._texts:
            raise pickle.UnpicklingError(f"unknown text {pid!r}")
        return self._texts[pid]


def _child(
    texts: ManifestTexts,
    files: Sequence[str],
    default_namespace: str | None,
    answer_fd: int,
    claims: ClaimQueue | None,
) -> None:
    """In the forked child: parse `files`, build their specs, send each file's as it is done, leave.

    Never returns. A pickle per file, each let go once written: the child holds one file's
    values at a time (and the Defaults), not its whole share, so its memory stays below the
    parent's (a Defaults document that several files' specs use arrives once per file).
    """
    code = 1
    try:
        # Ctrl+C reaches the whole process group: the child just ends (its parent decides).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with gc_pause.paused_gc(), os.fdopen(answer_fd, "wb", buffering=0) as answer:
            names = _TextSharingPickler.names_of(texts)
            taken = claims.taken() if claims is not None else None
            for item in parse_and_prebuild(texts, files, default_namespace, taken):
                _TextSharingPickler(answer, names).dump(item)
                del item
            _TextSharingPickler(answer, names).dump(None)  # complete: every file it took is sent
        code = 0
    except BaseException:
        pass
    finally:
        os._exit(code)


@contextlib.contextmanager
def start_manifest_load(
    paths: Sequence[str], *, default_namespace: str | None, allow_empty: bool
) -> Iterator[StartedLoad]:
    """Read the files now and, where allowed, start a child parsing a share of them.

    Use as a context manager: on leaving, a child not collected by `result()` is stopped.
    """
    texts = read_manifest_files(paths, allow_empty=allow_empty)
    started = StartedLoad(texts, default_namespace, allow_empty)
    total = sum(len(text) for text in texts.texts.values())
    if total >= MIN_PARALLEL_BYTES and parallel_allowed():
        files = child_share(texts)
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe: the child need not wait for us
            import fcntl  # Linux only, as is this branch

            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        claims = ClaimQueue.of(files)
        try:
            pid = os.fork()
        except OSError:  # no memory or process slots for a child: parse everything here
            os.close(read_fd)
            os.close(write_fd)
            if claims is not None:
                claims.close()
        else:
            if pid == 0:
                os.close(read_fd)
                _child(texts, files, default_namespace, write_fd, claims)
            os.close(write_fd)
            started = StartedLoad(texts, default_namespace, allow_empty, files, pid, read_fd, claims)
            if os.environ.get("HFOPS_DEBUG"):
                share = f"{len(files)} of {len(texts.texts)}"
                sys.stderr.write(f"hfops: a second process started for {share} manifest files\n")
    try:
        yield started
    finally:
        started.close()
