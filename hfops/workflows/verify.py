"""`hfops verify`: use each endpoint exactly as GenStudio will, with the credential file's key.

Health, /info (is the declared context window really served?), and one short chat completion,
waiting out a cold start of a scaled-to-zero endpoint with `X-Scale-Up-Timeout`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hfops.adapters import tgi
from hfops.adapters.http import is_secure_url
from hfops.core.model import EndpointSpec, LiveEndpoint
from hfops.core.redact import REDACTOR


@dataclass(frozen=True)
class VerifyResult:
    address: str
    ok: bool
    detail: str
    state: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"address": self.address, "ok": self.ok, "detail": self.detail, "state": self.state}


def paused_detail(spec: EndpointSpec) -> str:
    """Why a paused endpoint cannot be called, and the one way to resume it that matches the manifest."""
    if spec.paused:
        return "paused, as its manifest says (spec.paused: true); to resume it, remove that line and run hfops apply"
    return "paused outside hfops (its manifest does not say paused); run hfops apply to resume it"


def verify_endpoint(
    spec: EndpointSpec,
    live: LiveEndpoint | None,
    *,
    credential: dict[str, object] | None,
    path: str,
    scale_up_timeout: int,
) -> VerifyResult:
    """`credential` is what the output at `path` (its description) holds, or None if nothing readable."""
    address = spec.address
    if live is None:
        return VerifyResult(address, False, "endpoint does not exist")
    if live.state == "paused":
        return VerifyResult(address, False, paused_detail(spec), live.state)
    if credential is None:
        return VerifyResult(address, False, f"no readable credential at {path}; run hfops credentials", live.state)
    key, url, window = credential.get("api_key"), credential.get("endpoint"), credential.get("context_window")
    if not isinstance(key, str) or not isinstance(url, str) or not isinstance(window, int):
        return VerifyResult(address, False, f"credential {path} is malformed", live.state)
    REDACTOR.add(key)
    if not is_secure_url(url):
        return VerifyResult(
            address,
            False,
            f"credential {path} points at a URL that is not https; its api_key was not sent there",
            live.state,
        )
    if live.url and url.rstrip("/") != live.url.rstrip("/"):
        return VerifyResult(
            address, False, f"credential points at {url}, but the endpoint is at {live.url}", live.state
        )
    if credential.get("model_name") != spec.repository:
        return VerifyResult(address, False, "credential model_name does not match the manifest", live.state)
    info = tgi.info(url, token=key, scale_up_timeout=scale_up_timeout)
    if info.status == 401:
        return VerifyResult(address, False, "401 Unauthorized: the credential's api_key is not accepted", live.state)
    if info.status == 503:
        return VerifyResult(address, False, f"cold start did not finish within {scale_up_timeout}s (503)", live.state)
    if info.status == 400:
        # What a paused endpoint's URL answers ("Invalid state"): it was paused after its state was read.
        detail = f"/info answered 400, as a paused endpoint does: {paused_detail(spec)}"
        return VerifyResult(address, False, detail, live.state)
    if not info.ok:
        return VerifyResult(address, False, f"/info answered {info.status or info.error}", live.state)
    served = tgi.served_context(info.body)
    if served is not None and window > served:
        return VerifyResult(
            address,
            False,
            f"context_window {window} is larger than the endpoint serves ({served})",
            live.state,
        )
    reply = tgi.chat(url, token=key, scale_up_timeout=scale_up_timeout)
    if not reply.ok:
        return VerifyResult(
            address,
            False,
            f"chat completion failed: {reply.status or reply.error}"
            + (f" {reply.error}" if reply.error and reply.status else ""),
            live.state,
        )
    if not reply.body:
        return VerifyResult(address, False, "chat completion returned no text", live.state)
    return VerifyResult(address, True, f"chat ok, context_window {window} (served {served})", live.state)
