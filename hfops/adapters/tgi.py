"""Calls to a deployed endpoint's TGI routes, as GenStudio makes them: health, /info, chat.

Health and /info go through huggingface_hub's HTTP session (the client has no method for them);
the chat completion goes through `InferenceClient`, the real client. A scaled-to-zero endpoint
answers 503 while a replica starts; `X-Scale-Up-Timeout` asks the proxy to hold the request until
the replica is ready instead.

A token is sent only to an https URL (or loopback: the emulator); what the endpoint answers is
read capped (http.py) and its error text has terminal control stripped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
from huggingface_hub import get_session
from huggingface_hub.errors import HfHubHTTPError

from hfops.adapters.http import is_secure_url
from hfops.core.errors import RemoteError
from hfops.core.model import HEALTH_ROUTE
from hfops.core.redact import strip_control

INSECURE = "refused: the URL is not https, and a token is never sent over plain http"


def _server_text(text: str | None) -> str | None:
    if not text:
        return None
    lines = strip_control(text).strip().splitlines()
    return lines[0][:300] if lines else None


@dataclass(frozen=True)
class ProbeResult:
    status: int | None  # None: no HTTP answer at all
    body: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def _headers(token: str | None, scale_up_timeout: float | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if scale_up_timeout:
        headers["X-Scale-Up-Timeout"] = str(int(scale_up_timeout))
    return headers


def _get(
    url: str, *, token: str | None, timeout: float, scale_up_timeout: float | None = None
) -> ProbeResult:
    if token and not is_secure_url(url):
        return ProbeResult(None, error=INSECURE)
    try:
        response = get_session().get(
            url,
            headers=_headers(token, scale_up_timeout),
            timeout=timeout + (scale_up_timeout or 0),
        )
    except httpx2.HTTPError as error:
        return ProbeResult(None, error=type(error).__name__)
    except RemoteError as error:  # refused by the session: a redirect elsewhere, an oversized answer
        return ProbeResult(None, error=error.message)
    body: Any = None
    try:
        body = response.json() if response.content else None
    except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
        body = None
    return ProbeResult(response.status_code, body)


def health(url: str, *, token: str | None, route: str = HEALTH_ROUTE, timeout: float = 10.0) -> ProbeResult:
    return _get(url.rstrip("/") + "/" + route.lstrip("/"), token=token, timeout=timeout)


def info(
    url: str, *, token: str | None, timeout: float = 10.0, scale_up_timeout: float | None = None
) -> ProbeResult:
    return _get(url.rstrip("/") + "/info", token=token, timeout=timeout, scale_up_timeout=scale_up_timeout)


def served_context(info_body: Any) -> int | None:
    """`max_total_tokens` from a TGI /info body (older TGI named the input limit differently)."""
    if isinstance(info_body, dict):
        value = info_body.get("max_total_tokens")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def chat(
    url: str, *, token: str | None, timeout: float = 30.0, scale_up_timeout: float | None = None
) -> ProbeResult:
    """One short chat completion through `InferenceClient`; the reply text is in `body`."""
    if token and not is_secure_url(url):
        return ProbeResult(None, error=INSECURE)
    # Imported here: the client and its providers' modules cost ~0.15 s, which an apply (health and
    # /info only, on the session) would pay before its first request.
    from huggingface_hub import InferenceClient

    headers = {"X-Scale-Up-Timeout": str(int(scale_up_timeout))} if scale_up_timeout else None
    client = InferenceClient(
        base_url=url.rstrip("/"), api_key=token, headers=headers, timeout=timeout + (scale_up_timeout or 0)
    )
    try:
        output = client.chat_completion(messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        return ProbeResult(status, error=_server_text(error.server_message))
    except httpx2.HTTPError as error:
        return ProbeResult(None, error=type(error).__name__)
    except RemoteError as error:
        return ProbeResult(None, error=error.message)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        return ProbeResult(None, error=f"the answer is not a chat completion ({type(error).__name__})")
    try:
        text = output.choices[0].message.content if output.choices else None
    except (KeyError, TypeError, AttributeError, IndexError):
        return ProbeResult(None, error="the answer is not a chat completion")
    return ProbeResult(200, body=strip_control(text) if isinstance(text, str) else None)
