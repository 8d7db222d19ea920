"""A fake text-generation-inference (TGI) server, and the rules deciding whether TGI can start at all.

The store asks `deploy_failure()` when a deployment starts (a non-text-generation model, a gated or
unknown repository, or limits the TGI launcher would refuse end in `failed`/`updateFailed`), and
`compute_limits()` gives `/info`'s `max_input_tokens`/`max_total_tokens` the way TGI derives them:

- explicit limits first: image `tgi.maxTotalTokens` / `tgi.maxInputLength`, else the launcher env
  (`MAX_TOTAL_TOKENS`, `MAX_INPUT_TOKENS` | `MAX_INPUT_LENGTH`);
- otherwise the model's context (config.json `max_position_embeddings`, else `max_seq_len`,
  `n_positions`, `seq_length`), capped at 4096 for images older than 2.4 (2048/1024 for 1.x), with
  `max_input_tokens = max_total_tokens - 1` (TGI >= 2.4 "zero config");
- with `served_window="kv-cache"` (U10), TGI >= 2.4 also caps that default at the KV-cache capacity of
  the instance's GPU memory (kvcache.py), and a model whose weights do not fit fails to deploy.

`serve()` answers one request for a *running* endpoint (the server handles auth, state, wake-ups).
Token counts are whitespace-separated words; chat adds `CHAT_TOKENS_PER_MESSAGE` per message.
Replies are deterministic: "This is an emulated reply to: <first words of the input>".
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from . import kvcache
from .catalog import CONTEXT_KEYS, ModelCatalog, ModelEntry, find_compute
from .responses import Response, json_response
from .validation import image_variant

DEFAULT_TGI_VERSION = "3.3.7"  # what the default `huggingface` image runs: TGI's last release (U12)
CHAT_TOKENS_PER_MESSAGE = 4  # chat-template overhead per message, in emulated tokens
MODEL_ID = "/repository"  # IE mounts the repository there, so TGI reports the path, not the repo id
_REPLY_PREFIX = ("This", "is", "an", "emulated", "reply", "to:")
_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


class DeployFailure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TgiLimits:
    version: str
    max_input_tokens: int
    max_total_tokens: int
    max_batch_total_tokens: int | None


@dataclass(frozen=True)
class TgiContext:
    """What a running endpoint's container knows: its model and, for TGI, its limits."""

    model: ModelEntry | None
    model_sha: str | None
    task: str | None
    limits: TgiLimits | None  # None: not a TGI container
    health_route: str


def is_tgi(spec: dict[str, Any]) -> bool:
    """TGI serves the endpoint: a tgi image, or the default image deploying a text-generation task."""
    variant, _ = image_variant(spec["model"]["image"])
    if variant in ("tgi", "tgiNeuron"):
        return True
    return variant in ("huggingface", "huggingfaceNeuron") and spec["model"].get("task") == "text-generation"


def tgi_version(spec: dict[str, Any]) -> str:
    """The TGI version an image runs, read from the image url's tag (`...:3.1.1`); default image = v3."""
    variant, conf = image_variant(spec["model"]["image"])
    if variant not in ("tgi", "tgiNeuron"):
        return DEFAULT_TGI_VERSION
    url = str(conf.get("url", ""))
    tail = url.rsplit("/", 1)[-1]
    tag = tail.split(":", 1)[1] if ":" in tail else ""
    match = _VERSION_RE.match(tag)
    if not match:  # `latest`, `sha-…`: the current release
        return DEFAULT_TGI_VERSION
    major, minor, patch = match.group(1), match.group(2), match.group(3) or "0"
    return f"{int(major)}.{int(minor)}.{int(patch)}"


