"""The kopf handlers: create/update/resume and a drift timer reconcile, delete finalizes. Thin.

Every handler calls `engine` and writes what it observed into the resource's status (state, url,
replicas, credential Secret, observedGeneration, conditions Ready and Synced with reason and
message); changes and waits are posted as Kubernetes events. A resource not yet ready raises
`kopf.TemporaryError`, so kopf asks again after `retry_delay` (backoff: kopf's retry counter grows
the delay up to 8x). Every reconcile shares the interval's reads (`interval.IntervalReads`): one
resolution per model, one list of a Kubernetes namespace's hfops Secrets; the drift timer and
resume also read each Inference Endpoints namespace once per interval for all resources (create
and update read the endpoint afresh). One lock per resource keeps a timer tick and a change
handler of the same resource from running at once.

`kind: Defaults` resources are indexed by namespace (kopf index `hfops_defaults`) and handed to
every reconcile of that namespace's Endpoints; a Defaults event rewrites the `DEFAULTS_DIGEST`
annotation on each Endpoint whose digest differs, and that annotation's update handler reconciles it.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from hfops.adapters.settings import Settings
from hfops.operator.engine import Observation, delete, reconcile
from hfops.operator.interval import IntervalReads
from hfops.operator.resource import DEFAULTS_PLURAL, GROUP, PLURAL, VERSION, DefaultsResource

FINALIZER = "hfops.dev/endpoint"
# On each Endpoint: a digest of the Defaults of its namespace. A Defaults change rewrites it, and
# that change is what re-reconciles the Endpoints (kopf's update handler on this annotation).
DEFAULTS_DIGEST = "defaults.hfops.dev/digest"


def defaults_digest(defaults: list[DefaultsResource]) -> str:
    import hashlib
    import json

    text = json.dumps([[d.name, d.spec] for d in sorted(defaults, key=lambda d: d.name)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _patch_digest(namespace: str, names: list[str], digest: str) -> None:
    """Write the digest on each named Endpoint (a merge patch of one annotation)."""
    from hfops.adapters.kubernetes.custom_objects import annotate

    # The digest and when: Defaults changed and changed back while a reconcile for the change is
    # still retrying must still differ from what was last handled (kopf drops a change undone).
    annotate(GROUP, VERSION, PLURAL, namespace, names, DEFAULTS_DIGEST, f"{digest}@{time.time_ns()}")


@dataclass(frozen=True)
class OperatorConfig:
    settings: Settings
    interval: float = 60.0  # drift timer period, seconds
    retry_delay: float = 10.0  # first delay before asking again about a resource not ready yet
    namespaces: tuple[str, ...] = ()  # Kubernetes namespaces watched; empty: all (cluster-wide)
    peering: str | None = None  # kopf peering object name; None: standalone
    priority: int = 0
    env: Mapping[str, str] | None = field(default=None, repr=False)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions(observation: Observation, previous: Any, generation: int | None) -> list[dict[str, Any]]:
    """Ready and Synced, keeping lastTransitionTime when a condition's status did not change."""
    before = {c.get("type"): c for c in previous or [] if isinstance(c, Mapping)}
    ready_reason = observation.reason
    synced_reason = "Applied" if observation.synced else observation.reason
    rows = [
        ("Ready", observation.ready, ready_reason or "Ready", observation.message),
        (
            "Synced",
            observation.synced,
            synced_reason or "Applied",
            observation.message if not observation.synced else "the endpoint matches the spec",
        ),
    ]
    result = []
    for kind, ok, reason, message in rows:
        status = "True" if ok else "False"
        old = before.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        result.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message[:1024],
                "lastTransitionTime": since or _now(),
                "observedGeneration": generation,
            }
        )
    return result


def write_status(observation: Observation, body: Mapping[str, Any], patch: Any) -> None:
    generation = (body.get("metadata") or {}).get("generation")
    for key, value in observation.status(generation).items():
        patch.status[key] = value
    patch.status["conditions"] = conditions(observation, (body.get("status") or {}).get("conditions"), generation)


def operator_settings(config: OperatorConfig) -> kopf.OperatorSettings:
    """kopf's settings for `config`: our finalizer and annotations, peering, no cluster scanning."""
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="hfops.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="hfops.dev", key="last-handled-configuration"
    )
    settings.peering.standalone = config.peering is None
    if config.peering is not None:
        settings.peering.name = config.peering
        settings.peering.priority = config.priority
        settings.peering.mandatory = True
        settings.peering.clusterwide = not config.namespaces
    # The resources and namespaces are known: no scanning of the cluster's API groups or namespaces
    # (which also needs no RBAC to list namespaces).
    settings.scanning.disabled = True
    settings.posting.level = logging.INFO
    settings.execution.max_workers = max(4, config.settings.parallelism)
    settings.watching.server_timeout = 60
    return settings


