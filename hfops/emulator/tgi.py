"""A fake text-generation-inference (TGI) server: `serve()` answers one request for a *running* endpoint.

The server handles auth, state and wake-ups; the limits and whether TGI starts at all are the
launcher's (launcher.py). Token counts are whitespace-separated words; chat adds
`CHAT_TOKENS_PER_MESSAGE` per message. Replies are deterministic: "This is an emulated reply to:
<first words of the input>".
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from .launcher import (
    DEFAULT_TGI_VERSION,
    DeployFailure,
    TgiContext,
    TgiLimits,
    compute_limits,
    deploy_failure,
    is_tgi,
    make_context,
    tgi_version,
    version_tuple,
)
from .responses import Response, json_response

__all__ = [
    "DEFAULT_TGI_VERSION",
    "DeployFailure",
    "TgiContext",
    "TgiLimits",
    "compute_limits",
    "deploy_failure",
    "is_tgi",
    "make_context",
    "serve",
    "tgi_version",
]

CHAT_TOKENS_PER_MESSAGE = 4  # chat-template overhead per message, in emulated tokens
MODEL_ID = "/repository"  # IE mounts the repository there, so TGI reports the path, not the repo id
_REPLY_PREFIX = ("This", "is", "an", "emulated", "reply", "to:")


# ------------------------------------------------------------------------------------- serving


def count_tokens(text: str) -> int:
    return len(text.split())


def info_payload(ctx: TgiContext) -> dict[str, Any]:
    assert ctx.limits is not None
    limits, vtuple = ctx.limits, version_tuple(ctx.limits.version)
    old = vtuple < (2, 3, 0)
    info: dict[str, Any] = {
        "model_id": MODEL_ID,
        "model_sha": ctx.model_sha,
    }
    if old:  # v2.1-2.2 (and earlier) also reported these
        info.update({"model_dtype": "torch.float16", "model_device_type": "cuda"})
    info.update(
        {
            "model_pipeline_tag": ctx.model.pipeline_tag if ctx.model else None,
            "max_concurrent_requests": 128,
            "max_best_of": 2,
            "max_stop_sequences": 4,
            # TGI <= 2.0 named it max_input_length.
            ("max_input_length" if vtuple < (2, 1, 0) else "max_input_tokens"): limits.max_input_tokens,
            "max_total_tokens": limits.max_total_tokens,
        }
    )
    if old:
        info.update(
            {
                "waiting_served_ratio": 0.3,
                "max_batch_total_tokens": limits.max_batch_total_tokens
                or max(limits.max_total_tokens, 16384),
                "max_waiting_tokens": 20,
                "max_batch_size": None,
            }
        )
    info.update(
        {
            "validation_workers": 2,
            "max_client_batch_size": 4,
            "router": "text-generation-router",
            "version": limits.version,
            "sha": None,
            "docker_label": None,
        }
    )
    return info


def _validation_error(message: str) -> Response:
    return json_response(422, {"error": f"Input validation error: {message}", "error_type": "validation"})


def _axum_rejection(status: int, message: str) -> Response:
    # axum's JSON extractor rejects with plain text, before TGI sees the request.
    return Response(status, message.encode(), content_type="text/plain; charset=utf-8")


def _check_lengths(limits: TgiLimits, n_input: int, max_new: int | None) -> tuple[int, Response | None]:
    """TGI's validate_input order: positive max_new_tokens, total budget, then input length."""
    if max_new is not None and max_new <= 0:
        return 0, _validation_error("`max_new_tokens` must be strictly positive")
    if max_new is None:
        max_new = max(limits.max_total_tokens - n_input, 0)
    total = limits.max_total_tokens
    if n_input + max_new > total:
        return max_new, _validation_error(
            f"`inputs` tokens + `max_new_tokens` must be <= {total}. "
            f"Given: {n_input} `inputs` tokens and {max_new} `max_new_tokens`"
        )
    if n_input > limits.max_input_tokens:
        return max_new, _validation_error(
            f"`inputs` must have less than {limits.max_input_tokens} tokens. Given: {n_input}"
        )
    return max_new, None


def _reply(source: str, max_new: int) -> tuple[list[str], bool]:
    words = list(_REPLY_PREFIX) + source.split()[:6]
    truncated = len(words) > max_new
    return words[:max_new], truncated


def _token_list(words: list[str]) -> list[dict[str, Any]]:
    return [
        {"id": 1000 + i, "text": (w if i == 0 else " " + w), "logprob": -0.125, "special": False}
        for i, w in enumerate(words)
    ]


def _sse(events: list[str]) -> Response:
    body = "".join(f"data: {event}\n\n" for event in events).encode()
    return Response(200, body, content_type="text/event-stream")


def _parse_json(body: bytes) -> tuple[Any, Response | None]:
    try:
        return json.loads(body.decode("utf-8") if body else ""), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = getattr(exc, "msg", "invalid UTF-8")
        return None, _axum_rejection(400, f"Failed to parse the request body as JSON: {detail}")


