"""How the executor reaches the API while it works: a clock, shared status reads, throttled writes.

`Poller` serves every waiter of a namespace from one thread and one list call per poll;
`Throttled` bounds the requests in flight and refuses to start a write after an interrupt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from hfops.adapters.endpoints import EndpointWriter
from hfops.adapters.pacing import PACER
from hfops.core.diff import Desired
from hfops.core.errors import NotStarted
from hfops.core.model import LiveEndpoint


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def __init__(self, stop: threading.Event | None = None) -> None:
        self._stop = stop

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self._stop is not None:
            self._stop.wait(seconds)
        else:
            time.sleep(seconds)


Seen = Literal["done", "moved", "waiting"]


class Watch(Protocol):
    """One endpoint being waited on: told what each list shows of it, says when it is done."""

    namespace: str
    name: str
    # Lists that started at or before this moment are not taken as its state (see `Poller`).
    since: float

    def observe(self, current: LiveEndpoint | None) -> Seen:
        """Take in the endpoint's state (None: gone): "done" once the watch is over (its owner was
        told), "moved" if the state changed, else "waiting"."""
        ...

    def failed(self, error: Exception) -> None:
        """Reading the state failed after the retries (or unexpectedly): the watch is over."""
        ...

    def interrupted(self) -> None:
        """The run was interrupted (SIGINT/SIGTERM): the watch is over."""
        ...

    def expected_at(self) -> float | None:
        """When this endpoint is expected to be done (monotonic), if that can be guessed."""
        ...


class Poller:
    """The waits of one namespace served by one thread and one list call per poll.

    A thread per endpoint waiting costs a thread each (hundreds for a large apply) and a poll each
    unless they share a cache; here one thread per namespace lists it, hands each watch its entry,
    and sleeps. Adaptive: the poll comes back at `min_interval` after one that saw progress (a
    batch created together becomes ready together), doubles up to `max_interval` while nothing
    moves, and is brought forward to the moment a watch expects to be done; while the API's rate
    budget is scarce (pacing.py) it polls at `max_interval`, leaving the budget to writes. A list is stamped
    with the time it *started*; a watch only accepts one started after its own write, so a list
    already in flight when an endpoint was created is never taken for "the endpoint is gone".
    An endpoint missing from a list is confirmed with a direct read before a watch is told so.
    """

    def __init__(
        self,
        reader: EndpointWriter,
        namespace: str,
        *,
        min_interval: float,
        max_interval: float,
        clock: Clock,
        stop: threading.Event,
    ) -> None:
        self._reader = reader
        self.namespace = namespace
        self._min = min_interval
        self._max = max(min_interval, max_interval)
        self._clock = clock
        self._stop = stop
        self._lock = threading.Lock()
        self._watches: list[Watch] = []
        self._thread: threading.Thread | None = None
        self.polls = 0

    def add(self, watch: Watch) -> None:
        with self._lock:
            self._watches.append(watch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"hfops-poll-{self.namespace}"[:60], daemon=True
                )
                self._thread.start()

    def _next_sleep(self, interval: float) -> float:
        now = self._clock.monotonic()
        with self._lock:
            expected = [t for w in self._watches if (t := w.expected_at()) is not None and t > now]
        if expected:
            return max(self._min, min(interval, min(expected) - now))
        return interval

    def _run(self) -> None:
        interval = self._min
        while True:
            with self._lock:
                if not self._watches:
                    self._thread = None
                    return
            self._clock.sleep(self._next_sleep(interval))
            with self._lock:
                watches = list(self._watches)
            if self._stop.is_set():
                for watch in watches:
                    self._remove(watch)
                    watch.interrupted()
                continue
            started = self._clock.monotonic()
            try:
                listed = {e.name: e for e in self._reader.list(self.namespace)}
                self.polls += 1
            except Exception as error:  # every watch is told: none may be left waiting forever
                for watch in watches:
                    self._remove(watch)
                    watch.failed(error)
                continue
            progress = False
            for watch in watches:
                if watch.since >= started:
                    continue  # this list may predate the watch's write: the next one decides
                current = listed.get(watch.name)
                try:
                    if current is None:
                        current = self._reader.get(self.namespace, watch.name)
                    seen = watch.observe(current)
                except Exception as error:  # this watch is over; the others go on
                    self._remove(watch)
                    watch.failed(error)
                    continue
                if seen == "done":
                    self._remove(watch)
                progress = progress or seen != "waiting"
            interval = self._min if progress else min(self._max, interval * 2)
            if PACER.scarce():
                interval = self._max  # the API's rate budget is for the writes: poll at the slowest

    def _remove(self, watch: Watch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)


class Throttled:
    """An EndpointWriter whose calls share `parallelism` slots.

    The limit applies to requests in flight, not to endpoints being worked on: an endpoint that
    is only waiting for its replica holds no slot, so 100 endpoints start together and the
    apply takes about as long as the slowest start-up, with at most `parallelism` requests open.
    """

    def __init__(self, inner: EndpointWriter, slots: threading.BoundedSemaphore, stop: threading.Event) -> None:
        self._inner = inner
        self._slots = slots
        self._stop = stop

    def _start_write(self) -> None:
        # Checked once a slot is held: work queued before an interrupt must not start after it.
        if self._stop.is_set():
            self._slots.release()
            raise NotStarted("not started: interrupted")

    def list(self, namespace: str) -> list[LiveEndpoint]:
        with self._slots:
            return self._inner.list(namespace)

    def get(self, namespace: str, name: str) -> LiveEndpoint | None:
        with self._slots:
            return self._inner.get(namespace, name)

    def create(self, desired: Desired, secrets: Mapping[str, str]) -> LiveEndpoint:
        self._slots.acquire()
        self._start_write()
        try:
            return self._inner.create(desired, secrets)
        finally:
            self._slots.release()

    def update(self, namespace: str, name: str, payload: Mapping[str, Any]) -> LiveEndpoint:
        self._slots.acquire()
        self._start_write()
        try:
            return self._inner.update(namespace, name, payload)
        finally:
            self._slots.release()

    def delete(self, namespace: str, name: str) -> None:
        self._slots.acquire()
        self._start_write()
        try:
            self._inner.delete(namespace, name)
        finally:
            self._slots.release()

    def resume(self, namespace: str, name: str) -> LiveEndpoint:
        self._slots.acquire()
        self._start_write()
        try:
            return self._inner.resume(namespace, name)
        finally:
            self._slots.release()

    def pause(self, namespace: str, name: str) -> LiveEndpoint:
        self._slots.acquire()
        self._start_write()
        try:
            return self._inner.pause(namespace, name)
        finally:
            self._slots.release()
