"""Progress while apply waits: live per-endpoint lines on a terminal, plain lines otherwise.

On a terminal, one line per endpoint is redrawn in place (state, elapsed seconds, message). Without
one (CI logs), one plain line is printed per state change, so logs stay readable and greppable.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from hfops.core.redact import REDACTOR

_GLYPHS = {"ready": "✓", "failed": "✗", "paused": "‖", "deleted": "-"}


class Progress:
    def __init__(self, stream: TextIO, *, live: bool | None = None, clock: object = time) -> None:
        self._stream = stream
        self._live = stream.isatty() if live is None else live
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[str, str, float]] = {}
        self._drawn = 0
        self._clock = clock

    def _now(self) -> float:
        return float(self._clock.monotonic())  # type: ignore[attr-defined]

    def __call__(self, address: str, state: str, message: str = "") -> None:
        with self._lock:
            started = self._rows.get(address, ("", "", self._now()))[2]
            self._rows[address] = (state, message, started)
            if self._live:
                self._redraw()
            else:
                line = f"{address}: {state}" + (f" ({message})" if message else "")
                self._stream.write(REDACTOR.scrub(line) + "\n")
                self._stream.flush()

    def _redraw(self) -> None:
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}F")  # back to the first line of the board
        width = max(len(a) for a in self._rows)
        now = self._now()
        for address, (state, message, started) in self._rows.items():
            glyph = _GLYPHS.get(state, "…")
            text = f"{glyph} {address.ljust(width)}  {state:<13} {now - started:5.0f}s  {message}"
            out.append("\x1b[2K" + REDACTOR.scrub(text)[:200] + "\n")
        self._drawn = len(self._rows)
        self._stream.write("".join(out))
        self._stream.flush()
