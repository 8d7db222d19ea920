"""What a parsed `/v2` body means: a stored spec from a create, a PUT merged into one, the rules any
stored spec obeys, and the uncertain-point handling of nulls (U1) and private endpoints (U4).

Parsing (validation.py) yields a *patch*; `spec_from_create` fills the defaults, `merge_update` applies
a PUT (reference §1.3: nested objects merged field-wise, image/env/secrets/tags/args/command replaced
whole) and `check_spec` enforces the rules with the real service's texts. Called by the store only.
"""

from __future__ import annotations

import copy
from typing import Any

from .catalog import Compute, find_compute, has_region
from .responses import ApiError
from .validation import NAME_RE, PARSE, image_variant


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


# ---------------------------------------------------------------------------------------- nulls

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


# ----------------------------------------------------------------------------------------- specs


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
