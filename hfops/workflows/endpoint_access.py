"""How the executor reaches the API while it works: a clock, shared status reads, throttled writes.

`StatusCache` serves every waiter's state from one list call per namespace per poll interval;
`Throttled` bounds the requests in flight and refuses to start a write after an interrupt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from hfops.adapters.endpoints import EndpointWriter
from hfops.core.diff import Desired
from hfops.core.errors import HfopsError
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


class StatusCache:
    """Endpoint states for many waiters from one list call per namespace per poll interval.

    Waiting on N endpoints with one GET each every interval costs N calls per interval; reading
    the namespace's list once and sharing it costs one, which keeps a large apply well inside
    the API's rate limits. A snapshot is stamped with the time its list call *started*, and a
    waiter only accepts one started after its own write, so a list that was already in flight
    when an endpoint was created is never taken for "the endpoint is gone". An endpoint missing
    from a list is confirmed with a direct read before anyone concludes it disappeared.
    """

    def __init__(self, reader: EndpointWriter, *, max_age: float, clock: Clock) -> None:
        self._reader = reader
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._namespace_locks: dict[str, threading.Lock] = {}
        self._snapshots: dict[str, tuple[float, dict[str, LiveEndpoint]]] = {}

    def get(self, namespace: str, name: str, *, fresh_after: float = -1e18) -> LiveEndpoint | None:
        with self._lock:
            lock = self._namespace_locks.setdefault(namespace, threading.Lock())
        with lock:
            started, snapshot = self._snapshots.get(namespace, (-1e18, {}))
            now = self._clock.monotonic()
            if started <= fresh_after or now - started >= self._max_age:
                started = now
                snapshot = {e.name: e for e in self._reader.list(namespace)}
                self._snapshots[namespace] = (started, snapshot)
        found = snapshot.get(name)
        return found if found is not None else self._reader.get(namespace, name)


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


class NotStarted(HfopsError):
    """A write that was still queued when the run was interrupted."""
