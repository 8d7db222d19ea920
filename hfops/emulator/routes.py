"""Routing: one request (method, path, headers, body) in, one `Response` out.

    /v2/...                     Inference Endpoints API (store.py), bearer token required
    /api/..., /{repo}/resolve/  Hub routes (hub.py)
    /endpoints/{id}/...         each endpoint's TGI (tgi.py), at the endpoint's `status.url`

The router owns bearer auth and the token's identity (whoami user and organisations; with
`namespaces="restricted"` only those namespaces answer, others 401: U8), the per-token rate limit
(ratelimit.py, U9), `latency_ms`, the fault injector's place in the flow (faults.py), the
scale-to-zero wake-up and the `X-Scale-Up-Timeout` hold, and strict private endpoints' TGI routes
answering 404 from outside their VPC (U4). It knows nothing about sockets (server.py).
"""

from __future__ import annotations

import hmac
import json
import math
import sys
import threading
import time
import traceback
from typing import Any
from urllib.parse import unquote

from . import hub, tgi
from .catalog import ORGS, USER_NAME, ModelCatalog
from .clock import Clock
from .config import EmulatorConfig
from .faults import Dropped, FaultInjector, retry_headers
from .ratelimit import RateLimiter
from .responses import ApiError, Response, error_response, json_response
from .store import Store

UNAUTHORIZED = "A valid user or organization token, sent as a Bearer, is required"
RATE_LIMITED = "You have exceeded the rate limit for API requests: retry later"
PRIVATE_FROM_OUTSIDE = "Not Found: a private endpoint is reachable only from its AWS PrivateLink VPC"
DEFAULT_IDENTITY = hub.Identity(USER_NAME, ORGS)
_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class Router:
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
            variants=config,
        )
        self.limiter = (
            RateLimiter(config.rate_limit, config.rate_burst, headers_on_success=config.rate_limit_headers == "always")
            if config.rate_limit > 0
            else None
        )
        self.stopping = threading.Event()
        self.faults = FaultInjector(
            seed=config.seed,
            retry_after_seconds=config.retry_after_seconds,
            fail_rate=config.fail_rate,
            latency_ms=config.latency_ms,
            drop_rate=config.drop_rate,
            lost_response_rate=config.lost_response_rate,
            stall_ms=config.stall_ms,
            slow_body_ms=config.slow_body_ms,
            echo_errors=config.echo_errors,
            redirect_writes_to=config.redirect_writes_to,
            malformed_rate=config.malformed_rate,
            malformed_kind=config.malformed_kind,
            oversized_mb=config.oversized_mb,
            escape_errors=config.escape_errors,
        )

    # ---------------------------------------------------------------------------------- auth

    @staticmethod
    def bearer(headers: Any) -> str | None:
        scheme, _, token = str(headers.get("Authorization") or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _named(self, token: str) -> hub.Identity | None:
        for known, user, orgs in self.config.token_namespaces:
            if hmac.compare_digest(token.encode(), known.encode()):
                return hub.Identity(user, orgs)
        return None

    def identity(self, headers: Any) -> hub.Identity:
        """Who a (valid) token belongs to: its --token-namespace entry, else the default emulator user."""
        token = self.bearer(headers)
        return (self._named(token) if token else None) or DEFAULT_IDENTITY

    def token_state(self, headers: Any) -> str:
        value = headers.get("Authorization")
        if not value:
            return "none"
        token = self.bearer(headers)
        if token is None:
            return "invalid"
        if self._named(token) is not None:
            return "valid"
        if self.config.tokens:
            ok = any(hmac.compare_digest(token.encode(), t.encode()) for t in self.config.tokens)
        else:
            ok = token.startswith("hf_")
        return "valid" if ok else "invalid"

    # ------------------------------------------------------------------------------ dispatch

    def dispatch(self, method: str, path: str, headers: Any, body: bytes) -> Response:
        latency = self.faults.latency_ms
        if latency > 0 and self.stopping.wait(latency / 1000.0):
            return error_response(503, "Service Unavailable: the emulator is stopping")
        segments = [unquote(part) for part in path.split("/")[1:]]
        if segments and segments[-1] == "" and len(segments) > 1:
            segments = segments[:-1]
        is_tgi = bool(segments) and segments[0] == "endpoints" and len(segments) >= 2
        if self.limiter is not None and not is_tgi:
            token = self.bearer(headers)
            wait = self.limiter.acquire(token)
            if wait > 0:
                limit_headers = [h for h in retry_headers(429, wait) if h[0] == "Retry-After"]
                limited = error_response(429, RATE_LIMITED, limit_headers + self.limiter.headers(token))
                limited.fault = "rate_limit"
                return limited
            answer = self._dispatch(method, path, headers, body, segments, is_tgi)
            if self.limiter.headers_on_success:
                answer.headers = [*answer.headers, *self.limiter.headers(token)]
            return answer
        return self._dispatch(method, path, headers, body, segments, is_tgi)

    def _dispatch(
        self, method: str, path: str, headers: Any, body: bytes, segments: list[str], is_tgi: bool
    ) -> Response:
        apply = self.faults.apply
        try:
            if segments and segments[0] == "endpoints" and len(segments) >= 2:
                sub = "/" + "/".join(segments[2:])
                uid = segments[1]
                return apply(
                    method, path, headers, body, lambda: self._tgi(method, uid, sub, headers, body),
                    stopping=self.stopping, tgi=True,
                )
            if segments and segments[0] == "v2":
                return apply(
                    method, path, headers, body, lambda: self._api(method, segments[1:], headers, body),
                    stopping=self.stopping, write=method in _WRITE_METHODS,
                )
            if hub.is_hub_path(segments):
                return apply(
                    method, path, headers, body,
                    lambda: self._hub(method, segments, headers),
                    stopping=self.stopping,
                )
            return error_response(404, "Not Found")
        except ApiError as exc:
            return exc.response()
        except Dropped:
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

    def _hub(self, method: str, segments: list[str], headers: Any) -> Response:
        response = hub.handle(method, segments, self.token_state(headers), self.catalog, self.identity(headers))
        if self.config.strip_commit_header:
            response.headers = [(k, v) for k, v in response.headers if k.lower() != "x-repo-commit"]
        return response

    def _api(self, method: str, segs: list[str], headers: Any, body: bytes) -> Response:
        if self.token_state(headers) != "valid":
            return error_response(401, UNAUTHORIZED)
        store = self.store
        if method == "HEAD":
            method = "GET"  # the server drops the body, keeps the Content-Length
        if len(segs) >= 2 and segs[0] in ("provider", "endpoint") and not self._may_use(headers, segs[1]):
            return error_response(401, UNAUTHORIZED)
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

    def _may_use(self, headers: Any, namespace: str) -> bool:
        if self.config.namespaces == "any":
            return True
        who = self.identity(headers)
        return namespace == who.name or namespace in who.orgs

    # ----------------------------------------------------------------------------- TGI routes

    def _tgi(self, method: str, uid: str, sub: str, headers: Any, body: bytes) -> Response:
        kind = self.store.endpoint_type(uid)
        if kind is None:
            return error_response(404, "Endpoint not found")
        # The endpoint proxy authenticates before anything else: an unauthenticated call never wakes it.
        if kind == "private" and self.config.private_endpoints == "strict":
            return error_response(404, PRIVATE_FROM_OUTSIDE)
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
