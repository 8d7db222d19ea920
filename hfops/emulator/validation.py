"""Parsing and validation of `/v2` request bodies, with the real service's error texts.

The real API is a Rust service: a body that does not deserialize is a 400 "Failed to parse the request
body as JSON: <path>: <serde message>" (serde_path_to_error style); a body that parses but breaks a rule
is a 400 with a plain message. Parsing yields a *patch*: the fields the body gave, normalised. `create`
requires the mandatory ones (OAS23) and fills defaults; `update` merges the patch into the stored spec
(reference §1.3: nested objects merged field-wise, image/env/secrets/tags/args/command replaced whole).
Called by the store only.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .catalog import Compute, find_compute, has_region
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


def null_paths(value: Any, path: str = "") -> list[str]:
    """Where a body sets a field to null (a scaling `measure` threshold may be null: it is a value)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = _join(path, key)
            if item is None:
                found.append(where)
            elif not where.endswith("scaling.measure"):
                found.extend(null_paths(item, where))
    return found


def strip_nulls(value: Any, path: str = "") -> Any:
    """The body with every null field removed, as if it had not been sent (U1 "keep")."""
    if not isinstance(value, dict):
        return value
    return {
        key: item if _join(path, key).endswith("scaling.measure") else strip_nulls(item, _join(path, key))
        for key, item in value.items()
        if item is not None
    }


_NULL_EXPECTED = {"minReplica": "u32", "maxReplica": "u32", "scaleToZeroTimeout": "u32"}


def reject_nulls(body: Any) -> None:
    """400 on the first null field, the way a deserializer without Option fields answers (U1 "reject")."""
    for path in null_paths(body):
        key = path.rsplit(".", 1)[-1]
        expected = _NULL_EXPECTED.get(key, "a sequence" if key in ("tags", "command", "args") else "a value")
        raise ApiError(400, f"{PARSE}{path}: invalid type: null, expected {expected}")


def check_private(spec: dict[str, Any]) -> None:
    """U4 "strict": a private endpoint needs the AWS account PrivateLink lets in."""
    if spec["type"] == "private" and not (spec.get("privateService") or {}).get("accountId"):
        raise ApiError(
            400,
            "privateService.accountId is required for a private endpoint: the AWS account id allowed "
            "to connect through AWS PrivateLink",
        )


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


def spec_from_create(patch: dict[str, Any]) -> dict[str, Any]:
    """A complete stored spec from a create patch (defaults filled; task inference is the store's)."""
    scaling = patch["compute"]["scaling"]
    model = patch["model"]
    spec: dict[str, Any] = {
        "name": patch["name"],
        "type": patch["type"],
        "accountId": None,
        "provider": dict(patch["provider"]),
        "compute": {
            "accelerator": patch["compute"]["accelerator"],
            "instanceType": patch["compute"]["instanceType"],
            "instanceSize": patch["compute"]["instanceSize"],
            "scaling": {
                "minReplica": scaling["minReplica"],
                "maxReplica": scaling["maxReplica"],
                "scaleToZeroTimeout": scaling.get("scaleToZeroTimeout"),
                "metric": scaling.get("metric", "hardwareUsage"),
                "measure": scaling.get("measure", {"hardwareUsage": None}),
            },
        },
        "model": {
            "repository": model["repository"],
            "revision": model.get("revision"),
            "task": model.get("task"),
            "framework": model["framework"],
            "image": model["image"],
            "env": model.get("env", {}),
            "secrets": model.get("secrets", {}),
        },
        "tags": patch.get("tags", []),
    }
    for key in ("command", "args"):
        if model.get(key) is not None:
            spec["model"][key] = model[key]
    for key in ("route", "cacheHttpResponses", "privateService"):
        if key in patch:
            spec[key] = patch[key]
    return spec


