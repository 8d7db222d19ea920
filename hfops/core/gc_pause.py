"""Building many small objects at once without the cyclic garbage collector scanning them all.

Loading 5,000 manifests or reading 5,000 endpoints allocates millions of dicts, lists and tuples
that live on; every few thousand allocations the collector walks them, and the older generations
are walked again and again as they grow, which made loading grow faster than the fleet. Inside
`paused_gc()` the collector does not run (reference counting frees everything as usual); it runs
again on leaving, so reference cycles made meanwhile (PyYAML's nodes hold some) are collected then.
Not `gc.freeze()`: frozen cycles would never be collected.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
