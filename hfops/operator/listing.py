"""Reads shared by every resource within one drift interval: endpoint lists, models, Secret lists.

A reconcile of one resource needs three things that are the same for many resources: the
Inference Endpoints of its namespace, its model as the Hub resolves it, and the hfops Secrets of
its Kubernetes namespace (to find stale credential keys). Read for each resource, all three grow
with the number of resources (N reconciles x N-sized answers). Here each is read once per key per
interval and shared:

- `SharedListing`: one list call per Inference Endpoints namespace per `max_age`. After the
  operator changes an endpoint, `remember` puts the answer it got into the listing, so the next
  timer does not see the pre-change state as drift.
- `SharedModels` (models.py): one resolution per (Hub, token, repository, revision).
- `SharedSecrets` (secrets.py): one list of a Kubernetes namespace's managed Secrets.

All three are `SharedReads`: the first to ask after the previous read of a key has aged past its
age limit reads it; every other one reuses it; readers of the same key wait for the one in flight
instead of starting their own. A read that raises is not kept: the next one to ask reads again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

from hfops.core.model import LiveEndpoint

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Lister = Callable[[str], Mapping[str, LiveEndpoint]]


class SharedReads(Generic[K, V]):
    """At most one read per key per age limit, shared by threads (module doc).

    `max_age_of(value)` may keep some values shorter than `max_age` (a refusal that may be fixed
    soon); it defaults to `max_age` for every value.
    """

    def __init__(
        self,
        *,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        max_age_of: Callable[[V], float] | None = None,
    ) -> None:
        self.max_age = max_age
        self._max_age_of = max_age_of
        self._clock = clock
        self._lock = threading.Lock()
        self._key_locks: dict[K, threading.Lock] = {}
        self._taken: dict[K, tuple[float, float]] = {}  # key -> (when read, how long it is kept)
        self._values: dict[K, V] = {}
        self.reads = 0  # reads made (for the benchmark and the tests)
        self._purged = clock()

    def _key_lock(self, key: K) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get(self, key: K, read: Callable[[K], V]) -> V:
        """The value of `key`, read with `read(key)` unless a read younger than its age limit is kept."""
        with self._key_lock(key):
            with self._lock:
                taken = self._taken.get(key)
                if taken is not None and self._clock() - taken[0] < taken[1]:
                    return self._values[key]
            value = read(key)  # raises: nothing kept, the next asker reads again
            keep = self.max_age if self._max_age_of is None else min(self.max_age, self._max_age_of(value))
            with self._lock:
                self.reads += 1
                now = self._clock()
                self._values[key] = value
                self._taken[key] = (now, keep)
                if now - self._purged >= self.max_age:
                    self._purge(now)
            return value

    def _purge(self, now: float) -> None:
        """Forget what aged out (a namespace no resource names any more, a rotated token's models):
        what is kept stays bounded by what is in use. Called under `_lock`, at most once per max_age."""
        self._purged = now
        for key in [k for k, (taken, keep) in self._taken.items() if now - taken >= keep]:
            del self._taken[key], self._values[key]
            lock = self._key_locks.get(key)
            if lock is not None and not lock.locked():
                del self._key_locks[key]

    def kept_keys(self) -> list[K]:
        """The keys with a kept value."""
        with self._lock:
            return list(self._values)

    def update(self, key: K, change: Callable[[V], None]) -> None:
        """Change the kept value of `key` in place (nothing when none is kept)."""
        with self._lock:
            if key in self._values:
                change(self._values[key])


def scope_of(url: str, token: str | None) -> str:
    """Who asks where, without keeping the token itself: a digest of the service URL and the token.
    Answers are shared only between askers of one scope (a resource's own token may see less)."""
    return hashlib.sha256(f"{url}\0{token or ''}".encode()).hexdigest()[:16]


class SharedListing:
    """One list call per Inference Endpoints namespace and token per `max_age`, shared by every
    resource reading it with that token (a resource with its own token that cannot read the
    namespace is told so, not served what another token read)."""

    def __init__(self, *, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._reads: SharedReads[tuple[str, str], dict[str, LiveEndpoint]] = SharedReads(
            max_age=max_age, clock=clock
        )

    @property
    def lists(self) -> int:
        """List calls made (for the benchmark and the tests)."""
        return self._reads.reads

    def read(self, namespace: str, lister: Lister, *, scope: str = "") -> dict[str, LiveEndpoint]:
        """{address: live} of `namespace` as `scope` sees it, listed at most once per `max_age`."""
        listed = self._reads.get((scope, namespace), lambda key: dict(lister(key[1])))
        with self._reads._lock:
            return dict(listed)

    def remember(self, namespace: str, address: str, live: LiveEndpoint | None) -> None:
        """What the operator just did to one endpoint (None: deleted), in every kept listing of the
        namespace (whichever token read it: the change is the service's)."""

        def change(entries: dict[str, LiveEndpoint]) -> None:
            if live is None:
                entries.pop(address, None)
            else:
                entries[address] = live

        for key in self._reads.kept_keys():
            if key[1] == namespace:
                self._reads.update(key, change)
