"""Parsing manifests in a second process while this one gets ready for the network.

A plan is CPU-bound until its first request: parsing YAML (libyaml, then building values in
Python) and importing huggingface_hub's HTTP stack (httpx: 50-60 ms) each hold the GIL, so
threads cannot overlap them, but this machine has more than one core. `start_manifest_load`
reads the manifest files here, forks a child that parses a share of them (`read_documents`, the
same function a serial load uses) and sends the parsed documents back through a pipe; this
process goes on to import and build its client, parses its own share, then assembles the whole
set (Defaults, schema checks, fleet checks) exactly as a serial load does. Black formats files
in a process pool for the same reason.

Only where it is safe and worth it: on Linux, in the console process (`gc_pause.command_ends_process`:
never in tests that call `main(argv)`, an embedding program or the operator), with no other
thread running (a child forked beside a thread could inherit a lock that thread held), for at
least `MIN_PARALLEL_BYTES` of manifests, and unless `HFOPS_MANIFEST_WORKERS=1`. The child only
parses what it was given in memory: it opens no file, makes no request, writes nothing but its
answer, and leaves by `os._exit` (no atexit handler, no flush of this process's buffers). If it
fails in any way (killed, interrupted, an unpicklable answer, a short read), this process parses
its share itself: the result never depends on the child.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from hfops.core import gc_pause
from hfops.core.manifest import (
    ManifestSet,
    ManifestTexts,
    ParsedFile,
    assemble_manifests,
    read_documents,
    read_manifest_files,
)

# Below this much YAML a fork costs more than it saves (a 200-endpoint file parses in ~25 ms).
MIN_PARALLEL_BYTES = 64 * 1024
# What this process does between the fork and its own share (imports, client), in bytes of YAML
# parsed in the same time (~6 KB per ms here): the child takes that much more than half.
PREPARATION_BYTES = 400 * 1024
WORKERS_VARIABLE = "HFOPS_MANIFEST_WORKERS"


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
    """The files the child parses: the first ones, up to half of the work plus the preparation."""
    sizes = [(file, len(text)) for file, text in texts.texts.items()]
    total = sum(size for _, size in sizes)
    target = (total + PREPARATION_BYTES) / 2
    share: list[str] = []
    taken = 0
    for file, size in sizes:
        if taken >= target:
            break
        share.append(file)
        taken += size
    return tuple(share)


@dataclass
class StartedLoad:
    """A manifest load begun by `start_manifest_load`; `result()` finishes it (once)."""

    texts: ManifestTexts
    default_namespace: str | None
    allow_empty: bool
    child_files: tuple[str, ...] = ()
    pid: int | None = None
    _answer_fd: int | None = None
    _result: ManifestSet | None = field(default=None, repr=False)

    @property
    def paths(self) -> tuple[str, ...]:
        return self.texts.paths

    def result(self) -> ManifestSet:
        """The ManifestSet, as `load_manifests` would give it; raises its ManifestError."""
        if self._result is not None:
            return self._result
        with gc_pause.paused_gc():
            mine = {
                file: read_documents(text, file=file)
                for file, text in self.texts.texts.items()
                if file not in self.child_files
            }
            forked = self.pid is not None
            theirs = self._collect()
            debug = bool(os.environ.get("HFOPS_DEBUG"))
            if theirs is None:  # no child, or it failed: the same parse, here
                if forked and debug:
                    sys.stderr.write("hfops: the second process failed; its manifest files were parsed here\n")
                theirs = {file: read_documents(self.texts.texts[file], file=file) for file in self.child_files}
            elif debug:
                count = f"{len(theirs)} of {len(self.texts.texts)}"
                sys.stderr.write(f"hfops: {count} manifest files parsed by a second process\n")
            self._result = assemble_manifests(
                self.texts, {**mine, **theirs}, default_namespace=self.default_namespace, allow_empty=self.allow_empty
            )
        return self._result

    def _collect(self) -> dict[str, ParsedFile] | None:
        fd, self._answer_fd = self._answer_fd, None
        if fd is None:
            return None
        try:
            with os.fdopen(fd, "rb") as answer:
                data = answer.read()
        except OSError:
            data = b""
        ok = self._reap()
        if not ok or not data:
            return None
        parsed: dict[str, ParsedFile] = {}
        try:
            with io.BytesIO(data) as stream:
                while stream.tell() < len(data):
                    parsed.update(_TextSharingUnpickler(stream, self.texts).load())
        except Exception:
            return None
        del data
        if set(parsed) != set(self.child_files):
            return None
        return parsed

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

    def __init__(self, stream: io.BytesIO, texts: ManifestTexts) -> None:
        super().__init__(stream, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = {id(text): file for file, text in texts.texts.items()}

    def persistent_id(self, obj: object) -> str | None:
        return self._names.get(id(obj)) if isinstance(obj, str) else None


class _TextSharingUnpickler(pickle.Unpickler):
    def __init__(self, stream: io.BytesIO, texts: ManifestTexts) -> None:
        super().__init__(stream)
        self._texts = texts.texts

    def persistent_load(self, pid: object) -> str:
        if not isinstance(pid, str) or pid not in self._texts:
            raise pickle.UnpicklingError(f"unknown text {pid!r}")
        return self._texts[pid]


def _child(texts: ManifestTexts, files: Sequence[str], answer_fd: int) -> None:
    """In the forked child: parse `files`, write the pickled result, leave. Never returns."""
    code = 1
    try:
        # Ctrl+C reaches the whole process group: the child just ends (its parent decides).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # One file at a time, each pickled and let go before the next: the child holds one
        # file's values at most (its answer is a tenth of their size), not its whole share.
        pickled: list[bytes] = []
        with gc_pause.paused_gc():
            for file in files:
                one = {file: read_documents(texts.texts[file], file=file)}
                buffer = io.BytesIO()
                _TextSharingPickler(buffer, texts).dump(one)
                pickled.append(buffer.getvalue())
                del one, buffer
        data = b"".join(pickled)
        del pickled
        view = memoryview(data)
        while view:
            view = view[os.write(answer_fd, view) :]
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
        try:
            pid = os.fork()
        except OSError:  # no memory or process slots for a child: parse everything here
            os.close(read_fd)
            os.close(write_fd)
        else:
            if pid == 0:
                os.close(read_fd)
                _child(texts, files, write_fd)
            os.close(write_fd)
            started = StartedLoad(texts, default_namespace, allow_empty, files, pid, read_fd)
            if os.environ.get("HFOPS_DEBUG"):
                share = f"{len(files)} of {len(texts.texts)}"
                sys.stderr.write(f"hfops: a second process started for {share} manifest files\n")
    try:
        yield started
    finally:
        started.close()
