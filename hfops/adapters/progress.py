"""Progress while apply waits: live per-endpoint lines on a terminal, plain lines otherwise.

On a terminal, one line per endpoint is redrawn in place (state, elapsed seconds, message), and
the board is redrawn every second even when no state changes, so a provisioning that takes
minutes visibly counts up instead of looking hung. One ticker thread serves the whole board (not
one per endpoint); it stops once every endpoint reached a final state, or when the board is
closed. Without a terminal (CI logs), one plain line is printed per state change and nothing
ticks, so logs stay readable and greppable.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Protocol, TextIO

from hfops.core.redact import REDACTOR

_GLYPHS = {"ready": "✓", "failed": "✗", "paused": "‖", "deleted": "-"}
# States after which an endpoint's line no longer changes by itself: nothing left to count.
_FINAL = frozenset(_GLYPHS)


class Clock(Protocol):
    def monotonic(self) -> float: ...


class Progress:
    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool | None = None,
        clock: Clock | None = None,
        tick_seconds: float = 1.0,
    ) -> None:
        self._stream = stream
        self._live = stream.isatty() if live is None else live
        self._lock = threading.Lock()
        # address -> (state, message, started, ended): a final state freezes the elapsed time.
        self._rows: dict[str, tuple[str, str, float, float | None]] = {}
        self._drawn = 0
        self._clock: Clock = clock if clock is not None else time
        self._tick_seconds = tick_seconds
        self._closed = threading.Event()
        self._ticker: threading.Thread | None = None

    def _now(self) -> float:
        return float(self._clock.monotonic())

    def __call__(self, address: str, state: str, message: str = "") -> None:
        with self._lock:
            now = self._now()
            started = self._rows[address][2] if address in self._rows else now
            self._rows[address] = (state, message, started, now if state in _FINAL else None)
            if self._live:
                self._redraw()
            else:
                line = f"{address}: {state}" + (f" ({message})" if message else "")
                self._stream.write(REDACTOR.scrub(line) + "\n")
                self._stream.flush()
        if self._live and not self._closed.is_set():
            self._start_ticker()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop ticking (the last drawn board stays on the terminal)."""
        self._closed.set()
        ticker = self._ticker
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join(timeout=2 * self._tick_seconds + 1)

    def tick(self) -> bool:
        """Redraw the board with the elapsed times of now; False once there is nothing left to count."""
        with self._lock:
            if self._closed.is_set() or not self._rows:
                return False
            self._redraw()
            return any(ended is None for _state, _message, _started, ended in self._rows.values())

    def _start_ticker(self) -> None:
        with self._lock:
            if self._ticker is not None and self._ticker.is_alive():
                return
            # A daemon: a forgotten close() must never keep the process alive.
            self._ticker = threading.Thread(target=self._tick_loop, name="hfops-progress", daemon=True)
            self._ticker.start()

    def _tick_loop(self) -> None:
        while not self._closed.wait(self._tick_seconds):
            if not self.tick():
                return

    def _redraw(self) -> None:
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}F")  # back to the first line of the board
        width = max(len(a) for a in self._rows)
        now = self._now()
        for address, (state, message, started, ended) in self._rows.items():
            glyph = _GLYPHS.get(state, "…")
            elapsed = (now if ended is None else ended) - started
            text = f"{glyph} {address.ljust(width)}  {state:<13} {elapsed:5.0f}s  {message}"
            out.append("\x1b[2K" + REDACTOR.scrub(text)[:200] + "\n")
        self._drawn = len(self._rows)
        self._stream.write("".join(out))
        self._stream.flush()
