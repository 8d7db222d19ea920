"""Retries of transient API failures, with capped exponential backoff and jitter.

Built on tenacity (a well-kept retry library): huggingface_hub's `http_backoff` retries raw
requests only, and its Inference Endpoints methods call the session directly without retries.
Transient: 429 (the call that got it waits its `Retry-After`, or the `RateLimit` reset; the others
are paced by pacing.py, not paused), 500,
502, 503, 504, connection errors, and a 2xx answer hfops cannot read (malformed JSON, HTML, the
wrong shape: like a lost answer). A non-idempotent call (create) is retried too: the caller handles
the 409 that a retried create gets when the first attempt did land.

Every wait wakes on the run's stop event (set on SIGINT/SIGTERM) and no attempt starts once it is
set. A server asking for a wait longer than what is left of `max_retry_after` (one wait) or
`max_total_wait` (all waits of one call) is not obeyed for part of it: the call fails at once,
saying how long the server asked for.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx2
import tenacity
from huggingface_hub.errors import HfHubHTTPError, HFValidationError

from hfops.adapters.http import MalformedAnswer
from hfops.adapters.pacing import PACER
from hfops.core.errors import Interrupted, NotStarted, RemoteError

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


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0  # the longest single wait a server may ask for
    max_total_wait: float = 180.0  # all the waits of one call together
    sleep: Callable[[float], None] | None = None  # None: wait on `stop` (tests inject a fake clock)
    stats: RetryStats = field(default_factory=RetryStats, compare=False)
    # Set on SIGINT/SIGTERM (the CLI's SignalGuard shares it): waits end, no attempt starts.
    stop: threading.Event = field(default_factory=threading.Event, compare=False)

    def __post_init__(self) -> None:
        PACER.watch_stop(self.stop)  # a request waiting for its paced slot goes at once on a signal

    def pause(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        else:
            self.stop.wait(seconds)


class _WaitTooLong(Exception):
    def __init__(self, error: HfHubHTTPError, asked: float, limit: float) -> None:
        super().__init__("wait too long")
        self.error = error
        self.asked = asked
        self.limit = limit


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
    if isinstance(error, MalformedAnswer):
        return True
    if isinstance(error, HfHubHTTPError):
        return error.response is not None and error.response.status_code in RETRY_STATUSES
    return isinstance(error, (httpx2.TransportError, ConnectionError, TimeoutError))


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    jittered = tenacity.wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        remaining = max(0.0, policy.max_total_wait - state.idle_for)
        if isinstance(error, HfHubHTTPError):
            hinted = _retry_after(error)
            if hinted is not None:
                limit = min(policy.max_retry_after, remaining)
                if hinted > limit:
                    # Waiting less than the server asked would only earn another refusal.
                    raise _WaitTooLong(error, hinted, limit)
                # Only the call that was told waits: the others go on at the pace the answers' RateLimit
                # headers set (pacing.py), instead of all stopping and then all starting again at once.
                return hinted
        return min(float(jittered(state)), remaining)

    return wait


# What parsing an answer that is not what the API returns raises inside huggingface_hub (its
# `response.json()`, then reading fields of the result) or in hfops reading `raw`. RecursionError:
# valid JSON nested deeper than the decoder recurses (json raises it, not a ValueError).
_PARSE_ERRORS = (
    json.JSONDecodeError,
    UnicodeDecodeError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    ValueError,
    RecursionError,
)


def call_with_retries(fn: Callable[[], T], *, policy: RetryPolicy, operation: str = "API call") -> T:
    """Call `fn`, retrying transient failures up to `policy.attempts` times in all.

    Non-idempotent calls (create) are retried as well: their callers treat a conflict on a later
    attempt as possibly their own earlier success. `operation` ("create acme/chat") names the call
    in the errors raised here: `NotStarted` if the stop event was set before the first attempt,
    `Interrupted` if before a retry, `RemoteError` when the
    server asks for a longer wait than is left, `MalformedAnswer` for an answer hfops cannot read.
    """
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        retry=tenacity.retry_if_exception(is_transient),
        sleep=policy.pause,
        before_sleep=lambda _state: policy.stats.add(),
        reraise=True,
    )

    started = [0]

    def attempt() -> T:
        if policy.stop.is_set():
            if started[0]:
                raise Interrupted(f"{operation}: interrupted; not retried")
            raise NotStarted(f"{operation}: not started: interrupted")
        started[0] += 1
        try:
            return fn()
        except (HfHubHTTPError, HFValidationError, OSError):
            # An HTTP error answer (BadRequestError is a ValueError too), an argument huggingface_hub
            # refused before sending anything, a connection error: not a malformed answer.
            raise
        except _PARSE_ERRORS as error:
            raise MalformedAnswer(
                f"{operation}: the answer is not what the API returns ({type(error).__name__}); "
                "nothing was read from it"
            ) from error

    try:
        return retrying(attempt)
    except _WaitTooLong as wait:
        status = wait.error.response.status_code if wait.error.response is not None else None
        raise RemoteError(
            f"{operation}: the server asks to retry after {wait.asked:g}s, longer than hfops waits "
            f"({wait.limit:g}s left for this call); not retried",
            status=status,
            hint="rate limited or unavailable for a long time: run again later",
        ) from None
