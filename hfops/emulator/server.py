"""The HTTP side: one stdlib threading server on one port, routing to the endpoints API, Hub and TGI.

    /v2/...                     Inference Endpoints API (store.py), bearer token required
    /api/..., /{repo}/resolve/  Hub routes (hub.py)
    /endpoints/{id}/...         each endpoint's TGI (tgi.py), at the endpoint's `status.url`

Cross-cutting behaviour lives here: bearer auth, fault injection on /v2 and Hub routes (`fail_rate`:
429/500/502/503 with Retry-After, decided before any state is touched; `drop_rate`: the connection is
closed without an answer, nothing done; `lost_response_rate`: a /v2 write is carried out and then its
answer is lost; `stall_ms`: how long a dropped connection hangs first; `slow_body_ms`: bodies trickle
out; `echo_errors`: error answers echo the request's headers and body, as a leaky server would;
scripted one-shot faults through `Emulator.inject_fault`), `latency_ms`, the request log (method,
path, status, time and the injected fault; never headers or bodies, so tokens are never written
anywhere), the scale-to-zero wake-up and `X-Scale-Up-Timeout` hold. HTTP/1.1 keep-alive: every response carries a
Content-Length and every request body is read fully. `Emulator` runs it in a background thread;
`serve_forever` runs it in the foreground until SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hmac
import json
import math
import random
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import IO, Any, cast
from urllib.parse import unquote

from . import hub, tgi
from .catalog import ModelCatalog
from .clock import Clock
from .config import EmulatorConfig
from .responses import ApiError, Response, error_response, json_response
from .store import Store

MAX_BODY = 16 * 1024 * 1024
UNAUTHORIZED = "A valid user or organization token, sent as a Bearer, is required"
_FAULTS = {
    429: "Too Many Requests: rate limit reached, retry later",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


FAULT_KINDS = ("error", "drop", "lost_response", "delay", "slow_body")
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class _BodyError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class _Dropped(Exception):
    """The connection is to be closed without an answer (after `stall` seconds)."""

    def __init__(self, kind: str, status: int, stall: float) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = status  # what the answer would have been (0: the request was not carried out)
        self.stall = stall


@dataclass
class _Fault:
    kind: str  # one of FAULT_KINDS
    status: int = 0  # for "error"
    ms: float | None = None  # drop/lost_response: stall (None: the runtime's stall_ms); delay; slow_body


@dataclass
class _ScriptedFault:
    kind: str
    method: str | None
    path: str | None  # an fnmatch pattern on the request path (no query)
    remaining: int
    status: int
    ms: float | None

    def matches(self, method: str, path: str, write: bool) -> bool:
        if self.remaining <= 0:
            return False
        if self.kind == "lost_response" and not write:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)


class _Runtime:
    """Everything the request handlers share (one per Emulator)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.catalog = ModelCatalog(config.models)
        self.clock = Clock(config.time_scale)
        self.store = Store(
            catalog=self.catalog,
            clock=self.clock,
            provision_seconds=config.provision_seconds,
            seed=config.seed,
        )
        self.stopping = threading.Event()
        self._fault_lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self.fail_rate = config.fail_rate
        self.latency_ms = config.latency_ms
        self.drop_rate = config.drop_rate
        self.lost_response_rate = config.lost_response_rate
        self.stall_ms = config.stall_ms
        self.slow_body_ms = config.slow_body_ms
        self.echo_errors = config.echo_errors
        self._scripted: list[_ScriptedFault] = []
        self._log_lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._log_file: IO[str] | None = None
        self._conn_lock = threading.Lock()
        self._conns: set[socket.socket] = set()

    # ---------------------------------------------------------------------------- lifecycle

    def open_log(self) -> None:
        if self.config.request_log:
            self._log_file = open(self.config.request_log, "a", encoding="utf-8")  # noqa: SIM115

    def close_log(self) -> None:
        with self._log_lock:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._conns.discard(conn)

    def close_connections(self) -> None:
        """Unblock keep-alive handler threads waiting for a next request, so stop() is clean."""
        with self._conn_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # --------------------------------------------------------------------------- request log

    def record(
        self, method: str, path: str, query: str, status: int, started: float, fault: str | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "method": method, "path": path, "status": status, "t": round(started, 6), "query": query
        }
        line: dict[str, Any] = {"t": entry["t"], "method": method, "path": path, "status": status}
        if fault is not None:  # only on faulted requests, so a fault-free log keeps its four keys
            entry["fault"] = line["fault"] = fault
        with self._log_lock:
            self._log.append(entry)
            if self._log_file is not None:
                self._log_file.write(json.dumps(line) + "\n")
                self._log_file.flush()

    def requests(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    # -------------------------------------------------------------------------------- faults

    def set_faults(self, **changes: float | bool | None) -> None:
        """Change fault settings at run time; None leaves a setting as it is."""
        rates = ("fail_rate", "drop_rate", "lost_response_rate")
        durations = ("latency_ms", "stall_ms", "slow_body_ms")
        for name, value in changes.items():
            if name not in (*rates, *durations, "echo_errors"):
                raise TypeError(f"unknown fault setting {name!r}")
            if value is None or name == "echo_errors":
                continue
            if name in rates and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
            if name in durations and not float(value) >= 0:
                raise ValueError(f"{name} must be >= 0")
        with self._fault_lock:
            for name, value in changes.items():
                if value is not None:
                    setattr(self, name, bool(value) if name == "echo_errors" else float(value))

    def inject_fault(
        self,
        kind: str,
        *,
        method: str | None,
        path: str | None,
        times: int,
        status: int,
        ms: float | None,
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
        with self._fault_lock:
            self._scripted.append(_ScriptedFault(kind, method, path, times, status, ms))

    def pending_faults(self) -> int:
        with self._fault_lock:
            return sum(rule.remaining for rule in self._scripted)

    def _choose_fault(self, method: str, path: str, *, write: bool, tgi: bool = False) -> _Fault | None:
        with self._fault_lock:
            for rule in self._scripted:  # scripted faults first, in the order they were added
                if tgi and not (rule.path or "").startswith("/endpoints/"):
                    continue
                if rule.matches(method, path, write):
                    rule.remaining -= 1
                    return _Fault(rule.kind, rule.status, rule.ms)
            if tgi:
                return None  # the random faults are for the API and the Hub only
            # The RNG is consulted only while faults are on, so a seed gives the same sequence per run
            # (one roll per request for fail_rate + drop_rate, one more per write for lost responses).
            before = self.fail_rate + self.drop_rate
            if before > 0:
                roll = self._rng.random()
                if roll < self.fail_rate:
                    return _Fault("error", self._rng.choice(sorted(_FAULTS)))
                if roll < before:
                    return _Fault("drop")
            if write and self.lost_response_rate > 0 and self._rng.random() < self.lost_response_rate:
                return _Fault("lost_response")
        return None

    def _fault_response(self, status: int) -> Response:
        retry_after = str(math.ceil(self.config.retry_after_seconds))  # huggingface_hub parses digits only
        try:
            message = _FAULTS.get(status) or HTTPStatus(status).phrase
        except ValueError:
            message = "Injected fault"
        response = error_response(status, message, [("Retry-After", retry_after)])
        response.fault = "error"
        return response

    def _stall_seconds(self, fault: _Fault) -> float:
        return (self.stall_ms if fault.ms is None else fault.ms) / 1000.0

    def _echo(self, response: Response, method: str, path: str, headers: Any, body: bytes) -> Response:
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
        echo = error_response(response.status, echoed, kept)
        echo.fault = response.fault
        return echo

    # ------------------------------------------------------------------------------- routing

    def token_state(self, headers: Any) -> str:
        value = headers.get("Authorization")
        if not value:
            return "none"
        scheme, _, token = str(value).partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "invalid"
        if self.config.tokens:
            ok = any(hmac.compare_digest(token.encode(), t.encode()) for t in self.config.tokens)
        else:
            ok = token.startswith("hf_")
        return "valid" if ok else "invalid"

    def dispatch(self, method: str, path: str, headers: Any, body: bytes) -> Response:
        latency = self.latency_ms
        if latency > 0 and self.stopping.wait(latency / 1000.0):
            return error_response(503, "Service Unavailable: the emulator is stopping")
        segments = [unquote(part) for part in path.split("/")[1:]]
        if segments and segments[-1] == "" and len(segments) > 1:
            segments = segments[:-1]
        try:
            if segments and segments[0] == "endpoints" and len(segments) >= 2:
                sub = "/" + "/".join(segments[2:])
                uid = segments[1]
                return self._with_faults(
                    method, path, headers, body, lambda: self._tgi(method, uid, sub, headers, body), tgi=True
                )
            is_api = bool(segments) and segments[0] == "v2"
            if is_api:
                return self._with_faults(
                    method, path, headers, body, lambda: self._api(method, segments[1:], headers, body),
                    write=method in _WRITE_METHODS,
                )
            if hub.is_hub_path(segments):
                return self._with_faults(
                    method, path, headers, body,
                    lambda: hub.handle(method, segments, self.token_state(headers), self.catalog),
                )
            return error_response(404, "Not Found")
        except ApiError as exc:
            return exc.response()
        except _Dropped:
            raise
        except Exception as exc:
            # Type and frames only: an exception message might echo request data.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            print(
                f"hfops emulator: internal error on {method} {path}: {type(exc).__name__}\n{frames}",
                file=sys.stderr,
                flush=True,
            )
            return error_response(500, "Internal emulator error")

    def _with_faults(
        self,
        method: str,
        path: str,
        headers: Any,
        body: bytes,
        handler: Callable[[], Response],
        *,
        write: bool = False,
        tgi: bool = False,
    ) -> Response:
        """Answer through `handler`, with the injected faults, echo and slow bodies applied.

        TGI routes get only the scripted faults whose path pattern names them ("/endpoints/...").
        """
        fault = self._choose_fault(method, path, write=write, tgi=tgi)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "drop":
            raise _Dropped("drop", 0, self._stall_seconds(fault))
        if fault is not None and kind == "delay" and self.stopping.wait((fault.ms or 0) / 1000.0):
            return error_response(503, "Service Unavailable: the emulator is stopping")
        if fault is not None and kind == "error":
            response = self._fault_response(fault.status)
        else:
            try:
                response = handler()
            except ApiError as exc:
                response = exc.response()
            if fault is not None and kind == "lost_response":  # done, and then the answer never arrives
                raise _Dropped("lost_response", response.status, self._stall_seconds(fault))
        if self.echo_errors and response.status >= 400:
            response = self._echo(response, method, path, headers, body)
        if not tgi:
            response.trickle_ms = self.slow_body_ms
        if fault is not None and kind in ("delay", "slow_body"):
            response.fault = kind
            if kind == "slow_body":
                response.trickle_ms = fault.ms or 0.0
        return response

    # ---------------------------------------------------------------------------- /v2 routes

    def _json_body(self, headers: Any, body: bytes) -> Any:
        content_type = str(headers.get("Content-Type") or "")
        if "json" not in content_type.lower():
            raise ApiError(415, "Expected request with `Content-Type: application/json`")
        try:
            return json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ApiError(400, "Failed to parse the request body as JSON: invalid UTF-8") from exc
        except json.JSONDecodeError as exc:
            where = f"at line {exc.lineno} column {exc.colno}"
            raise ApiError(400, f"Failed to parse the request body as JSON: {exc.msg} {where}") from exc

    def _api(self, method: str, segs: list[str], headers: Any, body: bytes) -> Response:
        if self.token_state(headers) != "valid":
            return error_response(401, UNAUTHORIZED)
        store = self.store
        if method == "HEAD":
            method = "GET"  # the server drops the body, keeps the Content-Length
        if len(segs) == 2 and segs[0] == "provider":
            if method != "GET":
                return error_response(405, "Method Not Allowed")
            return json_response(200, store.providers(segs[1]))
        if len(segs) < 2 or segs[0] != "endpoint" or not segs[1]:
            return error_response(404, "Not Found")
        ns = segs[1]
        if len(segs) == 2:
            if method == "GET":
                return json_response(200, store.list(ns))
            if method == "POST":
                return json_response(202, store.create(ns, self._json_body(headers, body)))
            return error_response(405, "Method Not Allowed")
        name = segs[2]
        if len(segs) == 3:
            if method == "GET":
                return json_response(200, store.get(ns, name))
            if method == "PUT":
                return json_response(200, store.update(ns, name, self._json_body(headers, body)))
            if method == "DELETE":
                return json_response(200, store.delete(ns, name))
            return error_response(405, "Method Not Allowed")
        if len(segs) == 4:
            action = segs[3]
            if action in ("pause", "resume", "scale-to-zero"):
                if method != "POST":
                    return error_response(405, "Method Not Allowed")
                operation = {
                    "pause": store.pause,
                    "resume": store.resume,
                    "scale-to-zero": store.scale_to_zero,
                }
                return json_response(200, operation[action](ns, name))
            if action == "logs":
                if method != "GET":
                    return error_response(405, "Method Not Allowed")
                return Response(200, store.logs(ns, name).encode(), content_type="text/plain; charset=utf-8")
        return error_response(404, "Not Found")

    # ----------------------------------------------------------------------------- TGI routes

    def _tgi(self, method: str, uid: str, sub: str, headers: Any, body: bytes) -> Response:
        kind = self.store.endpoint_type(uid)
        if kind is None:
            return error_response(404, "Endpoint not found")
        # The endpoint proxy authenticates before anything else: an unauthenticated call never wakes it.
        if kind != "public" and self.token_state(headers) != "valid":
            return error_response(401, hub.INVALID_CREDENTIALS)
        access = self.store.tgi_request(uid, wake=True)
        hold = _float_header(headers, "X-Scale-Up-Timeout")
        if access is not None and access.state != "running" and hold and access.will_run:
            deadline = time.monotonic() + hold
            while access is not None and access.state != "running" and access.will_run:
                now = time.monotonic()
                if now >= deadline:
                    break
                target = min(deadline, access.phase_end if access.phase_end is not None else now)
                if self.stopping.wait(min(max(target - now + 0.002, 0.002), 0.25)):
                    break
                access = self.store.tgi_request(uid, wake=False)
        if access is None:
            return error_response(404, "Endpoint not found")
        if access.state == "running" and access.context is not None:
            return tgi.serve(method, sub, body, access.context)
        if access.state == "paused":
            return error_response(400, "Bad Request: Invalid state")
        retry = [("Retry-After", str(max(1, math.ceil(self.config.provision_seconds))))]
        if sub in ("/health", "/ping"):
            return json_response(503, {"error": "unhealthy", "error_type": "healthcheck"}, retry)
        return json_response(
            503,
            {
                "error": f"Service Unavailable: the endpoint is {access.state}; retry later, or send "
                "X-Scale-Up-Timeout: <seconds> to wait for a replica",
                "error_type": "unavailable",
            },
            retry,
        )


def _float_header(headers: Any, name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib default backlog (5) makes bursts of concurrent clients wait for a 1 s SYN retry.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], runtime: _Runtime) -> None:
        self.runtime = runtime
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (reset, broken pipe, timeout) is normal here, not an error to print."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY each response waits for the
    # client's delayed ACK (~40 ms), which would distort every latency the emulator is used to measure.
    disable_nagle_algorithm = True
    server_version = "hfops-emulator/0.1"
    sys_version = ""

    @property
    def runtime(self) -> _Runtime:
        return cast(_Server, self.server).runtime

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default access log is not ours to write (and stdout carries only the URL)."""

    def setup(self) -> None:
        super().setup()
        self.runtime.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.runtime.untrack(self.connection)

    def _read_body(self) -> bytes:
        if "chunked" in str(self.headers.get("Transfer-Encoding", "")).lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError as exc:
            raise _BodyError(error_response(400, "Invalid Content-Length")) from exc
        if length < 0:
            raise _BodyError(error_response(400, "Invalid Content-Length"))
        if length > MAX_BODY:
            raise _BodyError(error_response(413, "Payload Too Large"))
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _BodyError(error_response(400, "Invalid chunked body")) from exc
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _BodyError(error_response(413, "Payload Too Large"))
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)  # CRLF after the chunk

    def _handle(self) -> None:
        started = time.time()
        runtime = self.runtime
        path, _, query = self.path.partition("?")
        query = query.partition("#")[0]
        try:
            body = self._read_body()
            response = runtime.dispatch(self.command, path, self.headers, body)
        except _BodyError as exc:
            response = exc.response
            self.close_connection = True  # the rest of the body is still on the wire
        except _Dropped as drop:
            runtime.record(self.command, path, query, drop.status, started, fault=drop.kind)
            self.close_connection = True
            if drop.stall > 0:
                runtime.stopping.wait(drop.stall)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # Logged before sending, so a client that has its response always finds it in requests().
        runtime.record(self.command, path, query, response.status, started, fault=response.fault)
        try:
            self._send(response)
        except OSError:  # the client went away mid-response
            self.close_connection = True

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for key, value in response.headers:
            self.send_header(key, value)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Request-Id", f"emu-{time.monotonic_ns():x}")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            if response.trickle_ms > 0 and response.body:
                self._trickle(response.body, response.trickle_ms / 1000.0)
            else:
                self.wfile.write(response.body)
        self.wfile.flush()

    def _trickle(self, body: bytes, seconds: float) -> None:
        """A slow body: up to 8 pieces, with a pause before each, spread over `seconds`."""
        size = -(-len(body) // min(8, len(body)))
        pieces = -(-len(body) // size)
        for start in range(0, len(body), size):
            if self.runtime.stopping.wait(seconds / pieces):
                return
            self.wfile.write(body[start : start + size])
            self.wfile.flush()

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()


_DEFAULT_CONFIG = EmulatorConfig()


class Emulator:
    """The emulator running in a background daemon thread; also a context manager (start/stop)."""

    def __init__(self, config: EmulatorConfig = _DEFAULT_CONFIG) -> None:
        self.config = config
        self._runtime = _Runtime(config)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8000 (set `HF_ENDPOINT` to it, and the IE API to url + "/v2")."""
        if self._url is None:
            raise RuntimeError("the emulator is not started")
        return self._url

    def start(self) -> str:
        if self._stopped:
            raise RuntimeError("a stopped emulator cannot be restarted; create a new one")
        if self._url is not None:
            return self._url
        self._runtime.open_log()
        try:
            server = _Server((self.config.host, self.config.port), self._runtime)
        except BaseException:
            self._runtime.close_log()
            raise
        host = self.config.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        self._url = f"http://{host}:{server.server_address[1]}"
        self._runtime.store.base_url = self._url
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="hfops-emulator", daemon=True
        )
        self._thread.start()
        return self._url

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._runtime.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._runtime.close_connections()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._runtime.close_log()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------ test helpers

    def requests(self) -> list[dict[str, Any]]:
        """Requests served so far, in order: {"method", "path", "status", "t", "query"}."""
        return self._runtime.requests()

    def clear_requests(self) -> None:
        self._runtime.clear_requests()

    def set_faults(
        self,
        *,
        fail_rate: float | None = None,
        latency_ms: float | None = None,
        drop_rate: float | None = None,
        lost_response_rate: float | None = None,
        stall_ms: float | None = None,
        slow_body_ms: float | None = None,
        echo_errors: bool | None = None,
    ) -> None:
        """Change fault injection while running; arguments left None keep their current value."""
        self._runtime.set_faults(
            fail_rate=fail_rate,
            latency_ms=latency_ms,
            drop_rate=drop_rate,
            lost_response_rate=lost_response_rate,
            stall_ms=stall_ms,
            slow_body_ms=slow_body_ms,
            echo_errors=echo_errors,
        )

    def inject_fault(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        status: int = 503,
        ms: float | None = None,
    ) -> None:
        """Script a fault for the next `times` /v2 or Hub requests matching `method` and `path`.

        `path` is an fnmatch pattern on the request path (e.g. "/v2/endpoint/acme/*"). Kinds:
        "error" (answer `status`, with Retry-After), "drop" (close the connection unanswered, nothing
        done; it hangs `ms` first, default the emulator's stall_ms), "lost_response" (/v2 writes
        only: carry the request out, then close the connection without its answer, after `ms`),
        "delay" (hold the request `ms` before carrying it out: a slow server) and "slow_body"
        (trickle the answer's body out over `ms`). Scripted faults come before the random ones, in
        the order they were added, and do not consume the seeded RNG.
        """
        self._runtime.inject_fault(kind, method=method, path=path, times=times, status=status, ms=ms)

    def pending_faults(self) -> int:
        """How many scripted faults have not been used yet."""
        return self._runtime.pending_faults()

    def fail_deploy(self, namespace: str, name: str, reason: str = "the container exited with code 137") -> None:
        """Make every deployment of `namespace/name` (created or updated from now on) fail with `reason`."""
        self._runtime.store.fail_deploy(namespace, name, reason)

    def endpoint_raw(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The endpoint exactly as GET /v2/endpoint/{ns}/{name} would return it, or None."""
        return self._runtime.store.raw(namespace, name)

    def advance(self, seconds: float) -> None:
        """Move the emulated clock forward (scale-to-zero idle timers); provisioning is unaffected."""
        self._runtime.store.advance(seconds)


def serve_forever(config: EmulatorConfig) -> int:
    """Run in the foreground: base URL as the first stdout line, then serve until SIGINT/SIGTERM."""
    emulator = Emulator(config)
    url = emulator.start()
    print(url, flush=True)
    print(
        f"hfops emulator: serving the endpoints API at {url}/v2 (Ctrl+C to stop)", file=sys.stderr, flush=True
    )
    done = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("hfops emulator: stopped", file=sys.stderr, flush=True)
    return 0
