"""Parsing and validation of `/v2` request bodies, with the real service's error texts.

The real API is a Rust service: a body that does not deserialize is a 400 "Failed to parse the request
body as JSON: <path>: <serde message>" (serde_path_to_error style); a body that parses but breaks a rule
is a 400 with a plain message. Parsing yields a *patch*: the fields the body gave, normalised. `create`
requires the mandatory ones (OAS23) and fills defaults; `update` merges the patch into the stored spec
(semantics.py: specs, merges and the rules a stored spec obeys).
Called by the store only.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .responses import ApiError

PARSE = "Failed to parse the request body as JSON: "
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
TYPES = ("public", "authenticated", "private")
ACCELERATORS = ("cpu", "gpu", "neuron")
METRICS = ("hardwareUsage", "pendingRequests")
# `model.image` is a one-key union; the key's exact casing is checked server-side (HH issue #4629).
IMAGE_VARIANTS = (
    "huggingface",
    "huggingfaceNeuron",
    "custom",
    "tgi",
    "tgiNeuron",
    "tei",
    "llamacpp",
    "vLLM",
    "vLLMNeuron",
    "sGLang",
    "hfServe",
)
TGI_INT_KEYS = ("maxBatchPrefillTokens", "maxBatchTotalTokens", "maxInputLength", "maxTotalTokens")
QUANTIZE = ("awq", "bitsandbytes", "eetq", "gptq")
_ABSENT = object()


# ----------------------------------------------------------------------------------- primitives


def _describe(value: Any) -> str:
    """How serde names an unexpected JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "a sequence"
    return "a map"


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _type_error(path: str, value: Any, expected: str) -> ApiError:
    return ApiError(400, f"{PARSE}{path}: invalid type: {_describe(value)}, expected {expected}")


def _missing(parent: str, key: str) -> ApiError:
    prefix = f"{parent}: " if parent else ""
    return ApiError(400, f"{PARSE}{prefix}missing field `{key}`")


def _get(obj: dict[str, Any], key: str, parent: str, required: bool) -> Any:
    if key in obj:
        return obj[key]
    if required:
        raise _missing(parent, key)
    return _ABSENT


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _type_error(path, value, "a map")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _type_error(path, value, "a string")
    return value


