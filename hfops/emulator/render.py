"""How a stored endpoint looks on the wire (GET /v2/endpoint/{ns}/{name}), as huggingface_hub parses it.

Secrets render as their keys with null values, or as `{}` when `secrets_omitted` (U5); registry
credentials as `{"username": "", "password": null}`; `status.url` only once provisioned (kept while
scaled to zero, null when paused); top-level `healthRoute`; `Z` timestamps. Called by the store only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .catalog import REGIONS, USER_ID, USER_NAME, Compute, quota_for
from .validation import image_variant

MESSAGES = {
    "pending": "Endpoint waiting to be scheduled",
    "initializing": "Endpoint is initializing",
    "running": "Endpoint is ready",
    "updating": "Endpoint waiting for the update",
    "paused": "Endpoint is paused",
    "scaledToZero": "Endpoint is scaled to zero",
}
# `status.url` is set once the endpoint is provisioned, kept while scaled to zero, null when paused.
URL_STATES = frozenset({"initializing", "running", "updating", "updateFailed", "scaledToZero"})


def render_endpoint(
    stored: dict[str, Any],
    *,
    state: str,
    reason: str | None,
    created_at: str,
    updated_at: str,
    compute_id: str | None,
    url: str,
    private: dict[str, Any] | None,
    secrets_omitted: bool,
) -> dict[str, Any]:
    spec = copy.deepcopy(stored)
    model = spec["model"]
    if secrets_omitted:
        model["secrets"] = {}
    else:
        model["secrets"] = {key: None for key in model.get("secrets", {})}
    variant, conf = image_variant(model["image"])
    if variant == "custom" and "credentials" in conf:
        conf["credentials"] = {"username": "", "password": None}
    compute = {"id": compute_id, **spec["compute"]}
    target = max(1, int(spec["compute"]["scaling"]["minReplica"]))
    if state == "running":
        ready, targeted = target, target
    elif state in ("paused", "scaledToZero"):
        ready, targeted = 0, 0
    else:
        ready, targeted = 0, target
    if state == "failed":
        message = f"Endpoint failed to deploy: {reason}"
    elif state == "updateFailed":
        message = f"Endpoint failed to update: {reason}"
    else:
        message = MESSAGES[state]
    user = {"id": USER_ID, "name": USER_NAME}
    status: dict[str, Any] = {
        "createdAt": created_at,
        "createdBy": dict(user),
        "updatedAt": updated_at,
        "updatedBy": dict(user),
        "private": private,
        "state": state,
        "message": message,
        "url": url if state in URL_STATES else None,
        "readyReplica": ready,
        "targetReplica": targeted,
    }
    if state in ("failed", "updateFailed"):
        status["errorMessage"] = reason
    out: dict[str, Any] = {
        "name": spec["name"],
        "type": spec["type"],
        "accountId": spec.get("accountId"),
        "provider": spec["provider"],
        "healthRoute": conf.get("healthRoute") or "/health",
        "compute": compute,
        "model": model,
        "tags": spec.get("tags", []),
    }
    for key in ("route", "cacheHttpResponses", "privateService"):
        if key in spec:
            out[key] = spec[key]
    out["status"] = status
    return out


def render_providers(used: Callable[[Compute], int], quotas: str) -> dict[str, Any]:
    """GET /v2/provider/{ns}: every vendor, region and compute, with the namespace's quota use."""
    vendors: dict[str, list[dict[str, Any]]] = {}
    for region in REGIONS:
        computes = [
            {
                "id": comp.id,
                "accelerator": comp.accelerator,
                "numAccelerators": comp.num_accelerators,
                "numCpus": comp.num_cpus,
                "memoryGb": comp.memory_gb,
                "gpuMemoryGb": comp.gpu_memory_gb,
                "instanceType": comp.instance_type,
                "instanceSize": comp.instance_size,
                "architecture": comp.architecture,
                "status": comp.status,
                "pricePerHour": comp.price_per_hour,
                "quota": {
                    "maxAccelerators": quota_for(comp.vendor, comp.region, comp.instance_type, quotas),
                    "usedAccelerators": used(comp),
                },
            }
            for comp in region.computes
        ]
        vendors.setdefault(region.vendor, []).append(
            {"name": region.name, "label": region.label, "status": region.status, "computes": computes}
        )
    return {
        "vendors": [
            {"name": vendor, "status": "available", "regions": regions} for vendor, regions in vendors.items()
        ]
    }
