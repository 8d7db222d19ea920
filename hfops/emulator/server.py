"""The HTTP side: one stdlib threading server on one port, and the `Emulator` lifecycle around it.

The handler reads each request fully (HTTP/1.1 keep-alive: every response carries a Content-Length),
hands it to the router (routes.py: auth, faults, /v2, Hub, TGI), records it in the request log
(request_log.py) and writes the answer, slowly when a slow body was asked for; a `Dropped` fault
closes the connection unanswered. `Emulator` runs it in a background thread; `serve_forever` runs it
in the foreground until SIGINT/SIGTERM.

Why one module of ~420 lines: the handler and the `Emulator` lifecycle (start, stop, the test
helpers that read and drive its state) are one job, serving; routing, faults and the request log
are their own modules.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, cast

from .config import EmulatorConfig
from .faults import Dropped
from .request_log import RequestLog
from .responses import Response, error_response
from .routes import Router

MAX_BODY = 16 * 1024 * 1024


class _BodyError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class _Runtime:
    """What the handler threads share: the router, the request log and the open connections."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.router = Router(config)
        self.store = self.router.store
        self.faults = self.router.faults
        self.stopping = self.router.stopping
        self.log = RequestLog(config.request_log)
        self._conn_lock = threading.Lock()
        self._conns: set[socket.socket] = set()

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
            response = runtime.router.dispatch(self.command, path, self.headers, body)
        except _BodyError as exc:
            response = exc.response
            self.close_connection = True  # the rest of the body is still on the wire
        except Dropped as drop:
            runtime.log.record(self.command, path, query, drop.status, started, fault=drop.kind)
            self.close_connection = True
            if drop.stall > 0:
                runtime.stopping.wait(drop.stall)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # Logged before sending, so a client that has its response always finds it in requests().
        runtime.log.record(self.command, path, query, response.status, started, fault=response.fault)
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
        if response.pad_bytes > 0:
            self._send_padded(response)
            return
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

    def _send_padded(self, response: Response) -> None:
        """An oversized answer: the body, then `pad_bytes` of whitespace, chunked (no length told).

        Generated piece by piece, so the emulator itself never holds it; a client that stops
        reading makes the write fail, which ends it.
        """
        self.close_connection = True
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Request-Id", f"emu-{time.monotonic_ns():x}")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        piece = b" " * (1024 * 1024)
        chunks = [response.body] if response.body else []
        self.wfile.write(b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks))
        left = response.pad_bytes
        while left > 0 and not self.runtime.stopping.is_set():
            size = min(left, len(piece))
            self.wfile.write(b"%x\r\n" % size + piece[:size] + b"\r\n")
            left -= size
        self.wfile.write(b"0\r\n\r\n")
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
        self._runtime.log.open()
        try:
            server = _Server((self.config.host, self.config.port), self._runtime)
        except BaseException:
            self._runtime.log.close()
            raise
        host = self.config.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        self._url = f"http://{host}:{server.server_address[1]}"
        # A misconfigured or hostile API may report endpoint URLs elsewhere (endpoint_url_base).
        self._runtime.store.base_url = (self.config.endpoint_url_base or self._url).rstrip("/")
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
        self._runtime.log.close()

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
        return self._runtime.log.entries()

    def clear_requests(self) -> None:
        self._runtime.log.clear()

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
        self._runtime.faults.set(
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
        location: str | None = None,
        message: str | None = None,
    ) -> None:
        """Script a fault for the next `times` /v2 or Hub requests matching `method` and `path`.

        `path` is an fnmatch pattern on the request path (e.g. "/v2/endpoint/acme/*"). Kinds:
        "error" (answer `status`, with Retry-After, and `message` if given: a server quoting what it
        refused), "drop" (close the connection unanswered, nothing
        done; it hangs `ms` first, default the emulator's stall_ms), "lost_response" (/v2 writes
        only: carry the request out, then close the connection without its answer, after `ms`),
        "delay" (hold the request `ms` before carrying it out: a slow server) and "slow_body"
        (trickle the answer's body out over `ms`). A hostile server's (/v2): "redirect" (307 to
        `location` + the same path, nothing done), "malformed_json" / "malformed_html" /
        "malformed_shape" / "malformed_deep" (a 2xx answer's body replaced, the request carried out) and "oversized"
        (a 2xx answer padded with `oversized_mb` MB, default 300, sent chunked). Scripted faults
        come before the random ones, in the order they were added, and do not consume the seeded RNG.
        """
        self._runtime.faults.inject(
            kind, method=method, path=path, times=times, status=status, ms=ms, location=location, message=message
        )

    def pending_faults(self) -> int:
        """How many scripted faults have not been used yet."""
        return self._runtime.faults.pending()

    def fail_deploy(self, namespace: str, name: str, reason: str = "the container exited with code 137") -> None:
        """Make every deployment of `namespace/name` (created or updated from now on) fail with `reason`."""
        self._runtime.store.fail_deploy(namespace, name, reason)

    def endpoint_raw(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The endpoint exactly as GET /v2/endpoint/{ns}/{name} would return it, or None."""
        return self._runtime.store.raw(namespace, name)

    def secret_keys(self, namespace: str, name: str) -> tuple[str, ...] | None:
        """For tests: the secret keys the emulator stores for an endpoint (the API may not show them, U5)."""
        return self._runtime.store.secret_keys(namespace, name)

    def push_commit(self, repository: str, sha: str, ref: str = "main") -> None:
        """For tests: a new commit `sha` on branch `ref` of a Hub model (the branch moves; old commits stay)."""
        self._runtime.router.catalog.push_commit(repository, sha, ref)

    def advance(self, seconds: float) -> None:
        """Move the emulated clock forward (scale-to-zero idle timers); provisioning is unaffected."""
        self._runtime.store.advance(seconds)


def serve_forever(config: EmulatorConfig) -> int:
    """Run in the foreground: base URL as the first stdout line, then serve until SIGINT/SIGTERM."""
    done = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    # Handlers first: whoever reads the URL may stop the emulator at once, and must get a clean stop
    # (a signal between the URL and the handlers killed the process with -15 on a loaded machine).
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    emulator = Emulator(config)
    url = emulator.start()
    print(url, flush=True)
    print(
        f"hfops emulator: serving the endpoints API at {url}/v2 (Ctrl+C to stop)", file=sys.stderr, flush=True
    )
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