def _version_tuple(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def _env_int(env: dict[str, str], name: str) -> int | None:
    if name not in env:
        return None
    value = env[name].strip()
    if not value.isdigit() or int(value) < 1:
        raise DeployFailure(f"invalid value '{env[name]}' for {name}: expected a positive integer")
    return int(value)


def kv_capacity(model: ModelEntry, spec: dict[str, Any]) -> int | None:
    """KV-cache tokens the endpoint's GPUs hold for this model (None: not limited; kvcache.py)."""
    comp = spec["compute"]
    found = find_compute(
        spec["provider"]["vendor"], spec["provider"]["region"],
        comp["accelerator"], comp["instanceType"], comp["instanceSize"],
    )
    if found is None or found.accelerator != "gpu":
        return None
    variant, conf = image_variant(spec["model"]["image"])
    env: dict[str, str] = spec["model"].get("env") or {}
    quantize = (conf.get("quantize") if variant == "tgi" else None) or env.get("QUANTIZE")
    return kvcache.capacity_tokens(model.config, found.gpu_memory_gb, quantize)


def compute_limits(model: ModelEntry, spec: dict[str, Any], *, kv_cache: bool = False) -> TgiLimits:
    """TGI's token limits for this model and container config; DeployFailure if the launcher would abort."""
    env: dict[str, str] = spec["model"].get("env") or {}
    variant, conf = image_variant(spec["model"]["image"])
    image = conf if variant in ("tgi", "tgiNeuron") else {}
    if "MAX_INPUT_TOKENS" in env and "MAX_INPUT_LENGTH" in env:
        raise DeployFailure(
            f"Both `max_input_tokens` ({env['MAX_INPUT_TOKENS']}) and `max_input_length` "
            f"({env['MAX_INPUT_LENGTH']}) are set. Please define only `max_input_tokens` as "
            "`max_input_length is deprecated for naming consistency."
        )
    total_set = image.get("maxTotalTokens") or _env_int(env, "MAX_TOTAL_TOKENS")
    input_set = (
        image.get("maxInputLength") or _env_int(env, "MAX_INPUT_TOKENS") or _env_int(env, "MAX_INPUT_LENGTH")
    )
    prefill = image.get("maxBatchPrefillTokens") or _env_int(env, "MAX_BATCH_PREFILL_TOKENS")
    batch_total = image.get("maxBatchTotalTokens") or _env_int(env, "MAX_BATCH_TOTAL_TOKENS")

    version = tgi_version(spec)
    vtuple = _version_tuple(version)
    known_ctx = model.context_length
    ctx = known_ctx or 4096
    if vtuple < (2, 0, 0):
        total = total_set or min(ctx, 2048)
        max_input = input_set or min(1024, total - 1)
    elif vtuple < (2, 4, 0):
        total = total_set or min(ctx, 4096)
        max_input = input_set or total - 1
    else:
        served = ctx
        capacity = kv_capacity(model, spec) if kv_cache else None
        if capacity is not None and capacity < kvcache.BLOCK_SIZE:
            raise DeployFailure(
                "torch.OutOfMemoryError: CUDA out of memory: the model's weights do not fit in the "
                "instance's GPU memory (use a larger instance or a quantized model)"
            )
        if capacity is not None and total_set is None:
            served = min(ctx, capacity)
        total = total_set or served
        max_input = input_set or total - 1

    if max_input >= total:
        raise DeployFailure(f"`max_input_tokens`({max_input}) must be < `max_total_tokens`({total})")
    if known_ctx is not None and total > known_ctx:
        key = next(k for k in CONTEXT_KEYS if model.config.get(k) == known_ctx)
        raise DeployFailure(
            f"`max_total_tokens` ({total}) must be <= the model's context length ({known_ctx}, `{key}`)"
        )
    if prefill is not None and prefill < max_input:
        raise DeployFailure(
            f"`max_batch_prefill_tokens` must be >= `max_input_tokens`. Given: {prefill} and {max_input}"
        )
    if batch_total is not None and batch_total < total:
        raise DeployFailure(
            f"`max_total_tokens` must be <= `max_batch_total_tokens`. Given: {total} and {batch_total}"
        )
    return TgiLimits(version, max_input, total, batch_total)


def deploy_failure(spec: dict[str, Any], catalog: ModelCatalog, *, kv_cache: bool = False) -> str | None:
    """Why this spec's container would not start (the failed/updateFailed reason), or None."""
    variant, _ = image_variant(spec["model"]["image"])
    if variant == "custom":
        return None  # a custom container needs no repository
    repo, revision = spec["model"]["repository"], spec["model"].get("revision")
    model = catalog.get(repo)
    if model is None:
        return f"Repository '{repo}' was not found on the Hub, or the endpoint's token cannot access it"
    if model.resolve(revision) is None:
        return f"Revision '{revision}' was not found in repository '{repo}'"
    if model.is_gated:
        return f"Cannot access gated repository '{repo}': access has not been granted"
    if is_tgi(spec):
        if model.pipeline_tag != "text-generation":
            return (
                f"text-generation-inference cannot serve '{repo}': its pipeline tag is "
                f"'{model.pipeline_tag}', not 'text-generation'"
            )
        try:
            compute_limits(model, spec, kv_cache=kv_cache)
        except DeployFailure as exc:
            return f"text-generation-inference launcher error: {exc.reason}"
    return None


def make_context(
    spec: dict[str, Any], catalog: ModelCatalog, health_route: str, *, kv_cache: bool = False
) -> TgiContext:
    model = catalog.get(spec["model"]["repository"])
    sha = model.resolve(spec["model"].get("revision")) if model else None
    limits: TgiLimits | None = None
    if model is not None and is_tgi(spec):
        try:
            limits = compute_limits(model, spec, kv_cache=kv_cache)
        except DeployFailure:
            limits = None
    return TgiContext(model, sha, spec["model"].get("task"), limits, health_route)


# ------------------------------------------------------------------------------------- serving


def count_tokens(text: str) -> int:
    return len(text.split())


def info_payload(ctx: TgiContext) -> dict[str, Any]:
    assert ctx.limits is not None
    limits, vtuple = ctx.limits, _version_tuple(ctx.limits.version)
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
