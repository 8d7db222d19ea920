"""Retries of transient API failures, with capped exponential backoff and jitter.

Built on tenacity (a well-kept retry library): huggingface_hub's `http_backoff` retries raw
requests only, and its Inference Endpoints methods call the session directly without retries.
Transient: 429 (honouring `Retry-After` and the `RateLimit` header huggingface_hub parses), 500,
502, 503, 504, and connection errors. A non-idempotent call (create) is retried too: the caller
handles the 409 that a retried create gets when the first attempt did land.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx2
import tenacity
from huggingface_hub.errors import HfHubHTTPError

T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RATELIMIT_RESET = re.compile(r"\bt=(\d+)")


@dataclass
class RetryStats:
    """Counts shared by every call of one run (thread-safe)."""

    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self) -> None:
        with self.lock:
            self.retries += 1


class RateBudget:
    """One budget shared by every call of a run: when the API says "slow down", everyone does.

    A 429 (or 503) with a Retry-After pauses all workers until it has passed, not only the one
    that was told, so a large parallel apply backs off together instead of setting off a storm.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = 0.0

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._until - self._clock()
            if remaining <= 0:
                return
            self._sleep(remaining)

    def pause_all(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    stats: RetryStats = field(default_factory=RetryStats, compare=False)
    budget: RateBudget = field(default_factory=RateBudget, compare=False)


def _retry_after(error: HfHubHTTPError) -> float | None:
    response = error.response
    if response is None:
        return None
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            return None
    ratelimit = response.headers.get("RateLimit")
    if ratelimit:
        match = _RATELIMIT_RESET.search(ratelimit)
        if match:
            return float(match.group(1)) + 1.0
    return None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, HfHubHTTPError):
        return error.response is not None and error.response.status_code in RETRY_STATUSES
    return isinstance(error, (httpx2.TransportError, ConnectionError, TimeoutError))


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    jittered = tenacity.wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, HfHubHTTPError):
            hinted = _retry_after(error)
            if hinted is not None:
                delay = min(policy.max_retry_after, hinted)
                if error.response is not None and error.response.status_code == 429:
                    policy.budget.pause_all(delay)
                return delay
        return float(jittered(state))

    return wait


def call_with_retries(fn: Callable[[], T], *, policy: RetryPolicy) -> T:
    """Call `fn`, retrying transient failures up to `policy.attempts` times in all.

    Non-idempotent calls (create) are retried as well: their callers treat a conflict on a later
    attempt as possibly their own earlier success.
    """
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        retry=tenacity.retry_if_exception(is_transient),
        sleep=policy.sleep,
        before_sleep=lambda _state: policy.stats.add(),
        reraise=True,
    )
    def attempt() -> T:
        policy.budget.wait()
        return fn()

    return retrying(attempt)
