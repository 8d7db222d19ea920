"""Pacing requests to a rate-limited service from the RateLimit headers of its own answers.

The Hub answers with `RateLimit: "api";r=R;t=T` (R requests left, T seconds to the reset) and
`RateLimit-Policy: ...;q=Q;w=W` (Q requests per W seconds), on 429s and, where it sends them, on
every answer. `Pacer` keeps a mirror of that budget per service (scheme, host, port and first path
segment: the Hub and the endpoints API may limit differently): every request start takes one unit, the mirror refills
at Q/W per second up to Q, and each answer's R lowers it to what the server says is left. When the
mirror is empty a request waits for its slot before it is sent, so a large parallel apply spreads
itself over the budget instead of running into a wall of 429s, and no request waits while the
budget lasts. A service that sends no such headers is never paced: only a 429's Retry-After (the
retry layer) makes the one request that got it wait.

huggingface_hub's session calls `before_request` and `after_response` for every request (http.py
installs them as event hooks), so everything hfops sends goes through one pacer per process.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping

_R = re.compile(r"(?:^|[;,\s])r=(\d+)")
_T = re.compile(r"(?:^|[;,\s])t=(\d+)")
_Q = re.compile(r"(?:^|[;,\s])q=(\d+)")
_W = re.compile(r"(?:^|[;,\s])w=(\d+)")
MAX_PACE_WAIT = 60.0  # never hold one request longer than this for its slot


class _Budget:
    def __init__(self, now: float) -> None:
        self.tokens: float | None = None  # None: not known yet (nothing paced)
        self.rate: float | None = None  # refill, requests per second
        self.burst: float | None = None
        self.last = now

    def refill(self, now: float) -> None:
        if self.tokens is not None and self.rate:
            self.tokens = min(self.burst or self.tokens, self.tokens + (now - self.last) * self.rate)
        self.last = now


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._budgets: dict[str, _Budget] = {}
        self._stops: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self.paced = 0  # requests that waited for their slot
        self.waited = 0.0  # seconds they waited, together

    def watch_stop(self, stop: threading.Event) -> None:
        """A run's stop event (SIGINT/SIGTERM): a request waiting for its slot goes at once when set."""
        with self._lock:
            self._stops.add(stop)

    def delay(self, origin: str) -> float:
        """Take one unit of `origin`'s budget: the seconds to wait before sending (0: go now)."""
        now = self._clock()
        with self._lock:
            budget = self._budgets.get(origin)
            if budget is None or budget.tokens is None or not budget.rate:
                return 0.0
            budget.refill(now)
            budget.tokens -= 1.0
            if budget.tokens >= 0:
                return 0.0
            return min(MAX_PACE_WAIT, -budget.tokens / budget.rate)

    def scarce(self) -> bool:
        """Whether some origin's budget is down to its last quarter: optional requests (polls) wait."""
        now = self._clock()
        with self._lock:
            for budget in self._budgets.values():
                if budget.tokens is None or not budget.rate:
                    continue
                budget.refill(now)
                if budget.tokens < 0.25 * (budget.burst or budget.rate):
                    return True
        return False

    def before_request(self, origin: str) -> None:
        wait = self.delay(origin)
        if wait <= 0:
            return
        with self._lock:
            self.paced += 1
            self.waited += wait
        deadline = self._clock() + wait
        while True:
            left = deadline - self._clock()
            if left <= 0 or any(stop.is_set() for stop in list(self._stops)):
                return
            self._sleep(min(left, 0.1))

    def after_response(self, origin: str, headers: Mapping[str, str]) -> None:
        """Take in what an answer says of the budget (nothing if it says nothing)."""
        limit, policy = headers.get("RateLimit"), headers.get("RateLimit-Policy")
        if not limit and not policy:
            return
        now = self._clock()
        with self._lock:
            budget = self._budgets.setdefault(origin, _Budget(now))
            budget.refill(now)
            if policy:
                quota, window = _Q.search(policy), _W.search(policy)
                if quota and window and int(quota.group(1)) > 0 and int(window.group(1)) > 0:
                    budget.burst = float(quota.group(1))
                    budget.rate = budget.burst / float(window.group(1))
            if limit:
                remaining = _R.search(limit)
                if remaining:
                    left = float(remaining.group(1))
                    if left == 0 and budget.rate is None:
                        reset = _T.search(limit)
                        # No policy: at least one request per reset period, whatever it is.
                        budget.rate = 1.0 / max(1.0, float(reset.group(1)) if reset else 1.0)
                    budget.tokens = left if budget.tokens is None else min(budget.tokens, left)


PACER = Pacer()
