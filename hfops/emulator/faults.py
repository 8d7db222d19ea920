"""Fault injection for the /v2 and Hub routes (and scripted faults on the TGI routes).

- `fail_rate`: 429/500/502/503 with Retry-After, decided before any state is touched;
- `drop_rate`: the connection is closed without an answer, nothing done;
- `lost_response_rate`: a /v2 write is carried out and then its answer is lost;
- `stall_ms`: how long a dropped connection hangs first; `slow_body_ms`: bodies trickle out;
- `echo_errors`: error answers echo the request's headers and body, as a leaky server would;
- a hostile or broken server (/v2 only): `redirect_writes_to` answers writes with a 307 to another
  origin (nothing done); `malformed_rate` replaces the body of 2xx answers (the request carried
  out) with truncated JSON, an HTML page, JSON of the wrong shape or JSON nested 100,000 deep
  (`malformed_kind`);
  `oversized_mb` pads 2xx answers with that many MB of whitespace, sent chunked (no length given);
  `escape_errors` puts terminal escape sequences (OSC title, CSI, C1) into error messages;
- scripted one-shot faults (`Emulator.inject_fault`), used before the random ones.

Every 429 carries `Retry-After` and the IETF `RateLimit: "api";r=0;t=N` header the Hub sends
(reference U9), so clients that read either see the same wait. Called by the router only.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .responses import ApiError, Response, error_response

FAULT_KINDS = (
    "error", "drop", "lost_response", "delay", "slow_body", "redirect", "malformed_json", "malformed_html",
    "malformed_shape", "malformed_deep", "oversized",
)
MALFORMED_KINDS = ("json", "html", "shape", "deep")
# What a hostile server puts into its messages: a window-title OSC, a CSI clearing the screen and
# moving up (hiding earlier lines), an 8-bit CSI, a BEL and a carriage return.
ESCAPES = "\x1b]0;pwned-by-the-server\x07\x1b[2J\x1b[1A\x9b31m\r\x07"
_MALFORMED_BODIES = {
    "json": b'{"items": [{"name": "trunc',
    "html": b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>upstream</body></html>",
    "shape": b'["not", "an", "object"]',
    # Valid JSON nested deeper than any decoder recurses (json raises RecursionError, not ValueError).
    "deep": b"[" * 100_000 + b"]" * 100_000,
}
FAULT_MESSAGES = {
    429: "Too Many Requests: rate limit reached, retry later",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_RATES = ("fail_rate", "drop_rate", "lost_response_rate")
_DURATIONS = ("latency_ms", "stall_ms", "slow_body_ms")


def retry_headers(status: int, seconds: float) -> list[tuple[str, str]]:
    """Retry-After (digits only: huggingface_hub parses no dates), plus RateLimit on a 429 (U9)."""
    wait = str(max(0, math.ceil(seconds)))
    headers = [("Retry-After", wait)]
    if status == 429:
        headers += [("RateLimit", f'"api";r=0;t={wait}'), ("RateLimit-Policy", '"fixed window";"api";q=500;w=300')]
    return headers


class Dropped(Exception):
    """The connection is to be closed without an answer (after `stall` seconds)."""

    def __init__(self, kind: str, status: int, stall: float) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = status  # what the answer would have been (0: the request was not carried out)
        self.stall = stall


@dataclass
class Fault:
    kind: str  # one of FAULT_KINDS
    status: int = 0  # for "error"
    ms: float | None = None  # drop/lost_response: stall (None: the injector's stall_ms); delay; slow_body
    location: str | None = None  # for "redirect": the other origin (base URL) to send the client to
    message: str | None = None  # for "error": the server's message (None: the status's usual one)


@dataclass
class ScriptedFault:
    kind: str
    method: str | None
    path: str | None  # an fnmatch pattern on the request path (no query)
    remaining: int
    status: int
    ms: float | None
    location: str | None = None
    message: str | None = None

    def matches(self, method: str, path: str, write: bool) -> bool:
        if self.remaining <= 0:
            return False
        if self.kind == "lost_response" and not write:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)


class FaultInjector:
    """The fault settings (changeable at run time), the scripted faults and the seeded RNG."""

    def __init__(
        self,
        *,
        seed: int | None,
        retry_after_seconds: float,
        fail_rate: float = 0.0,
        latency_ms: float = 0.0,
        drop_rate: float = 0.0,
        lost_response_rate: float = 0.0,
        stall_ms: float = 0.0,
        slow_body_ms: float = 0.0,
        echo_errors: bool = False,
        redirect_writes_to: str | None = None,
        malformed_rate: float = 0.0,
        malformed_kind: str = "json",
        oversized_mb: float = 0.0,
        escape_errors: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.retry_after_seconds = retry_after_seconds
        self.fail_rate = fail_rate
        self.latency_ms = latency_ms
        self.drop_rate = drop_rate
        self.lost_response_rate = lost_response_rate
        self.stall_ms = stall_ms
        self.slow_body_ms = slow_body_ms
        self.echo_errors = echo_errors
        self.redirect_writes_to = redirect_writes_to
        self.malformed_rate = malformed_rate
        self.malformed_kind = malformed_kind
        self.oversized_mb = oversized_mb
        self.escape_errors = escape_errors
        self._scripted: list[ScriptedFault] = []

    def set(self, **changes: float | bool | None) -> None:
        """Change fault settings at run time; None leaves a setting as it is."""
        for name, value in changes.items():
            if name not in (*_RATES, *_DURATIONS, "echo_errors"):
                raise TypeError(f"unknown fault setting {name!r}")
            if value is None or name == "echo_errors":
                continue
            if name in _RATES and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
            if name in _DURATIONS and not float(value) >= 0:
                raise ValueError(f"{name} must be >= 0")
        with self._lock:
            for name, value in changes.items():
                if value is not None:
                    setattr(self, name, bool(value) if name == "echo_errors" else float(value))

    def inject(
        self,
        kind: str,
        *,
        method: str | None,
        path: str | None,
        times: int,
        status: int,
        ms: float | None,
        location: str | None = None,
        message: str | None = None,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        if kind == "error" and not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if ms is not None and not ms >= 0:
            raise ValueError("ms must be >= 0")
        if kind in ("delay", "slow_body") and ms is None:
            raise ValueError(f"a {kind} fault needs ms")
        if kind == "redirect" and not (location or "").startswith(("http://", "https://")):
            raise ValueError("a redirect fault needs location, an http(s) base URL")
        with self._lock:
            self._scripted.append(ScriptedFault(kind, method, path, times, status, ms, location, message))

    def pending(self) -> int:
        with self._lock:
            return sum(rule.remaining for rule in self._scripted)

    def choose(self, method: str, path: str, *, write: bool, tgi: bool = False) -> Fault | None:
        with self._lock:
            for rule in self._scripted:  # scripted faults first, in the order they were added
                if tgi and not (rule.path or "").startswith("/endpoints/"):
                    continue
                if rule.matches(method, path, write):
                    rule.remaining -= 1
                    return Fault(rule.kind, rule.status, rule.ms, rule.location, rule.message)
            if tgi:
                return None  # the random faults are for the API and the Hub only
            # The RNG is consulted only while faults are on, so a seed gives the same sequence per run
            # (one roll per request for fail_rate + drop_rate, one more per write for lost responses).
            before = self.fail_rate + self.drop_rate
            if before > 0:
                roll = self._rng.random()
                if roll < self.fail_rate:
                    return Fault("error", self._rng.choice(sorted(FAULT_MESSAGES)))
                if roll < before:
                    return Fault("drop")
            if write and self.lost_response_rate > 0 and self._rng.random() < self.lost_response_rate:
                return Fault("lost_response")
            if not path.startswith("/v2/"):
                return None
            if write and self.redirect_writes_to:
                return Fault("redirect", location=self.redirect_writes_to)
            if self.malformed_rate > 0 and self._rng.random() < self.malformed_rate:
                return Fault(f"malformed_{self.malformed_kind}")
            if self.oversized_mb > 0:
                return Fault("oversized")
        return None

    def fault_response(self, status: int, message: str | None = None) -> Response:
        try:
            message = message or FAULT_MESSAGES.get(status) or HTTPStatus(status).phrase
        except ValueError:
            message = "Injected fault"
        response = error_response(status, message, retry_headers(status, self.retry_after_seconds))
        response.fault = "error"
        return response

    def stall_seconds(self, fault: Fault) -> float:
        return (self.stall_ms if fault.ms is None else fault.ms) / 1000.0

    def apply(
        self,
        method: str,
        path: str,
        headers: Any,
        body: bytes,
        handler: Callable[[], Response],
        *,
        stopping: threading.Event,
        write: bool = False,
        tgi: bool = False,
    ) -> Response:
        """Answer through `handler`, with the injected faults, echo and slow bodies applied.

        TGI routes get only the scripted faults whose path pattern names them ("/endpoints/...").
        """
        fault = self.choose(method, path, write=write, tgi=tgi)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "drop":
            raise Dropped("drop", 0, self.stall_seconds(fault))
        if fault is not None and kind == "delay" and stopping.wait((fault.ms or 0) / 1000.0):
            return error_response(503, "Service Unavailable: the emulator is stopping")
        if fault is not None and kind == "redirect":
            # Carried out nowhere: the client is sent, with its method and body, to another origin.
            target = (fault.location or "").rstrip("/") + path
            response = Response(307, b"", [("Location", target)], content_type=None, fault="redirect")
            return response
        if fault is not None and kind == "error":
            response = self.fault_response(fault.status, fault.message)
        else:
            try:
                response = handler()
            except ApiError as exc:
                response = exc.response()
            if fault is not None and kind == "lost_response":  # done, and then the answer never arrives
                raise Dropped("lost_response", response.status, self.stall_seconds(fault))
        if kind is not None and kind.startswith("malformed_") and 200 <= response.status < 300:
            response = Response(
                response.status,
                _MALFORMED_BODIES[kind.removeprefix("malformed_")],
                content_type="text/html" if kind == "malformed_html" else "application/json",
                fault=kind,
            )
        if fault is not None and kind == "oversized" and 200 <= response.status < 300:
            response.pad_bytes = int((self.oversized_mb or 300.0) * 1_000_000)
            response.fault = kind
        if self.echo_errors and response.status >= 400:
            response = echo(response, method, path, headers, body)
        if self.escape_errors and response.status >= 400:
            response = with_escapes(response)
        if not tgi:
            response.trickle_ms = self.slow_body_ms
        if fault is not None and kind in ("delay", "slow_body"):
            response.fault = kind
            if kind == "slow_body":
                response.trickle_ms = fault.ms or 0.0
        return response


def with_escapes(response: Response) -> Response:
    """The error answer of a hostile server: its message carries terminal escape sequences."""
    message = "Error"
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        payload = json.loads(response.body.decode("utf-8"))
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            message = payload["error"]
    out = error_response(response.status, f"{ESCAPES}{message}{ESCAPES}", list(response.headers))
    out.fault = response.fault
    return out


def echo(response: Response, method: str, path: str, headers: Any, body: bytes) -> Response:
    """The error answer of a careless server: it repeats the request, Authorization included."""
    message = "Error"
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        payload = json.loads(response.body.decode("utf-8"))
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            message = payload["error"]
    sent = "; ".join(f"{key}: {value}" for key, value in headers.items())
    text = body.decode("utf-8", "replace").replace("\r", " ").replace("\n", " ")[:8192]
    echoed = f"{message} (while handling {method} {path} with headers {sent} and body {text})"
    header_safe = echoed.encode("ascii", "backslashreplace").decode("ascii")
    kept = [(k, v) for k, v in response.headers if k.lower() != "x-error-message"]
    if any(k.lower() == "x-error-message" for k, _ in response.headers):
        kept.append(("X-Error-Message", header_safe))
    out = error_response(response.status, echoed, kept)
    out.fault = response.fault
    return out
