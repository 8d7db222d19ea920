"""The emulator's two clocks and its timestamps.

Provisioning (pending -> initializing -> running, updates, wake-ups) runs on real monotonic seconds.
Scale-to-zero idle timers run on an *emulated* clock: real time multiplied by `time_scale`, plus any
jumps made with `advance()`. The store settles every endpoint before a jump, so a transition that
happened in real time is always stamped with the emulated time of that moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone


class Clock:
    def __init__(self, time_scale: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._scale = time_scale
        self._offset = 0.0

    def real(self) -> float:
        """Real monotonic seconds."""
        return self._monotonic()

    def emulated_at(self, real: float) -> float:
        """Emulated seconds at a real instant (valid for instants after the last `advance`)."""
        return (real - self._t0) * self._scale + self._offset

    def emulated(self) -> float:
        return self.emulated_at(self.real())

    def advance(self, seconds: float) -> None:
        """Jump the emulated clock forward. Callers settle pending transitions first (see module doc)."""
        if seconds < 0:
            raise ValueError("cannot move the emulated clock backwards")
        self._offset += seconds


def utc_stamp(moment: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and a trailing `Z`.

    huggingface_hub's `parse_datetime` accepts only a `Z` suffix; `+00:00` raises ValueError.
    """
    moment = moment or datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class StampSource:
    """Wall-clock stamps that strictly increase (by at least 1 ms), so every update changes `updatedAt`."""

    def __init__(self) -> None:
        self._last: datetime | None = None

    def next(self) -> str:
        now = datetime.now(timezone.utc)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last is not None and now <= self._last:
            now = self._last + timedelta(milliseconds=1)
        self._last = now
        return utc_stamp(now)
