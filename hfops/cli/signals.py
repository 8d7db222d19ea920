"""SIGINT/SIGTERM during a run: the first stops new work, the second exits at once."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from hfops.core.errors import EXIT_ERROR


def write_fd(fd: int, text: str) -> None:
    try:
        os.set_blocking(fd, False)
        os.write(fd, text.encode())
    except OSError:
        pass  # a full or closed pipe: the message is best effort, the exit is not


class SignalGuard:
    """First SIGINT/SIGTERM: stop starting work, let in-flight calls finish. Second: exit now.

    `stop` is the run's stop event: pass the retry policy's (`Reconciler.retry.stop`) so that
    retry waits wake on the signal and no retry starts after it, as the executor's waits do.
    """

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop if stop is not None else threading.Event()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        # Written straight to the file descriptor: the output lock may be held by the very code
        # this handler interrupted (a write to a full pipe), and taking it would deadlock.
        if self.stop.is_set():
            from hfops.adapters.atomic import remove_in_flight

            remove_in_flight()
            write_fd(2, "Second interrupt: exiting now. Run apply again to converge.\n")
            os._exit(EXIT_ERROR)
        self.stop.set()
        write_fd(
            2,
            f"Received {signal.Signals(signum).name}: finishing calls in flight, starting nothing new "
            "(interrupt again to exit at once).\n",
        )

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.stop.is_set():
            return  # interrupted: keep handling signals until the process exits (a second one exits 1)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
