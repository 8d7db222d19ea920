"""In-memory Inference Endpoints: the state machine, the `/v2` operations, and their JSON rendering.

One lock guards everything; states are computed lazily from timestamps ("settled") whenever an
endpoint is read, so no background thread is needed:

    create/resume:  pending (first half of provision_seconds) -> initializing -> running | failed
    PUT:            updating (provision_seconds) -> running | updateFailed      (paused stays paused)
    wake-up:        scaledToZero -> initializing (provision_seconds) -> running
    idle:           running, minReplica 0, scaleToZeroTimeout T -> scaledToZero after T emulated
                    minutes without a TGI request (measured from becoming running or the last request)

Secrets are write-only: they are stored, but rendered as their keys with `null` values (so echoing a
fetched endpoint back in a PUT fails loudly instead of overwriting the real values), or not at all
with `secrets_readback="omitted"`. Registry credentials render as `{"username": "", "password": null}`
as the live API does. The uncertain-point variants (variants.py) that touch state live here: null
fields on PUT (U1), the lagged rollout (U2: `running` for update_lag_seconds, then `updating`, the old
replica serving TGI throughout), quotas (U3), strict private endpoints (U4), secrets read back (U5),
`type` on PUT (U6), tags-only/empty PUTs (U7), the KV-cache window (U10) and `protected` (U11).
Called by the HTTP server and by `Emulator` (endpoint_raw, advance).

Why one module of ~430 lines: the state machine, the operations and the rendering all read and
write the same records under the same lock; split, each part would reach into the others' state.
Validation texts are `semantics`/`validation`, the hardware catalogue is `catalog`.
"""

from __future__ import annotations

import random
import string
import threading
from dataclasses import dataclass, field
from typing import Any

from .catalog import Compute, ModelCatalog, find_compute, quota_for
from .clock import Clock, StampSource
from .config import EmulatorConfig
from .launcher import TgiContext, deploy_failure, make_context
from .render import render_endpoint, render_providers
from .responses import ApiError
from .semantics import (
    check_name,
    check_private,
    check_spec,
    merge_update,
    reject_nulls,
    spec_from_create,
    strip_nulls,
)
from .validation import TYPES, image_variant, parse_body

_ID_CHARS = string.ascii_lowercase + string.digits


@dataclass
class _Phase:
    kind: str  # "deploy" | "update" | "wake"
    start: float  # real monotonic seconds
    outcome: str  # "running" | "failed" | "updateFailed"
    reason: str | None
    lag: float = 0.0  # U2 lagged: seconds the previous state is still shown before `updating`
    before: str = "running"  # the state shown during the lag
    old_spec: dict[str, Any] | None = None  # U2 lagged: the spec the old replica keeps serving


@dataclass
class _Endpoint:
    namespace: str
    uid: str
    spec: dict[str, Any]
    created_at: str
    updated_at: str
    state: str = "pending"
    phase: _Phase | None = None
    reason: str | None = None
    last_activity: float = 0.0  # emulated seconds
    events: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.spec["name"])


@dataclass(frozen=True)
class TgiAccess:
    """A settled view of an endpoint for one TGI request."""

    state: str
    type: str
    context: TgiContext | None  # set when running
    phase_end: float | None  # real time the current transition ends
    will_run: bool  # the current transition ends in `running`