def _uint(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(path, value, "u32")
    if value < 0:
        raise ApiError(400, f"{PARSE}{path}: invalid value: integer `{value}`, expected u32")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(path, value, "a boolean")
    return value


def _enum(value: Any, path: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise _type_error(path, value, "a string")
    if value not in allowed:
        expected = ", ".join(f"`{a}`" for a in allowed)
        raise ApiError(400, f"{PARSE}{path}: unknown variant `{value}`, expected one of {expected}")
    return value


def _str_map(value: Any, path: str) -> dict[str, str]:
    mapping = _obj(value, path)
    for key, item in mapping.items():
        _str(item, _join(path, key))
    return dict(mapping)


def _str_list(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise _type_error(path, value, "a sequence")
    for index, item in enumerate(value):
        _str(item, f"{path}[{index}]")
    return list(value)


# ---------------------------------------------------------------------------------------- image


def parse_image(value: Any, path: str = "model.image") -> dict[str, Any]:
    """Normalise a `model.image` union. Unknown keys inside known variants are dropped, as the API does."""
    image = _obj(value, path)
    if len(image) != 1:
        expected = ", ".join(f"`{v}`" for v in IMAGE_VARIANTS)
        raise ApiError(400, f"{PARSE}{path}: expected exactly one image variant, one of {expected}")
    variant, raw = next(iter(image.items()))
    _enum(variant, path, IMAGE_VARIANTS)
    vpath = f"{path}.{variant}"
    conf = _obj(raw, vpath)
    if variant == "huggingface":
        return {"huggingface": {}}
    if "url" not in conf:
        # Live text quoted in huggingface_hub commit 7105c3d89 ("verified against the live API").
        raise ApiError(400, f"VALIDATION_FAILED: {vpath}: missing field 'url'")
    out: dict[str, Any] = {"url": _str(conf["url"], f"{vpath}.url")}
    if not out["url"].strip():
        raise ApiError(400, f"{vpath}.url must not be empty")
    port = conf.get("port")
    if port is not None:
        port = _uint(port, f"{vpath}.port")
        if not 1 <= port <= 65535:
            raise ApiError(400, f"{vpath}.port must be between 1 and 65535")
    route = conf.get("healthRoute")
    if route is not None:
        route = _str(route, f"{vpath}.healthRoute")
        if not route.startswith("/"):
            raise ApiError(400, f"{vpath}.healthRoute must start with '/'")

    if variant in ("tgi", "tgiNeuron"):
        out["port"] = port if port is not None else 80
        out["healthRoute"] = route or "/health"
        if variant == "tgi":
            kernels = conf.get("disableCustomKernels")
            out["disableCustomKernels"] = (
                False if kernels is None else _bool(kernels, f"{vpath}.disableCustomKernels")
            )
        for key in TGI_INT_KEYS:
            if conf.get(key) is not None:
                number = _uint(conf[key], f"{vpath}.{key}")
                if number < 1:
                    raise ApiError(400, f"{vpath}.{key} must be at least 1")
                out[key] = number
        if variant == "tgi" and conf.get("quantize") is not None:
            out["quantize"] = _enum(conf["quantize"], f"{vpath}.quantize", QUANTIZE)
        if variant == "tgiNeuron":
            if conf.get("hfAutoCastType") is not None:
                out["hfAutoCastType"] = _enum(
                    conf["hfAutoCastType"], f"{vpath}.hfAutoCastType", ("bf16", "fp16")
                )
            if conf.get("hfNumCores") is not None:
                out["hfNumCores"] = _uint(conf["hfNumCores"], f"{vpath}.hfNumCores")
        return {variant: out}

    if variant == "custom":
        out["port"] = port if port is not None else 80
        out["healthRoute"] = route or "/health"
        creds = conf.get("credentials")
        if creds is not None:
            cpath = f"{vpath}.credentials"
            creds = _obj(creds, cpath)
            username = _str(_get(creds, "username", cpath, True), f"{cpath}.username")
            password = creds.get("password")
            out["credentials"] = {
                "username": username,
                "password": None if password is None else _str(password, f"{cpath}.password"),
            }
        return {variant: out}

    # Other engines: keep what was given (their full schemas are not modelled), typed where known.
    for key, item in conf.items():
        if key in ("url", "port", "healthRoute"):
            continue
        if key in ("tensorParallelSize", "dataParallelSize") and item is not None:
            number = _uint(item, f"{vpath}.{key}")
            if number < 1:
                raise ApiError(400, f"{vpath}.{key} must be at least 1")
        out[key] = copy.deepcopy(item)
    if port is not None:
        out["port"] = port
    if route is not None:
        out["healthRoute"] = route
    return {variant: out}


def image_variant(image: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    variant, conf = next(iter(image.items()))
    return variant, conf


# ----------------------------------------------------------------------------------------- body


def _parse_scaling(value: Any, path: str, create: bool) -> dict[str, Any]:
    scaling = _obj(value, path)
    out: dict[str, Any] = {}
    for key in ("minReplica", "maxReplica"):
        item = _get(scaling, key, path, create)
        if item is not _ABSENT:
            out[key] = _uint(item, f"{path}.{key}")
    if "scaleToZeroTimeout" in scaling:
        item = scaling["scaleToZeroTimeout"]
        out["scaleToZeroTimeout"] = None if item is None else _uint(item, f"{path}.scaleToZeroTimeout")
    if scaling.get("measure") is not None:
        measure = _obj(scaling["measure"], f"{path}.measure")
        if len(measure) != 1:
            raise ApiError(400, f"{path}.measure must have exactly one metric ({', '.join(METRICS)})")
        metric, threshold = next(iter(measure.items()))
        _enum(metric, f"{path}.measure", METRICS)
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
            raise _type_error(f"{path}.measure.{metric}", threshold, "f64")
        out["measure"] = {metric: threshold}
        out["metric"] = metric
    if scaling.get("metric") is not None:
        metric = _enum(scaling["metric"], f"{path}.metric", METRICS)
        if "metric" in out and out["metric"] != metric:
            raise ApiError(400, f"{path}.metric ({metric}) does not match {path}.measure ({out['metric']})")
        out["metric"] = metric
    return out


def parse_body(body: Any, *, create: bool, types: tuple[str, ...] = TYPES) -> dict[str, Any]:
    """The fields a create (all mandatory ones required) or update (all optional) body gives, normalised."""
    if not isinstance(body, dict):
        raise ApiError(400, f"{PARSE}invalid type: {_describe(body)}, expected struct Endpoint")
    root: dict[str, Any] = body
    out: dict[str, Any] = {}

    name = _get(root, "name", "", create)
    if name is not _ABSENT:
        out["name"] = _str(name, "name")
    kind = _get(root, "type", "", create)
    if kind is not _ABSENT:
        out["type"] = _enum(kind, "type", types)

    provider = _get(root, "provider", "", create)
    if provider is not _ABSENT:
        provider = _obj(provider, "provider")
        out["provider"] = {}
        for key in ("vendor", "region"):
            item = _get(provider, key, "provider", create)
            if item is not _ABSENT:
                out["provider"][key] = _str(item, f"provider.{key}")

    compute = _get(root, "compute", "", create)
    if compute is not _ABSENT:
        compute = _obj(compute, "compute")
        cout: dict[str, Any] = {}
        item = _get(compute, "accelerator", "compute", create)
        if item is not _ABSENT:
            cout["accelerator"] = _enum(item, "compute.accelerator", ACCELERATORS)
        for key in ("instanceType", "instanceSize"):
            item = _get(compute, key, "compute", create)
            if item is not _ABSENT:
                cout[key] = _str(item, f"compute.{key}")
        item = _get(compute, "scaling", "compute", create)
        if item is not _ABSENT:
            cout["scaling"] = _parse_scaling(item, "compute.scaling", create)
        out["compute"] = cout

    model = _get(root, "model", "", create)
    if model is not _ABSENT:
        model = _obj(model, "model")
        mout: dict[str, Any] = {}
        for key in ("repository", "framework"):
            item = _get(model, key, "model", create)
            if item is not _ABSENT:
                mout[key] = _str(item, f"model.{key}")
                if not mout[key].strip():
                    raise ApiError(400, f"model.{key} must not be empty")
        item = _get(model, "image", "model", create)
        if item is not _ABSENT:
            mout["image"] = parse_image(item)
        if "revision" in model:
            mout["revision"] = (
                None if model["revision"] is None else _str(model["revision"], "model.revision")
            )
        if "task" in model:
            if model["task"] is None:
                # `model.task` is not nullable server-side (huggingface_hub a3d9d8aad): live text.
                raise ApiError(400, f"{PARSE}model.task: expected value")
            mout["task"] = _str(model["task"], "model.task")
        for key in ("env", "secrets"):
            if key in model:
                mout[key] = _str_map(model[key], f"model.{key}")
        for key in ("command", "args"):
            if key in model:
                mout[key] = None if model[key] is None else _str_list(model[key], f"model.{key}")
        out["model"] = mout

    if "tags" in root:
        out["tags"] = _str_list(root["tags"], "tags")
    if root.get("route") is not None:
        route = _obj(root["route"], "route")
        out["route"] = {
            k: _str(route[k], f"route.{k}") for k in ("domain", "path") if route.get(k) is not None
        }
    if root.get("cacheHttpResponses") is not None:
        out["cacheHttpResponses"] = _bool(root["cacheHttpResponses"], "cacheHttpResponses")
    if root.get("privateService") is not None:
        private = _obj(root["privateService"], "privateService")
        pout: dict[str, Any] = {}
        for key in ("accountId", "region"):
            if private.get(key) is not None:
                pout[key] = _str(private[key], f"privateService.{key}")
        if "shared" in private:
            pout["shared"] = _bool(private["shared"], "privateService.shared")
        out["privateService"] = pout
    return out
