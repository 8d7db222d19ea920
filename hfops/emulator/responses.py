"""HTTP response values and the API error type, shared by the route modules and the server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    """A complete response: the server always sends it with a Content-Length (keep-alive safe)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = "application/json"
    fault: str | None = None  # set when the answer is an injected fault (recorded in the request log)
    trickle_ms: float = 0.0  # send the body slowly, spread over this many milliseconds
    pad_bytes: int = 0  # whitespace after the body, sent chunked without a Content-Length (oversized answers)


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), list(headers or []))


def error_response(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    # The endpoints API's error shape (OAS23 ApiResponseError): {"error": "<string>"}.
    return json_response(status, {"error": message}, headers)


class ApiError(Exception):
    """Raised by the store and validation; the server turns it into `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        return error_response(self.status, self.message)
