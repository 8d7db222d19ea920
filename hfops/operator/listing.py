"""One list call per Inference Endpoints namespace per drift interval, shared by every resource.

The drift timers of all resources ask `SharedListing.read(namespace)`; the first to ask after the
previous listing of that namespace has aged past `max_age` lists the namespace (one call,
`HubEndpoints.list`), every other one reuses it. Reads of the same namespace wait for the one in
flight instead of starting their own. After the operator changes an endpoint, `remember` puts
the answer it got into the listing, so the next timer does not see the pre-change state as drift.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from hfops.core.model import LiveEndpoint

Lister = Callable[[str], Mapping[str, LiveEndpoint]]


class SharedListing:
    def __init__(self, *, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._namespace_locks: dict[str, threading.Lock] = {}
        self._taken: dict[str, float] = {}
        self._entries: dict[str, dict[str, LiveEndpoint]] = {}
        self.lists = 0  # list calls made (for the benchmark and the tests)

    def _namespace_lock(self, namespace: str) -> threading.Lock:
        with self._lock:
            return self._namespace_locks.setdefault(namespace, threading.Lock())

    def read(self, namespace: str, lister: Lister) -> dict[str, LiveEndpoint]:
        """{address: live} of `namespace`, listed at most once per `max_age`."""
        with self._namespace_lock(namespace):
            taken = self._taken.get(namespace)
            if taken is None or self._clock() - taken >= self.max_age:
                listed = dict(lister(namespace))
                with self._lock:
                    self.lists += 1
                    self._entries[namespace] = listed
                    self._taken[namespace] = self._clock()
            with self._lock:
                return dict(self._entries[namespace])

    def remember(self, namespace: str, address: str, live: LiveEndpoint | None) -> None:
        """What the operator just did to one endpoint (None: deleted), if the namespace is listed."""
        with self._lock:
            entries = self._entries.get(namespace)
            if entries is None:
                return
            if live is None:
                entries.pop(address, None)
            else:
                entries[address] = live