def _generate(ctx: TgiContext, payload: Any, *, stream: bool, as_list: bool) -> Response:
    assert ctx.limits is not None
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), str):
        return _axum_rejection(
            422, "Failed to deserialize the JSON body into the target type: missing or invalid field `inputs`"
        )
    params = payload.get("parameters") or {}
    if not isinstance(params, dict):
        return _axum_rejection(422, "Failed to deserialize the JSON body into the target type: `parameters`")
    inputs: str = payload["inputs"]
    if not inputs.strip():
        return _validation_error("`inputs` cannot be empty")
    max_new = params.get("max_new_tokens")
    if max_new is not None and (isinstance(max_new, bool) or not isinstance(max_new, int)):
        return _axum_rejection(
            422, "Failed to deserialize the JSON body into the target type: parameters.max_new_tokens"
        )
    n_input = count_tokens(inputs)
    max_new, error = _check_lengths(ctx.limits, n_input, max_new)
    if error is not None:
        return error
    words, truncated = _reply(inputs, max_new)
    text = " ".join(words)
    finish = "length" if truncated else "eos_token"
    details = {"finish_reason": finish, "generated_tokens": len(words), "seed": params.get("seed")}
    if stream:
        tokens = _token_list(words)
        events = []
        for index, token in enumerate(tokens):
            last = index == len(tokens) - 1
            events.append(
                json.dumps(
                    {
                        "index": index + 1,
                        "token": token,
                        "top_tokens": None,
                        "generated_text": text if last else None,
                        "details": details if last else None,
                    }
                )
            )
        return _sse(events)
    result: dict[str, Any] = {"generated_text": text}
    if params.get("details"):
        result["details"] = {**details, "prefill": [], "tokens": _token_list(words), "top_tokens": None}
    return json_response(200, [result] if as_list else result)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _chat(ctx: TgiContext, payload: Any) -> Response:
    assert ctx.limits is not None
    messages = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return _axum_rejection(
            422,
            "Failed to deserialize the JSON body into the target type: missing or invalid field `messages`",
        )
    assert isinstance(payload, dict)
    max_new = payload.get("max_tokens", payload.get("max_completion_tokens"))
    if max_new is not None and (isinstance(max_new, bool) or not isinstance(max_new, int)):
        return _axum_rejection(422, "Failed to deserialize the JSON body into the target type: max_tokens")
    texts = [_content_text(m.get("content")) for m in messages]
    n_input = sum(count_tokens(t) + CHAT_TOKENS_PER_MESSAGE for t in texts)
    max_new, error = _check_lengths(ctx.limits, n_input, max_new)
    if error is not None:
        return error
    users = [t for m, t in zip(messages, texts, strict=False) if m.get("role") == "user"]
    words, truncated = _reply(users[-1] if users else (texts[-1] if texts else ""), max_new)
    finish = "length" if truncated else "stop"
    created = int(time.time())
    fingerprint = f"{ctx.limits.version}-native"
    base = {"id": "", "created": created, "model": MODEL_ID, "system_fingerprint": fingerprint}
    if payload.get("stream"):
        events = []
        for index, token in enumerate(_token_list(words)):
            last = index == len(words) - 1
            events.append(
                json.dumps(
                    {
                        "object": "chat.completion.chunk",
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": token["text"]},
                                "logprobs": None,
                                "finish_reason": finish if last else None,
                            }
                        ],
                        "usage": None,
                    }
                )
            )
        events.append("[DONE]")
        return _sse(events)
    return json_response(
        200,
        {
            "object": "chat.completion",
            **base,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": " ".join(words)},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": n_input,
                "completion_tokens": len(words),
                "total_tokens": n_input + len(words),
            },
        },
    )


def _toolkit_predict(ctx: TgiContext, payload: Any) -> Response:
    """POST / on a non-TGI container (the Inference Toolkit): a deterministic, task-shaped answer."""
    if not isinstance(payload, dict) or "inputs" not in payload:
        return json_response(400, {"error": "Body needs to provide a inputs key"})
    digest = hashlib.sha256(json.dumps(payload["inputs"], sort_keys=True).encode()).digest()
    if ctx.task in ("feature-extraction", "sentence-similarity"):
        return json_response(200, [round(b / 255 - 0.5, 4) for b in digest[:8]])
    return json_response(200, [{"label": "LABEL_0", "score": 0.99}])


def serve(method: str, path: str, body: bytes, ctx: TgiContext) -> Response:
    """Answer one request to a running endpoint (path relative to the endpoint URL)."""
    health_paths = {"/", "/health", "/ping", ctx.health_route}
    get_routes = health_paths | {"/info", "/v1/models"}
    post_routes = {"/", "/generate", "/generate_stream", "/v1/chat/completions"}
    if method in ("GET", "HEAD") and path in health_paths:
        return Response(200, b"", content_type=None)
    if ctx.limits is None:  # not TGI: the toolkit only predicts on POST /
        if method == "POST" and path == "/":
            payload, error = _parse_json(body)
            return error or _toolkit_predict(ctx, payload)
        return Response(404, b"", content_type=None)
    if method in ("GET", "HEAD") and path == "/info":
        return json_response(200, info_payload(ctx))
    if method in ("GET", "HEAD") and path == "/v1/models":
        return json_response(
            200,
            {
                "object": "list",
                "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": MODEL_ID}],
            },
        )
    if method == "POST" and path in post_routes:
        payload, error = _parse_json(body)
        if error is not None:
            return error
        if path == "/v1/chat/completions":
            return _chat(ctx, payload)
        stream = path == "/generate_stream" or (
            path == "/" and isinstance(payload, dict) and bool(payload.get("stream"))
        )
        # POST / is TGI's compat route: non-streaming answers are a one-element list.
        return _generate(ctx, payload, stream=stream, as_list=(path == "/"))
    if path in get_routes or path in post_routes:
        return Response(405, b"", content_type=None)
    return Response(404, b"", content_type=None)
