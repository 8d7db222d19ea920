"""A plan's reads, sent as soon as its manifests are validated, before the planner is imported.

A plan of a large set parses its manifests in a second process (`adapters/manifest_workers.py`)
while this one imports its HTTP stack; then it imports the planner (diff, plan, credentials: 40 ms
and more) and only then reads the lists and the models. With the manifests validated, those reads
need nothing of the planner: `EarlyReads` sends them at once, and the planner is imported while
they are out. Never before the manifests are valid (contract: everything is validated before any
network call), nor when the reconciler would refuse to run (no token, an owner it cannot record,
a secret variable unset): it then says so as before, having sent nothing.

The same calls as the plan's own, on the run's adapters (`run_adapters.py`), which the reconciler
adopts, so that pacing, the retry budget and the stop event (SIGINT) cover
them too. They run on daemon threads: a run that fails before it takes them leaves at once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from hfops.adapters.settings import Settings
from hfops.core.redact import REDACTOR
from hfops.workflows.run_adapters import refusal, run_adapters

if TYPE_CHECKING:
    from collections.abc import Collection

    from hfops.adapters.retry import RetryPolicy
    from hfops.core.errors import PlanError
    from hfops.core.model import EndpointSpec, LiveEndpoint, ResolvedModel

ModelKey = tuple[str, str]
T = TypeVar("T")


class _DaemonThreads:
    """`submit` as an executor has it, on at most `limit` daemon threads (made as work comes).

    A pool of its own because `ThreadPoolExecutor`'s threads are joined when the interpreter
    exits, and one waiting on a slow answer nobody needs would hold the exit up. If no thread can
    be made (a pids limit), `submit` raises and the call is never made.
    """

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
        self._work = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._workers < self._limit:
                try:
                    threading.Thread(target=self._run, name="hfops-early", daemon=True).start()
                except RuntimeError:
                    if self._workers == 0:
                        raise  # nothing queued: the call is not made
                else:
                    self._workers += 1
            self._work.put((future, fn, args, kwargs))
        return future

    def _run(self) -> None:
        # A thread ends as soon as no call waits (not kept idle, as an executor keeps its own):
        # a few threads that each parsed a large answer and lived on held their malloc arenas,
        # 5 MB more at the peak of a 5,000-endpoint plan.
        while True:
            with self._lock:  # `submit` queues under the same lock: no call is left without a thread
                try:
                    future, fn, args, kwargs = self._work.get_nowait()
                except queue.Empty:
                    self._workers -= 1
                    return
            if self._closed:
                future.cancel()  # no one takes it any more
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:  # handed to whoever takes the future
                future.set_exception(error)
            else:
                future.set_result(result)
                del result
            del future, fn, args, kwargs  # nothing of a call outlives it here

    def close(self) -> None:
        """Start nothing more (calls already running finish on their own; daemons: never waited for)."""
        self._closed = True


class EarlyReads:
    """The adapters of a run, and the reads `start` sent for validated manifests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.adapters = run_adapters(settings)  # the reconciler's, once it adopts them
        self._threads: list[_DaemonThreads] = []
        self._lists: dict[str, Future[list[LiveEndpoint]]] = {}
        self._resolved: Future[dict[ModelKey, ResolvedModel | PlanError]] | None = None
        self._model_keys: frozenset[ModelKey] = frozenset()
        self.sent = (0, 0)  # namespace lists and models read early (HFOPS_DEBUG)

    @property
    def retry(self) -> RetryPolicy:
        return self.adapters.retry

    def may_start(self) -> bool:
        """Whether the reconciler will run with these settings: else it refuses before any
        request (`run_adapters.refusal`), and so must this."""
        return refusal(self.settings) is None

    def start(self, specs: Sequence[EndpointSpec], env: Mapping[str, str]) -> bool:
        """Send the lists of the specs' namespaces and the resolution of their models, once, if
        the reconciler would: with `may_start`, no secret variable unset (it refuses that first),
        and every spec named its namespace (else it asks whoami first, and reads nothing if that
        fails)."""
        from hfops.core.secret_env import check_secret_env

        if self._threads or not specs or not self.may_start() or check_secret_env(specs, env):
            return False
        if any(s.namespace is None for s in specs):
            return False  # the reconciler asks whoami first, and reads nothing if that fails
        if self.retry.stop.is_set():  # interrupted meanwhile: the reconciler stops before reading
            return False
        REDACTOR.add(self.settings.token or "")  # before any request: an error may quote it
        namespaces = sorted({s.namespace for s in specs if s.namespace})
        models = sorted({s.model_key for s in specs})
        # The plan's own bounds: at most `parallelism` lists at once, and as many model reads (the
        # resolution that waits on those reads has a thread of its own, outside both bounds).
        list_threads, read_threads, waiting = (
            _DaemonThreads(self.settings.parallelism),
            _DaemonThreads(self.settings.parallelism),
            _DaemonThreads(1),
        )
        self._threads = [list_threads, read_threads, waiting]
        # No thread to be had (a pids limit): what could not be sent is read by the reconciler.
        with contextlib.suppress(RuntimeError):
            for namespace in namespaces:
                self._lists[namespace] = list_threads.submit(self.adapters.endpoints.list, namespace)
        with contextlib.suppress(RuntimeError):
            resolve = self.adapters.models.resolve_all
            self._resolved = waiting.submit(
                resolve, models, parallelism=self.settings.parallelism, submit=read_threads.submit
            )
            self._model_keys = frozenset(models)
        self.sent = (len(self._lists), len(self._model_keys))
        return True

    @property
    def namespaces(self) -> frozenset[str]:
        """The namespaces read early and not yet taken."""
        return frozenset(self._lists)

    @property
    def model_keys(self) -> frozenset[ModelKey]:
        """The models being resolved early, until taken."""
        return self._model_keys if self._resolved is not None else frozenset()

    def take_list(self, namespace: str) -> Future[list[LiveEndpoint]] | None:
        """The early read of `namespace`'s list, once; None if it was not read early."""
        return self._lists.pop(namespace, None)

    def take_models(self, wanted: Collection[ModelKey]) -> dict[ModelKey, ResolvedModel | PlanError]:
        """The early resolutions of the `wanted` models (waits for them, once).

        An interrupt is raised as a resolution made now would raise it; any other failure of the
        whole resolution gives nothing (the plan resolves the models itself, and meets it there).
        """
        from hfops.core.errors import Interrupted

        resolved, self._resolved = self._resolved, None
        if resolved is None:
            return {}
        try:
            results = resolved.result()
        except (Interrupted, KeyboardInterrupt):
            raise
        except Exception:
            return {}
        return {key: result for key, result in results.items() if key in wanted}

    def describe(self) -> str:
        """What was sent early (HFOPS_DEBUG)."""
        lists, models = self.sent
        return f"{lists} namespace lists and {models} models read once the manifests were valid"

    def close(self) -> None:
        """Drop what was not taken: its answers and its errors are never read."""
        self._lists.clear()
        self._resolved = None
        for threads in self._threads:
            threads.close()