class Store:
    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        clock: Clock,
        provision_seconds: float,
        seed: int | None,
        variants: EmulatorConfig | None = None,
    ) -> None:
        self.variants = variants or EmulatorConfig()
        self._kv_cache = self.variants.served_window == "kv-cache"
        self._types = (*TYPES, "protected") if self.variants.protected_type == "accepted" else TYPES
        self.catalog = catalog
        self.clock = clock
        self.provision_seconds = provision_seconds
        self.base_url = ""
        self.lock = threading.Lock()
        self._endpoints: dict[tuple[str, str], _Endpoint] = {}
        self._by_uid: dict[str, _Endpoint] = {}
        self._ids = random.Random(seed)
        self._stamps = StampSource()
        self._forced_failures: dict[tuple[str, str], str] = {}  # (namespace, name) -> reason

    # ------------------------------------------------------------------------------ internals

    def _event(self, ep: _Endpoint, text: str) -> None:
        ep.events.append(f"{self._stamps.next()} {text}")

    def _new_uid(self) -> str:
        while True:
            uid = "".join(self._ids.choice(_ID_CHARS) for _ in range(16))
            if uid not in self._by_uid:
                return uid

    def _start_phase(
        self, ep: _Endpoint, kind: str, now: float, old_spec: dict[str, Any] | None = None
    ) -> None:
        reason = self._forced_failures.get((ep.namespace, ep.name)) or deploy_failure(
            ep.spec, self.catalog, kv_cache=self._kv_cache
        )
        outcome = "running" if reason is None else "updateFailed" if kind == "update" else "failed"
        ep.phase = _Phase(kind, now, outcome, reason)
        if old_spec is not None:  # U2 lagged rollout from a running endpoint
            lag = self.variants.update_lag_seconds
            ep.phase.lag = self.provision_seconds / 2 if lag is None else lag
            ep.phase.before, ep.phase.old_spec = ep.state, old_spec
        ep.reason = None
        self._settle(ep, now)

    def _phase_end(self, phase: _Phase) -> float:
        return phase.start + phase.lag + self.provision_seconds

    def _settle(self, ep: _Endpoint, now: float) -> None:
        phase = ep.phase
        if phase is not None:
            total = phase.lag + self.provision_seconds
            elapsed = now - phase.start
            if elapsed >= total:
                ep.phase = None
                ep.state = phase.outcome
                if phase.outcome == "running":
                    ep.reason = None
                    # Idle time counts from the moment it became running, on the emulated clock.
                    ep.last_activity = self.clock.emulated_at(phase.start + total)
                    self._event(ep, "Endpoint is ready")
                else:
                    ep.reason = phase.reason
                    self._event(ep, f"{ep.state}: {phase.reason}")
            elif phase.kind == "deploy":
                ep.state = "pending" if elapsed < total / 2 else "initializing"
            elif phase.kind == "update":
                ep.state = phase.before if elapsed < phase.lag else "updating"
            else:
                ep.state = "initializing"
        if ep.state == "running" and ep.phase is None:
            scaling = ep.spec["compute"]["scaling"]
            timeout = scaling.get("scaleToZeroTimeout")
            idle = self.clock.emulated_at(now) - ep.last_activity
            if scaling["minReplica"] == 0 and timeout and idle >= timeout * 60:
                ep.state = "scaledToZero"
                self._event(ep, f"Scaled to zero after {timeout} minutes without requests")

    def _get(self, namespace: str, name: str) -> _Endpoint:
        ep = self._endpoints.get((namespace, name))
        if ep is None:
            raise ApiError(404, "Endpoint not found")
        self._settle(ep, self.clock.real())
        return ep

    def _compute_of(self, spec: dict[str, Any]) -> Compute | None:
        comp = spec["compute"]
        return find_compute(
            spec["provider"]["vendor"],
            spec["provider"]["region"],
            comp["accelerator"],
            comp["instanceType"],
            comp["instanceSize"],
        )

    def _used(
        self, namespace: str, vendor: str, region: str, instance_type: str, exclude: _Endpoint | None = None
    ) -> int:
        """Accelerators held by non-paused endpoints (scaled-to-zero ones still count, as on IE)."""
        used = 0
        for ep in self._endpoints.values():
            if ep.namespace != namespace or ep is exclude or ep.state == "paused":
                continue
            comp = self._compute_of(ep.spec)
            if comp is None or (comp.vendor, comp.region, comp.instance_type) != (
                vendor,
                region,
                instance_type,
            ):
                continue
            used += comp.num_accelerators * int(ep.spec["compute"]["scaling"]["maxReplica"])
        return used

    def _check_quota(
        self, namespace: str, spec: dict[str, Any], comp: Compute, exclude: _Endpoint | None = None
    ) -> None:
        used = self._used(namespace, comp.vendor, comp.region, comp.instance_type, exclude)
        needed = comp.num_accelerators * int(spec["compute"]["scaling"]["maxReplica"])
        quota = quota_for(comp.vendor, comp.region, comp.instance_type, self.variants.quotas)
        if used + needed > quota:
            raise ApiError(
                400,
                f"Quota exceeded for {comp.instance_type} in {comp.vendor}/{comp.region}: "
                f"{used} of {quota} accelerators in use and this endpoint needs {needed}",
            )

    def _render(self, ep: _Endpoint) -> dict[str, Any]:
        comp = self._compute_of(ep.spec)
        return render_endpoint(
            ep.spec,
            state=ep.state,
            reason=ep.reason,
            created_at=ep.created_at,
            updated_at=ep.updated_at,
            compute_id=comp.id if comp else None,
            url=f"{self.base_url}/endpoints/{ep.uid}",
            private=self._private_status(ep),
            secrets_omitted=self.variants.secrets_readback == "omitted",
        )

    def _private_status(self, ep: _Endpoint) -> dict[str, Any] | None:
        if self.variants.private_endpoints != "strict" or ep.spec["type"] != "private":
            return None
        region = ep.spec["provider"]["region"]
        return {"serviceName": f"com.amazonaws.vpce.{region}.vpce-svc-{ep.uid}"}

    # ----------------------------------------------------------------------------- operations

    def list(self, namespace: str) -> dict[str, Any]:
        with self.lock:
            now = self.clock.real()
            items = []
            for ep in self._endpoints.values():
                if ep.namespace == namespace:
                    self._settle(ep, now)
                    items.append(self._render(ep))
            return {"items": items}

    def create(self, namespace: str, body: Any) -> dict[str, Any]:
        patch = parse_body(body, create=True, types=self._types)
        check_name(patch["name"])
        spec = spec_from_create(patch)
        if self.variants.private_endpoints == "strict":
            check_private(spec)
        if spec["model"]["task"] is None:
            # Omitted task: the service infers it from the repository (huggingface_hub a3d9d8aad).
            model = self.catalog.get(spec["model"]["repository"])
            spec["model"]["task"] = model.pipeline_tag if model else None
        comp = check_spec(spec)
        with self.lock:
            key = (namespace, spec["name"])
            if key in self._endpoints:
                raise ApiError(409, "An endpoint with the same name already exists")
            self._check_quota(namespace, spec, comp)
            stamp = self._stamps.next()
            ep = _Endpoint(namespace, self._new_uid(), spec, stamp, stamp)
            self._event(ep, "Endpoint created")
            self._endpoints[key] = ep
            self._by_uid[ep.uid] = ep
            self._start_phase(ep, "deploy", self.clock.real())
            return self._render(ep)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            return self._render(self._get(namespace, name))

    def update(self, namespace: str, name: str, body: Any) -> dict[str, Any]:
        with self.lock:
            ep = self._get(namespace, name)
            nulls = self.variants.null_on_put
            if nulls == "reject":
                reject_nulls(body)
            elif nulls == "keep":
                body = strip_nulls(body)
            patch = parse_body(body, create=False, types=self._types)
            if self.variants.type_on_put == "ignored":
                patch.pop("type", None)
            if self.variants.empty_put == "no-redeploy" and set(patch) <= {"tags"}:
                if "tags" in patch:
                    ep.spec["tags"] = list(patch["tags"])
                return self._render(ep)  # nothing to roll out: state and updatedAt stay
            new = merge_update(ep.spec, patch, auto_clear_timeout=nulls == "clear")
            if self.variants.private_endpoints == "strict":
                check_private(new)
            old_comp = self._compute_of(ep.spec)
            new_comp = self._compute_of(new)
            # Hardware that became unavailable does not block updates that keep it.
            moved = old_comp is None or new_comp is None or old_comp.id != new_comp.id
            comp = check_spec(new, check_availability=moved)
            if ep.state != "paused":
                self._check_quota(namespace, new, comp, exclude=ep)
            old_spec, serving = ep.spec, ep.state == "running" and ep.phase is None
            ep.spec = new
            ep.updated_at = self._stamps.next()
            self._event(ep, "Endpoint updated")
            if ep.state != "paused":
                lagged = self.variants.update_rollout == "lagged" and serving
                self._start_phase(ep, "update", self.clock.real(), old_spec if lagged else None)
            return self._render(ep)

    def delete(self, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            ep = self._get(namespace, name)
            del self._endpoints[(namespace, name)]
            del self._by_uid[ep.uid]
            return {}

    def pause(self, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            ep = self._get(namespace, name)
            if ep.state != "paused":
                ep.state, ep.phase, ep.reason = "paused", None, None
                ep.updated_at = self._stamps.next()
                self._event(ep, "Endpoint paused")
            return self._render(ep)

    def resume(self, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            ep = self._get(namespace, name)
            now = self.clock.real()
            if ep.state == "running":
                # huggingface_hub's resume(running_ok=True) looks for 400 + "already running".
                raise ApiError(400, "Endpoint is already running")
            if ep.state in ("paused", "failed", "updateFailed"):
                if ep.state == "paused":
                    comp = self._compute_of(ep.spec)
                    if comp is not None:
                        self._check_quota(namespace, ep.spec, comp, exclude=ep)
                ep.updated_at = self._stamps.next()
                self._event(ep, "Endpoint resumed")
                self._start_phase(ep, "deploy", now)
            elif ep.state == "scaledToZero":
                ep.updated_at = self._stamps.next()
                self._event(ep, "Endpoint resumed from zero")
                self._start_phase(ep, "wake", now)
            return self._render(ep)  # pending/initializing/updating: already on its way

    def scale_to_zero(self, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            ep = self._get(namespace, name)
            if ep.state == "running":
                ep.state = "scaledToZero"
                ep.updated_at = self._stamps.next()
                self._event(ep, "Endpoint scaled to zero")
            elif ep.state != "scaledToZero":
                raise ApiError(400, f"Endpoint cannot be scaled to zero while it is {ep.state}")
            return self._render(ep)

    def logs(self, namespace: str, name: str) -> str:
        with self.lock:
            ep = self._get(namespace, name)
            return "".join(line + "\n" for line in ep.events)

    def providers(self, namespace: str) -> dict[str, Any]:
        with self.lock:
            now = self.clock.real()
            for ep in self._endpoints.values():
                self._settle(ep, now)
            return render_providers(
                lambda comp: self._used(namespace, comp.vendor, comp.region, comp.instance_type),
                self.variants.quotas,
            )

    # ------------------------------------------------------------------------------------ TGI

    def endpoint_type(self, uid: str) -> str | None:
        with self.lock:
            ep = self._by_uid.get(uid)
            return None if ep is None else str(ep.spec["type"])

    def tgi_request(self, uid: str, *, wake: bool) -> TgiAccess | None:
        """Settle for a TGI request: wake a scaled-to-zero endpoint, reset the idle timer if running."""
        with self.lock:
            ep = self._by_uid.get(uid)
            if ep is None:
                return None
            now = self.clock.real()
            self._settle(ep, now)
            if ep.state == "scaledToZero" and wake:
                self._event(ep, "Scaling up from zero on a request")
                self._start_phase(ep, "wake", now)
            context, state, phase = None, ep.state, ep.phase
            # U2 lagged: until the new replica is ready, the old one answers with the old config.
            serving = ep.spec if phase is None or phase.old_spec is None else phase.old_spec
            if phase is not None and phase.old_spec is not None:
                state = "running"
            if state == "running":
                ep.last_activity = self.clock.emulated_at(now)
                _variant, conf = image_variant(serving["model"]["image"])
                health = conf.get("healthRoute") or "/health"
                context = make_context(serving, self.catalog, health, kv_cache=self._kv_cache)
            return TgiAccess(
                state=state,
                type=str(ep.spec["type"]),
                context=context,
                phase_end=None if phase is None else self._phase_end(phase),
                will_run=phase is not None and phase.outcome == "running",
            )

    # ----------------------------------------------------------------------------- test hooks

    def fail_deploy(self, namespace: str, name: str, reason: str) -> None:
        with self.lock:
            self._forced_failures[(namespace, name)] = reason

    def raw(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            ep = self._endpoints.get((namespace, name))
            if ep is None:
                return None
            self._settle(ep, self.clock.real())
            return self._render(ep)

    def secret_keys(self, namespace: str, name: str) -> tuple[str, ...] | None:
        """The keys of the secrets stored for an endpoint (never their values), whatever the API shows."""
        with self.lock:
            ep = self._endpoints.get((namespace, name))
            return None if ep is None else tuple(sorted((ep.spec["model"].get("secrets") or {}).keys()))

    def advance(self, seconds: float) -> None:
        with self.lock:
            now = self.clock.real()
            for ep in self._endpoints.values():  # settle first: see clock.py
                self._settle(ep, now)
            self.clock.advance(seconds)
