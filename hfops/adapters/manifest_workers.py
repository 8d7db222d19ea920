"""Parsing manifests in a second process while this one gets ready for the network.

A plan is CPU-bound until its first request: parsing YAML (libyaml, then building values in
Python), building specs (schema, Defaults, checks) and importing huggingface_hub's HTTP stack
(httpx: 50-60 ms) each hold the GIL, so threads cannot overlap them, but this machine has more
than one core. `start_manifest_load` reads the manifest files here and forks a child that parses
a share of them (`read_documents`, the same function a serial load uses), builds their specs
ahead (`prebuild_file`) and sends each file's documents and specs back through a pipe as it is
done; this process goes on to import and build its client, parses and builds its own share the
same way, then assembles the whole set (Defaults, schema, fleet checks) as a serial load does.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from hfops.adapters.pipe_drain import drained
from hfops.core import gc_pause
from hfops.core.manifest_files import ManifestTexts, might_hold_defaults, read_manifest_files
from hfops.core.manifest_parts import FilePart, cut_near, is_whole, whole

if TYPE_CHECKING:
    # Imported where used: the child imports the parser after the fork, while this process
    # imports its HTTP stack (the fork comes 30 ms sooner).
    from hfops.core.manifest import ManifestSet, ParsedFile, PrebuiltSpecs

# Below this much YAML a fork costs more than it saves (a 200-endpoint file parses in ~25 ms).
MIN_PARALLEL_BYTES = 64 * 1024
# The time each process spends on a character of YAML, and this process's start-up, in units of
# this process parsing a character, as measured here (a plan of 5,000 endpoints in five files):
# the child parses, builds specs and pickles (~1.1 ms per KB); this process parses and builds its
# share (~0.95 ms per KB), after imports and its client (the child starts on its share ~0.25 s
# sooner), and unpickles the child's answer (~0.055 ms per KB). The child takes the share that
# makes the two end together.
CHILD_COST = 1.15
PARENT_COST = 1.0
COLLECT_COST = 0.06
PREPARATION_BYTES = 250 * 1024
# A file is cut (at a document start, `manifest_parts`) only into parts at least this large: a
# smaller balance is not worth a second parse set-up.
SMALLEST_PART = 16 * 1024
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


def _finish(taken: int, total: int) -> float:
    """When the later of the two processes ends if the child takes `taken` characters of `total`."""
    return max(CHILD_COST * taken, PREPARATION_BYTES + PARENT_COST * (total - taken) + COLLECT_COST * taken)


def child_share(texts: ManifestTexts) -> tuple[FilePart, ...]:
    """The parts the child parses and builds: the first files, and maybe the head of the next one
    (cut at a document start), as much as makes the two processes end together."""
    items = list(texts.texts.items())
    total = sum(len(text) for _, text in items)
    balance = (PREPARATION_BYTES + PARENT_COST * total) / (CHILD_COST + PARENT_COST - COLLECT_COST)
    best_finish, best = float("inf"), tuple(whole(f, t) for f, t in items[:1])
    taken = 0
    for count, (file, text) in enumerate(items, start=1):
        if taken < balance < taken + len(text) and not might_hold_defaults(text):
            # Defaults are parsed by each process whole, before its share: not worth a cut.
            cut = cut_near(text, round(balance - taken), smallest_part=SMALLEST_PART)
            if cut is not None and _finish(taken + cut, total) < best_finish:
                head = tuple(whole(f, t) for f, t in items[: count - 1])
                best_finish, best = _finish(taken + cut, total), (*head, FilePart(file, 0, cut))
        taken += len(text)
        if _finish(taken, total) < best_finish:
            best_finish, best = _finish(taken, total), tuple(whole(f, t) for f, t in items[:count])
    return best


def own_share(texts: ManifestTexts, child: Sequence[FilePart]) -> tuple[FilePart, ...]:
    """What the child's parts leave of the files, in file order."""
    given = {part.file: part for part in child}
    share = []
    for file, text in texts.texts.items():
        part = given.get(file)
        if part is None:
            share.append(whole(file, text))
        elif part.end < len(text):
            share.append(FilePart(file, part.end, len(text)))
    return tuple(share)


