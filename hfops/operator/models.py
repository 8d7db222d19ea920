"""One Hub resolution per model per drift interval, shared by every resource that deploys it.

A reconcile resolves its model (model info: the revision's commit, the task; config.json: the
context length). For N resources on one model that is N identical pairs of Hub calls per
interval. `SharedModels` keeps each resolution for `max_age` (the drift interval, so a branch
that moved on the Hub is seen at the next interval), keyed by the Hub, the token (a resource's
own token may see what the operator's cannot: a gated or private model), the repository and the
revision, so two resources on one repository at two revisions are two resolutions.

A refusal (no such model or revision, not a text-generation model, the Hub unreachable) is kept
too, but only for `refused_max_age` (the retry delay): every resource on that model is still told
ModelRefused, while the Hub is asked again soon rather than once per resource; a model that comes
to exist is seen at the next interval at the latest.

`CachedModelResolver` is the `ModelResolver` face the reconciler calls (`resolve_all`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from hfops.core.errors import PlanError
from hfops.core.model import ResolvedModel
from hfops.operator.listing import SharedReads, scope_of

if TYPE_CHECKING:
    from hfops.adapters.hub import ModelResolver

Resolution = ResolvedModel | PlanError
ModelKey = tuple[str, str]  # (repository, revision)


_scope = scope_of  # who asks which Hub (listing.scope_of)


class SharedModels:
    def __init__(self, *, max_age: float, refused_max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.refused_max_age = refused_max_age

        def keep(value: Resolution) -> float:
            return refused_max_age if isinstance(value, PlanError) else max_age

        self._reads: SharedReads[tuple[str, str, str], Resolution] = SharedReads(
            max_age=max_age, clock=clock, max_age_of=keep
        )

    @property
    def resolutions(self) -> int:
        """Resolutions asked of the Hub (for the benchmark and the tests)."""
        return self._reads.reads

    def resolve(
        self, hub_url: str, token: str | None, key: ModelKey, resolve: Callable[[str, str], ResolvedModel]
    ) -> Resolution:
        def read(full: tuple[str, str, str]) -> Resolution:
            try:
                return resolve(full[1], full[2])
            except PlanError as error:
                return error

        return self._reads.get((_scope(hub_url, token), *key), read)


class CachedModelResolver:
    """`ModelResolver.resolve_all` through a `SharedModels`; misses resolved by `resolver`."""

    def __init__(self, resolver: ModelResolver, shared: SharedModels, *, hub_url: str, token: str | None) -> None:
        self._resolver = resolver
        self._shared = shared
        self._hub_url = hub_url
        self._token = token

    def resolve_all(self, wanted: Iterable[ModelKey], *, parallelism: int = 8) -> dict[ModelKey, Resolution]:
        unique = sorted(set(wanted))
        resolve = self._resolver.resolve

        def one(key: ModelKey) -> Resolution:
            return self._shared.resolve(self._hub_url, self._token, key, resolve)

        if len(unique) <= 1:
            return {key: one(key) for key in unique}
        with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(unique)))) as pool:
            return dict(zip(unique, pool.map(one, unique), strict=True))
