"""The reads one drift interval shares across resources: endpoint lists, models, Secret lists.

Built once per operator (`build_registry`) and by the scale benchmark, so both run the same
sharing. Each read is kept for 0.9 of the interval: a timer tick of every resource falls within
one kept read, and the next interval reads afresh (drift, a moved branch, a new Secret are seen).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hfops.operator.listing import SharedListing
from hfops.operator.models import SharedModels
from hfops.operator.secrets import SharedSecrets

KEPT = 0.9  # of the interval


@dataclass(frozen=True)
class IntervalReads:
    listing: SharedListing
    models: SharedModels
    secrets: SharedSecrets

    @classmethod
    def for_interval(
        cls, interval: float, *, retry_delay: float, clock: Callable[[], float] = time.monotonic
    ) -> IntervalReads:
        kept = interval * KEPT
        return cls(
            listing=SharedListing(max_age=kept, clock=clock),
            models=SharedModels(max_age=kept, refused_max_age=min(kept, retry_delay), clock=clock),
            secrets=SharedSecrets(max_age=kept, clock=clock),
        )