def build_registry(config: OperatorConfig) -> kopf.OperatorRegistry:
    """A registry with the operator's handlers bound to `config` (the CLI and the tests both use it)."""
    registry = kopf.OperatorRegistry()
    reads = IntervalReads.for_interval(config.interval, retry_delay=config.retry_delay)
    listing = reads.listing
    locks: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    def lock_for(body: Mapping[str, Any]) -> threading.Lock:
        uid = str((body.get("metadata") or {}).get("uid") or (body.get("metadata") or {}).get("name"))
        with guard:
            return locks.setdefault(uid, threading.Lock())

    def warn_to(logger: Any) -> Any:
        return lambda message: logger.warning(message)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        from hfops.operator.login import connection_info

        return connection_info()

    def tell(body: kopf.Body, observation: Observation) -> None:
        for change in observation.changes:
            kopf.info(body, reason="Reconciled", message=change[:1024])
        if observation.retries:
            kopf.warn(
                body,
                reason="APIRetried",
                message=f"{observation.retries} API call(s) retried with backoff (rate limits or server errors)",
            )
        if observation.retry:
            kopf.info(body, reason="Waiting", message=f"{observation.reason}: {observation.message}"[:1024])
        if not observation.ready and observation.reason not in ("Provisioning", "Pending", "Paused"):
            kopf.warn(body, reason=observation.reason, message=observation.message[:1024])

    @kopf.index(GROUP, VERSION, DEFAULTS_PLURAL, registry=registry, id="hfops_defaults")
    def hfops_defaults(namespace: str | None, name: str, spec: Any, **_: Any) -> dict[str, DefaultsResource]:
        return {namespace or "": DefaultsResource(namespace or "", name, dict(spec or {}))}

    @kopf.index(GROUP, VERSION, PLURAL, registry=registry, id="hfops_endpoints")
    def hfops_endpoints(namespace: str | None, name: str, meta: Any, **_: Any) -> dict[str, tuple[str, str | None]]:
        return {namespace or "": (name, (meta.get("annotations") or {}).get(DEFAULTS_DIGEST))}

    def defaults_in(index: Any, namespace: str | None) -> list[DefaultsResource]:
        return list(index.get(namespace, [])) if index is not None and namespace is not None else []

    @kopf.on.event(GROUP, VERSION, DEFAULTS_PLURAL, registry=registry)
    def defaults_changed(namespace: str | None, logger: Any, **kwargs: Any) -> None:
        hfops_defaults, hfops_endpoints = kwargs["hfops_defaults"], kwargs["hfops_endpoints"]
        # Every Endpoint of the namespace whose recorded digest differs is re-reconciled (by the
        # annotation's update handler): one patch each, and none when nothing changed.
        digest = defaults_digest(defaults_in(hfops_defaults, namespace))
        stale = sorted(
            name for name, seen in hfops_endpoints.get(namespace, []) if (seen or "").partition("@")[0] != digest
        )
        if stale and namespace:
            logger.info(f"Defaults of {namespace} changed: reconciling {len(stale)} endpoint(s)")
            _patch_digest(namespace, stale, digest)

    def reconciled(
        body: kopf.Body, patch: kopf.Patch, logger: Any, kwargs: dict[str, Any], *, listed: bool
    ) -> Observation:
        """One reconcile of `body` under its lock (the handlers' shared body), its status and events written."""
        defaults = defaults_in(kwargs.get("hfops_defaults"), body.get("metadata", {}).get("namespace"))
        with lock_for(body):
            observation = reconcile(
                config.settings,
                body,
                env=config.env,
                listing=listing,
                listed=listed,
                models=reads.models,
                secrets=reads.secrets,
                defaults=defaults,
                warn=warn_to(logger),
            )
        write_status(observation, body, patch)
        tell(body, observation)
        return observation

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, field="spec")
    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry, field=("metadata", "annotations", DEFAULTS_DIGEST))
    def apply_spec(
        body: kopf.Body,
        patch: kopf.Patch,
        logger: Any,
        retry: int,
        reason: Any = None,
        **kwargs: Any,
    ) -> None:
        # A create or an edit is planned against the endpoint as it is now (one read of its
        # namespace); a resume (the operator starting: every resource at once) reads the shared listing.
        observation = reconciled(body, patch, logger, kwargs, listed=str(reason) == "resume")
        if observation.retry:
            delay = config.retry_delay * min(8, 2 ** min(retry, 3))
            raise kopf.TemporaryError(f"{observation.reason}: {observation.message}", delay=delay)

    @kopf.timer(GROUP, VERSION, PLURAL, registry=registry, interval=config.interval, initial_delay=config.interval)
    def correct_drift(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            return
        reconciled(body, patch, logger, kwargs, listed=True)

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def finalize(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        defaults = defaults_in(kwargs.get("hfops_defaults"), body.get("metadata", {}).get("namespace"))
        with lock_for(body):
            done, message = delete(
                config.settings, body, env=config.env, listing=listing, warn=warn_to(logger), defaults=defaults
            )
        if not done:
            kopf.warn(body, reason="DeleteFailed", message=message[:1024])
            raise kopf.TemporaryError(message, delay=config.retry_delay)
        kopf.info(body, reason="Deleted", message=message[:1024])
        uid = str((body.get("metadata") or {}).get("uid") or "")
        with guard:
            locks.pop(uid, None)

    registry.hfops_listing = listing  # type: ignore[attr-defined]
    registry.hfops_reads = reads  # type: ignore[attr-defined]
    return registry
