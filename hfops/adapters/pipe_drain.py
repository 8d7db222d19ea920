"""Reading a pipe to its end on a thread, so that its writer never waits for the reader.

The second process that parses manifests (`manifest_workers`) writes more than a pipe holds
(~0.5 MB of pickles per thousand endpoints, a pipe holds 1 MB at most): unread, it would stop
at a full pipe until this process, busy with its own share, looked. The thread only moves
bytes (its lock released while it waits in `os.read`); the objects are built by the reader, on
its own thread (built on the drain's thread, the child's answer would leave a malloc arena of
its own behind: ~8 MB of peak memory).
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import threading
from typing import IO

CHUNK_BYTES = 1024 * 1024


class _Drain(io.RawIOBase):
    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._chunks: collections.deque[memoryview] = collections.deque()
        self._ended = False
        self._changed = threading.Condition()

    def run(self) -> None:
        try:
            while True:
                chunk = os.read(self._fd, CHUNK_BYTES)
                with self._changed:
                    if chunk:
                        self._chunks.append(memoryview(chunk))
                    else:
                        self._ended = True
                    self._changed.notify()
                if not chunk:
                    return
        except OSError:
            pass
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify()
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        with self._changed:
            while not self._chunks and not self._ended:
                self._changed.wait()
            if not self._chunks:
                return 0  # the end: the writer closed its end, or reading failed
            chunk = self._chunks[0]
            count = min(len(buffer), len(chunk))
            buffer[:count] = chunk[:count]
            if count == len(chunk):
                self._chunks.popleft()
            else:
                self._chunks[0] = chunk[count:]
            return count


def drained(fd: int) -> IO[bytes]:
    """A reader of pipe `fd` (which it takes over and closes): read to its end on a thread from
    now on, or, with no thread to be had, read as a plain file when asked."""
    drain = _Drain(fd)
    try:
        threading.Thread(target=drain.run, name="hfops-pipe-drain", daemon=True).start()
    except RuntimeError:
        return os.fdopen(fd, "rb")
    return io.BufferedReader(drain, buffer_size=64 * 1024)
