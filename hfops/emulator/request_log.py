"""The request log: every request served, in memory and optionally as JSON lines in a file.

Entries hold method, path, status, time, query and the injected fault if any; never headers or
bodies, so tokens are never written anywhere. Lines in the file keep four keys (t, method, path,
status) plus `fault` on faulted requests only.
"""

from __future__ import annotations

import json
import threading
from typing import IO, Any


class RequestLog:
    def __init__(self, path: str | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._file: IO[str] | None = None

    def open(self) -> None:
        if self._path:
            self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def record(
        self, method: str, path: str, query: str, status: int, started: float, fault: str | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "method": method, "path": path, "status": status, "t": round(started, 6), "query": query
        }
        line: dict[str, Any] = {"t": entry["t"], "method": method, "path": path, "status": status}
        if fault is not None:  # only on faulted requests, so a fault-free log keeps its four keys
            entry["fault"] = line["fault"] = fault
        with self._lock:
            self._entries.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(line) + "\n")
                self._file.flush()

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