def merge_update(old: dict[str, Any], patch: dict[str, Any], *, auto_clear_timeout: bool = True) -> dict[str, Any]:
    """Apply a PUT patch: objects merged field-wise; image/env/secrets/tags/args/command replaced whole.

    `auto_clear_timeout` (U1 "clear"): raising minReplica above 0 without naming the timeout clears it.
    """
    if "name" in patch and patch["name"] != old["name"]:
        raise ApiError(400, "The name of an endpoint cannot be changed")
    new = copy.deepcopy(old)
    if "type" in patch:
        new["type"] = patch["type"]
    if "provider" in patch:
        new["provider"].update(patch["provider"])
    if "compute" in patch:
        cpatch = patch["compute"]
        for key in ("accelerator", "instanceType", "instanceSize"):
            if key in cpatch:
                new["compute"][key] = cpatch[key]
        if "scaling" in cpatch:
            spatch = cpatch["scaling"]
            scaling = new["compute"]["scaling"]
            scaling.update(spatch)
            # huggingface_hub can never send `scaleToZeroTimeout: null` on update (it drops None fields),
            # so raising minReplica above 0 without mentioning the timeout disables scale-to-zero rather
            # than leaving an invalid combination behind. Sending both explicitly is still a 400.
            if auto_clear_timeout and spatch.get("minReplica", 0) > 0 and "scaleToZeroTimeout" not in spatch:
                scaling["scaleToZeroTimeout"] = None
    if "model" in patch:
        mpatch = patch["model"]
        model = new["model"]
        for key in ("repository", "revision", "task", "framework", "image", "env", "secrets"):
            if key in mpatch:
                model[key] = copy.deepcopy(mpatch[key])
        for key in ("command", "args"):
            if key in mpatch:
                if mpatch[key] is None:
                    model.pop(key, None)
                else:
                    model[key] = list(mpatch[key])
    if "tags" in patch:
        new["tags"] = list(patch["tags"])
    if "route" in patch:
        new.setdefault("route", {}).update(patch["route"])
    if "cacheHttpResponses" in patch:
        new["cacheHttpResponses"] = patch["cacheHttpResponses"]
    if "privateService" in patch:
        new.setdefault("privateService", {}).update(patch["privateService"])
    return new


# ------------------------------------------------------------------------------------ semantics


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ApiError(
            400,
            f"Invalid endpoint name '{name}': use 1 to 32 lowercase letters, digits or '-', "
            "starting and ending with a letter or a digit",
        )


def check_spec(spec: dict[str, Any], *, check_availability: bool = True) -> Compute:
    """Rules that hold for any stored spec (create and merged update). Returns the matched compute."""
    scaling = spec["compute"]["scaling"]
    min_r, max_r, timeout = scaling["minReplica"], scaling["maxReplica"], scaling.get("scaleToZeroTimeout")
    if max_r < 1:
        raise ApiError(400, "compute.scaling.maxReplica must be at least 1")
    if max_r < min_r:
        raise ApiError(
            400, f"compute.scaling.maxReplica ({max_r}) must be greater than or equal to minReplica ({min_r})"
        )
    if timeout is not None:
        if min_r > 0:
            raise ApiError(
                400, "compute.scaling.scaleToZeroTimeout can only be set when compute.scaling.minReplica is 0"
            )
        if timeout < 1:
            raise ApiError(400, "compute.scaling.scaleToZeroTimeout must be at least 1 (minutes)")

    vendor, region = spec["provider"]["vendor"], spec["provider"]["region"]
    comp = spec["compute"]
    if not has_region(vendor, region):
        raise ApiError(
            400, f"Unknown provider region '{vendor}/{region}': see GET /v2/provider/{{namespace}}"
        )
    found = find_compute(vendor, region, comp["accelerator"], comp["instanceType"], comp["instanceSize"])
    if found is None:
        raise ApiError(
            400,
            f"No compute '{comp['accelerator']} {comp['instanceType']} {comp['instanceSize']}' "
            f"in {vendor}/{region}: see GET /v2/provider/{{namespace}}",
        )
    if check_availability and not found.deployable:
        raise ApiError(400, f"Compute '{found.id}' cannot be deployed: its status is '{found.status}'")

    variant, conf = image_variant(spec["model"]["image"])
    if (
        variant in ("vLLM", "sGLang")
        and found.num_accelerators > 1
        and conf.get("tensorParallelSize") is None
        and conf.get("dataParallelSize") is None
    ):
        raise ApiError(
            400,
            f"model.image.{variant}: set tensorParallelSize or dataParallelSize to use the "
            f"{found.num_accelerators} accelerators of '{found.id}'",
        )
    return found