def defaults_files_beyond(texts: ManifestTexts, share: Sequence[FilePart]) -> tuple[str, ...] | None:
    """The files outside `share` that may hold Defaults (to parse as well before building the
    share's specs), or None when they are too large for building ahead to pay."""
    mine = {part.file for part in share}
    beyond = tuple(f for f, text in texts.texts.items() if f not in mine and might_hold_defaults(text))
    own = sum(part.size for part in share)
    if sum(len(texts.texts[f]) for f in beyond) > MAX_DEFAULTS_OVERHEAD * own:
        return None
    return beyond


def parse_and_prebuild(
    texts: ManifestTexts, share: Sequence[FilePart], default_namespace: str | None
) -> Iterator[tuple[FilePart, ParsedFile, PrebuiltSpecs | None]]:
    """Each part of `share` parsed and, when that pays, its specs built ahead, one at a time.

    The files that may hold Defaults (in the share or beyond it) are parsed first, whole: every
    spec needs them. Those beyond the share are parsed only for that and not given out.
    """
    from hfops.core.manifest import known_defaults, prebuild_file, read_part

    beyond = defaults_files_beyond(texts, share)
    if beyond is None:
        for part in share:
            yield part, read_part(texts, part), None
        return
    mine = {part.file for part in share}
    first = [f for f in texts.texts if f in beyond or (f in mine and might_hold_defaults(texts.texts[f]))]
    early = {file: read_part(texts, whole(file, texts.texts[file])) for file in first}
    defaults = known_defaults(texts, early)
    for part in share:
        text = texts.texts[part.file]
        parsed = early.pop(part.file) if is_whole(part, text) and part.file in early else read_part(texts, part)
        yield part, parsed, prebuild_file(texts, part.file, parsed, defaults, default_namespace=default_namespace)


_Answer = tuple[dict[FilePart, "ParsedFile"], dict[FilePart, "PrebuiltSpecs | None"]]


@dataclass
class StartedLoad:
    """A manifest load begun by `start_manifest_load`; `result()` finishes it (once)."""

    texts: ManifestTexts
    default_namespace: str | None
    allow_empty: bool
    child_parts: tuple[FilePart, ...] = ()
    pid: int | None = None
    _answer_fd: int | None = None
    _result: ManifestSet | None = field(default=None, repr=False)

    @property
    def paths(self) -> tuple[str, ...]:
        return self.texts.paths

    @property
    def child_files(self) -> tuple[str, ...]:
        """The files the child parses all or part of."""
        return tuple(dict.fromkeys(part.file for part in self.child_parts))

    def result(self, while_waiting: Callable[[], object] | None = None) -> ManifestSet:
        """The ManifestSet, as `load_manifests` would give it; raises its ManifestError.

        `while_waiting`: work for the time this process, its own share parsed, would wait for
        the child's. Done only when this process had a share of its own, before its first look
        at the child's answer.
        """
        if self._result is not None:
            return self._result
        from hfops.core.manifest import assemble_manifests, join_parts, read_part

        with gc_pause.paused_gc():
            forked = self.pid is not None
            parsed: dict[FilePart, ParsedFile] = {}
            prebuilt: dict[FilePart, PrebuiltSpecs | None] = {}
            mine = own_share(self.texts, self.child_parts)
            # Read from now on: the child's answer outgrows a pipe, and it must not wait for us.
            answer_stream = self._drain_answer()
            if forked:  # the child builds its share ahead: this process does the same with its own
                for part, parsed_part, ready in parse_and_prebuild(self.texts, mine, self.default_namespace):
                    parsed[part], prebuilt[part] = parsed_part, ready
            else:
                parsed = {part: read_part(self.texts, part) for part in mine}
            if forked and mine and while_waiting is not None:
                while_waiting()
            answer = self._collect(answer_stream)
            debug = bool(os.environ.get("HFOPS_DEBUG"))
            if answer is None:  # no child, or it failed: the same parse, here
                if forked and debug:
                    sys.stderr.write("hfops: the second process failed; its manifest files were parsed here\n")
                parsed.update((part, read_part(self.texts, part)) for part in self.child_parts)
            else:
                theirs, their_specs = answer
                parsed.update(theirs)
                prebuilt.update(their_specs)
                if debug:
                    count, more = _counted(self.child_parts, self.texts)
                    built = sum(len(p.specs) for p in their_specs.values() if p is not None)
                    sys.stderr.write(
                        f"hfops: {count} manifest files parsed by a second process{more} ({built} specs built there)\n"
                    )
            files, ready_specs = join_parts(self.texts, parsed, prebuilt)
            self._result = assemble_manifests(
                self.texts,
                files,
                default_namespace=self.default_namespace,
                allow_empty=self.allow_empty,
                prebuilt=ready_specs,
            )
        return self._result

    def _drain_answer(self) -> IO[bytes] | None:
        fd, self._answer_fd = self._answer_fd, None
        return None if fd is None else drained(fd)

    def _collect(self, stream: IO[bytes] | None) -> _Answer | None:
        """The child's answer, read as it streams in (one pickle per part); None if it failed."""
        if stream is None:
            return None
        parsed: dict[FilePart, ParsedFile] = {}
        prebuilt: dict[FilePart, PrebuiltSpecs | None] = {}
        complete = False
        try:
            with stream as answer:
                for expected in self.child_parts:
                    part, parsed_part, ready = _TextSharingUnpickler(answer, self.texts).load()
                    if part != expected:
                        break
                    parsed[part], prebuilt[part] = parsed_part, ready
                else:
                    complete = answer.read(1) == b""  # nothing after the last part
        except Exception:
            complete = False
        if not complete and self.pid is not None:  # its answer is of no use: do not wait for the rest
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        ok = self._reap()
        if not ok or not complete:
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
        if self._answer_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._answer_fd)
            self._answer_fd = None
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()


