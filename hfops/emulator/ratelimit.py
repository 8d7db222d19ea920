"""A token bucket per bearer token (reference U9), for `rate_limit` / `--rate-limit RPS[:BURST]`.

Each token (requests without one share a bucket) holds up to BURST requests and refills at RPS per
second. An empty bucket answers 429 with `Retry-After` and `RateLimit: "api";r=0;t=N`, N the whole
seconds until the next request is allowed. Buckets are keyed by a digest, never the token itself.

`headers(token)` describes the bucket as the IETF RateLimit headers do (and the Hub's answers
carry them on every response, not only on 429s): `RateLimit: "api";r=R;t=T`, R whole requests left
now and T the whole seconds until the bucket is full again, and `RateLimit-Policy: "token
bucket";"api";q=Q;w=W`, W the whole seconds the bucket takes to refill from empty (BURST/RPS, at
least 1) and Q the requests it lets through in W seconds (RPS x W). With
`headers_on_success=False` (`--rate-limit-headers 429`) only the 429s carry them: the pessimistic
service, where a client learns of the limit only by hitting it.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        rate: float,
        burst: int | None,
        clock: Callable[[], float] = time.monotonic,
        *,
        headers_on_success: bool = True,
    ) -> None:
        self.rate = rate
        self.headers_on_success = headers_on_success
        self.burst = float(burst if burst is not None else max(1, math.ceil(rate)))
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[bytes, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def acquire(self, token: str | None) -> float:
        """0 if the request may go ahead (one unit taken), else the seconds until it would."""
        key = self._key(token)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    @staticmethod
    def _key(token: str | None) -> bytes:
        return hashlib.sha256((token or "").encode()).digest()

    def headers(self, token: str | None) -> list[tuple[str, str]]:
        """RateLimit and RateLimit-Policy describing `token`'s bucket now (see the module docstring)."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(self._key(token), (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        remaining = math.floor(tokens)
        reset = math.ceil((self.burst - tokens) / self.rate) if tokens < self.burst else 0
        window = max(1, math.ceil(self.burst / self.rate))
        quota = max(1, round(self.rate * window))  # what the bucket lets through per window, sustained
        return [
            ("RateLimit", f'"api";r={remaining};t={reset}'),
            ("RateLimit-Policy", f'"token bucket";"api";q={quota};w={window}'),
        ]
