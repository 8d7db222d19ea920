"""Reads begun before the manifests are parsed, on a guess of what they name (`core/read_guess.py`).

A plan of a large set is CPU-bound for its first 150 ms (500 endpoints; a second or more for 5,000:
parsing, in a second process, and imports here), then waits a round trip for the lists and the
models. Started from the raw text as soon as the HTTP client exists, those reads are answered
while the manifests are still being parsed. The plan uses an early read only for what the parsed
manifests really name (`Reconciler.read_live`, `resolve_models`), and makes the reads the guess
missed itself; a read guessed wrongly is never looked at, its answer or its error dropped.

Same calls as the plan's own: one `HubEndpoints` and one `ModelResolver` on one `RetryPolicy`,
which the reconciler then adopts, so that pacing, the retry budget and the stop event (SIGINT)
cover early reads too. They run on daemon threads: a run that ends before a read it did not need
has answered (manifests refused, a slow service) leaves without waiting for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from hfops.adapters.settings import Settings
from hfops.core.read_guess import LikelyReads
from hfops.core.redact import REDACTOR

if TYPE_CHECKING:
    from collections.abc import Collection

    from hfops.adapters.endpoints import HubEndpoints
    from hfops.adapters.hub import ModelResolver
    from hfops.adapters.retry import RetryPolicy
    from hfops.core.errors import PlanError
    from hfops.core.model import LiveEndpoint, ResolvedModel

ModelKey = tuple[str, str]
T = TypeVar("T")


class _DaemonThreads:
    """`submit` as an executor has it, each call on a daemon thread, at most `limit` at once."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, limit))
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            with self._slots:
                if self._closed:
                    future.cancel()  # no one takes it any more
                    return
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    result = fn(*args, **kwargs)
                except BaseException as error:  # handed to whoever takes the future
                    future.set_exception(error)
                else:
                    future.set_result(result)

        threading.Thread(target=run, name="hfops-early", daemon=True).start()
        return future

    def close(self) -> None:
        """Start nothing more (calls already running finish on their own)."""
        self._closed = True


class EarlyReads:
    """The adapters of a run, and the reads it started on a guess; `start()` sends them."""

    def __init__(self, settings: Settings, guess: LikelyReads) -> None:
        from hfops.adapters.endpoints import HubEndpoints
        from hfops.adapters.hub import ModelResolver
        from hfops.adapters.retry import RetryPolicy

        if settings.token:
            REDACTOR.add(settings.token)  # before any request: an error may quote it
        self.settings = settings
        self.guess = guess
        self.retry: RetryPolicy = RetryPolicy()
        self.endpoints: HubEndpoints = HubEndpoints(settings, retry=self.retry)
        self.models: ModelResolver = ModelResolver(settings, retry=self.retry)
        self._threads: _DaemonThreads | None = None
        self._model_threads: _DaemonThreads | None = None
        self._lists: dict[str, Future[list[LiveEndpoint]]] = {}
        self._resolved: Future[dict[ModelKey, ResolvedModel | PlanError]] | None = None
        self.used = 0  # reads the plan took (for HFOPS_DEBUG)

    def start(self) -> None:
        """Send the guessed reads (once; nothing without a token: the reconciler refuses that)."""
        if self._threads is not None or not self.settings.token or not self.guess:
            return
        namespaces, models = self.guess.namespaces, self.guess.models
        # The plan's own bounds: at most `parallelism` lists at once, and as many model reads (the
        # resolution that waits on those reads has a thread of its own, outside both bounds).
        threads = self._threads = _DaemonThreads(self.settings.parallelism)
        for namespace in namespaces:
            self._lists[namespace] = threads.submit(self.endpoints.list, namespace)
        if models:
            self._model_threads = _DaemonThreads(self.settings.parallelism)
            self._resolved = _DaemonThreads(1).submit(
                self.models.resolve_all, models, parallelism=self.settings.parallelism,
                submit=self._model_threads.submit,
            )

    @property
    def namespaces(self) -> frozenset[str]:
        """The namespaces read early and not yet taken."""
        return frozenset(self._lists)

    @property
    def model_keys(self) -> frozenset[ModelKey]:
        return frozenset(self.guess.models) if self._resolved is not None else frozenset()

    def take_list(self, namespace: str) -> Future[list[LiveEndpoint]] | None:
        """The early read of `namespace`'s list, once; None if it was not guessed."""
        future = self._lists.pop(namespace, None)
        if future is not None:
            self.used += 1
        return future

    def take_models(self, wanted: Collection[ModelKey]) -> dict[ModelKey, ResolvedModel | PlanError]:
        """The early resolutions of the `wanted` models that were guessed (waits for them, once).

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
        taken = {key: result for key, result in results.items() if key in wanted}
        self.used += len(taken)
        return taken

    def describe_start(self) -> str:
        """What is being read ahead (HFOPS_DEBUG; counts only: a guess may be wrong)."""
        return f"reading ahead {len(self.guess.namespaces)} namespace lists and {len(self.guess.models)} models"

    def describe(self) -> str:
        """What was read ahead and how much of it the plan used (HFOPS_DEBUG)."""
        guessed = len(self.guess.namespaces) + len(self.guess.models)
        return (
            f"read ahead {len(self.guess.namespaces)} namespace lists and {len(self.guess.models)} models; "
            f"the plan used {self.used} of those {guessed} reads"
        )

    def close(self) -> None:
        """Drop what was not taken: its answers and its errors are never read."""
        self._lists.clear()
        self._resolved = None
        for threads in (self._threads, self._model_threads):
            if threads is not None:
                threads.close()