def _counted(parts: Sequence[FilePart], texts: ManifestTexts) -> tuple[str, str]:
    """How many files `parts` are, as "2 of 5", and ", and part of 1 more" when one is cut (or "")."""
    cut = sum(1 for part in parts if not is_whole(part, texts.texts[part.file]))
    return f"{len(parts) - cut} of {len(texts.texts)}", f", and part of {cut} more" if cut else ""


class _TextSharingPickler(pickle.Pickler):
    """Sends a file's text (kept by its documents to find lines on error) by name: the parent has
    the very same string, and a copy of every text would stay alive beside it.

    By `reducer_override`, which pickle calls for objects of classes only, not `persistent_id`,
    which it calls for every object: a thousand endpoints are ~170,000 of them (~40 ms)."""

    def __init__(self, stream: IO[bytes], texts: ManifestTexts) -> None:
        from hfops.core.yaml_source import FileLines

        super().__init__(stream, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = {id(text): file for file, text in texts.texts.items()}
        self._file_lines = FileLines

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is self._file_lines:
            text, lines = obj.__getstate__()
            name = self._names.get(id(text))
            if name is not None:
                return _shared_text_lines, (name, lines)
        return NotImplemented


def _shared_text_lines(name: str, lines: object) -> object:
    """Stands in a pickle for "the lines of the text named `name`"; only `_TextSharingUnpickler`,
    which has the texts, makes them."""
    raise pickle.UnpicklingError(f"the text {name!r} is not known here")


class _TextSharingUnpickler(pickle.Unpickler):
    def __init__(self, stream: IO[bytes], texts: ManifestTexts) -> None:
        super().__init__(stream)
        self._texts = texts.texts

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == _shared_text_lines.__name__:
            return self._file_lines
        return super().find_class(module, name)

    def _file_lines(self, name: object, lines: Any) -> object:
        from hfops.core.yaml_source import FileLines

        if not isinstance(name, str) or name not in self._texts:
            raise pickle.UnpicklingError(f"unknown text {name!r}")
        return FileLines.restored((self._texts[name], lines))


def _child(texts: ManifestTexts, parts: Sequence[FilePart], default_namespace: str | None, answer_fd: int) -> None:
    """In the forked child: parse `parts`, build their specs, send each one's as it is done, leave.

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
            for item in parse_and_prebuild(texts, parts, default_namespace):
                _TextSharingPickler(answer, texts).dump(item)
                del item
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
        parts = child_share(texts)
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe: the child need not wait for us
            import fcntl  # Linux only, as is this branch

            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:
            pid = os.fork()
        except OSError:  # no memory or process slots for a child: parse everything here
            os.close(read_fd)
            os.close(write_fd)
        else:
            if pid == 0:
                os.close(read_fd)
                _child(texts, parts, default_namespace, write_fd)
            os.close(write_fd)
            started = StartedLoad(texts, default_namespace, allow_empty, parts, pid, read_fd)
            if os.environ.get("HFOPS_DEBUG"):
                count, more = _counted(parts, texts)
                sys.stderr.write(f"hfops: a second process started for {count} manifest files{more}\n")
    try:
        yield started
    finally:
        started.close()
