"""A token bucket per bearer token (reference U9), for `rate_limit` / `--rate-limit RPS[:BURST]`.

Each token (requests without one share a bucket) holds up to BURST requests and refills at RPS per
second. An empty bucket answers 429 with `Retry-After` and `RateLimit: "api";r=0;t=N`, N the whole
seconds until the next request is allowed. Buckets are keyed by a digest, never the token itself.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate: float, burst: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, math.ceil(rate)))
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[bytes, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def acquire(self, token: str | None) -> float:
        """0 if the request may go ahead (one unit taken), else the seconds until it would."""
        key = hashlib.sha256((token or "").encode()).digest()
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
