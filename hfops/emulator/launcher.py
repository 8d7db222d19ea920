"""The TGI launcher's side: which TGI an image runs, its token limits, and whether it starts at all.

The store asks `deploy_failure()` when a deployment starts (a non-text-generation model, a gated or
unknown repository, or limits the TGI launcher would refuse end in `failed`/`updateFailed`, with the
launcher's own message), and `compute_limits()` gives `/info`'s `max_input_tokens`/`max_total_tokens`
the way TGI derives them:

- explicit limits first: image `tgi.maxTotalTokens` / `tgi.maxInputLength`, else the launcher env
  (`MAX_TOTAL_TOKENS`, `MAX_INPUT_TOKENS` | `MAX_INPUT_LENGTH`);
- otherwise the model's context (config.json `max_position_embeddings`, else `max_seq_len`,
  `n_positions`, `seq_length`), capped at 4096 for images older than 2.4 (2048/1024 for 1.x), with
  `max_input_tokens = max_total_tokens - 1` (TGI >= 2.4 "zero config");
- with `served_window="kv-cache"` (U10), TGI >= 2.4 also caps that default at the KV-cache capacity of
  the instance's GPU memory (kvcache.py), and a model whose weights do not fit fails to deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import kvcache
from .catalog import CONTEXT_KEYS, ModelCatalog, ModelEntry, find_compute
from .validation import image_variant

TGI_REPOSITORY = "huggingface/text-generation-inference"  # the container TGI images come from
DEFAULT_TGI_VERSION = "3.3.7"  # what the default `huggingface` image runs: TGI's last release (U12)
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
    """TGI serves the endpoint: a tgi image, a custom image of TGI's container (huggingface_hub's
    documented `custom_image={"url": "ghcr.io/huggingface/text-generation-inference:..."}`), or the
    default image deploying a text-generation task."""
    variant, conf = image_variant(spec["model"]["image"])
    if variant in ("tgi", "tgiNeuron"):
        return True
    if variant == "custom" and TGI_REPOSITORY in str(conf.get("url", "")):
        return True
    return variant in ("huggingface", "huggingfaceNeuron") and spec["model"].get("task") == "text-generation"


def tgi_version(spec: dict[str, Any]) -> str:
    """The TGI version an image runs, read from the image url's tag (`...:3.1.1`); default image = v3."""
    variant, conf = image_variant(spec["model"]["image"])
    url = str(conf.get("url", ""))
    if variant not in ("tgi", "tgiNeuron") and not (variant == "custom" and TGI_REPOSITORY in url):
        return DEFAULT_TGI_VERSION
    tail = url.rsplit("/", 1)[-1]
    tag = tail.split(":", 1)[1] if ":" in tail else ""
    match = _VERSION_RE.match(tag)
    if not match:  # `latest`, `sha-…`: the current release
        return DEFAULT_TGI_VERSION
    major, minor, patch = match.group(1), match.group(2), match.group(3) or "0"
    return f"{int(major)}.{int(minor)}.{int(patch)}"


def version_tuple(version: str) -> tuple[int, int, int]:
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
    # The platform passes `tgi.maxInputLength` to the launcher as MAX_INPUT_LENGTH (the image value
    # wins over the same env variable), so the image and MAX_INPUT_TOKENS in env conflict too.
    # hfops/core/tgi_launcher.py holds hfops' copy of these rules (tests/test_launcher_rules.py).
    if "MAX_INPUT_TOKENS" in env and ("MAX_INPUT_LENGTH" in env or image.get("maxInputLength")):
        length = image.get("maxInputLength") or env.get("MAX_INPUT_LENGTH")
        raise DeployFailure(
            f"Both `max_input_tokens` ({env['MAX_INPUT_TOKENS']}) and `max_input_length` "
            f"({length}) are set. Please define only `max_input_tokens` as "
            "`max_input_length is deprecated for naming consistency."
        )
    total_set = image.get("maxTotalTokens") or _env_int(env, "MAX_TOTAL_TOKENS")
    input_set = (
        image.get("maxInputLength") or _env_int(env, "MAX_INPUT_TOKENS") or _env_int(env, "MAX_INPUT_LENGTH")
    )
    prefill = image.get("maxBatchPrefillTokens") or _env_int(env, "MAX_BATCH_PREFILL_TOKENS")
    batch_total = image.get("maxBatchTotalTokens") or _env_int(env, "MAX_BATCH_TOTAL_TOKENS")

    version = tgi_version(spec)
    vtuple = version_tuple(version)
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
