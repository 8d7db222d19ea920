"""One resource reconciled by the same workflows the CLI runs (plan, apply, destroy, credentials).

`reconcile(...)` builds the resource's spec through the core (`resource.desire_of`), then runs
`hfops.workflows.apply.run_apply` with a `ResourceReconciler`: the CLI's `Reconciler` whose
manifests are the one in-memory document instead of files, whose live state may come from the
shared drift listing, and whose Secret outputs in the resource's namespace carry an owner
reference to the resource (deleted with it by Kubernetes' garbage collector). It never waits for
provisioning: the caller asks again later (`Observation.retry`). `delete(...)` runs the destroy
workflow. Both return an `Observation`, what the resource's status and events say.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hfops.adapters.kubernetes.secret_sink import KubernetesSecretSink
from hfops.adapters.settings import Settings
from hfops.core.credentials import Target
from hfops.core.errors import CredentialsError, HfopsError, ManifestError, PlanError, RemoteError, TokenRefused
from hfops.core.manifest import ManifestSet
from hfops.core.model import EndpointSpec, LiveEndpoint
from hfops.core.plan import Plan
from hfops.core.redact import REDACTOR
from hfops.operator.listing import SharedListing, scope_of
from hfops.operator.models import CachedModelResolver, SharedModels
from hfops.operator.resource import (
    API_KEY_VARIABLE,
    DefaultsResource,
    Desire,
    SecretKeyRef,
    desire_of,
    ref_of,
    resource_owner,
)
from hfops.operator.secrets import SharedSecrets, SharedSecretsClient
from hfops.workflows.apply import ApplyHooks, ApplyRequest, run_apply
from hfops.workflows.executor import ApplyOptions
from hfops.workflows.outputs import OutputSinks
from hfops.workflows.reconcile import Reconciler

# States in which asking again later will show progress.
TRANSITIONAL = frozenset({"pending", "initializing", "updating", "updatefailed"})
# Running or asleep with a URL: GenStudio can use the credential (a sleeping one wakes on its first call).
SERVING = frozenset({"running", "scaledtozero"})


@dataclass(frozen=True)
class Observation:
    """The outcome of one reconcile, as the status shows it."""

    ready: bool
    synced: bool
    reason: str
    message: str
    retry: bool  # ask again soon (provisioning, API faults)
    state: str | None = None
    url: str | None = None
    ready_replicas: int | None = None
    target_replicas: int | None = None
    hf_namespace: str | None = None
    credential: str | None = None
    changes: tuple[str, ...] = ()  # what was done, one line each (for events)
    retries: int = 0  # API calls retried (rate limits, server errors) during this reconcile

    def status(self, generation: int | None) -> dict[str, Any]:
        status: dict[str, Any] = {
            "state": self.state,
            "url": self.url,
            "hfNamespace": self.hf_namespace,
            "credentialSecret": self.credential,
            "replicas": None
            if self.ready_replicas is None
            else {"ready": self.ready_replicas, "target": self.target_replicas},
            "observedGeneration": generation,
        }
        return status


class GuardedSecretSink(KubernetesSecretSink):
    """A Secret key's sink that removes the key only while it still names this endpoint and owner.

    Stale keys are found from a Secret list kept for the interval (secrets.py): by the time one is
    removed, another endpoint may have been given it. The Secret is read again here first.
    """

    def remove(self, target: Target) -> None:
        from hfops.adapters.kubernetes.secret_sink import is_managed, written_keys

        secret = self.client.get_secret(self.namespace, self.name)
        if secret is None or not is_managed(secret):
            return
        entry = written_keys(secret).get(self.key)
        if entry is not None and (entry.get("endpoint") != target.address or entry.get("owner") != target.owner):
            return  # now another endpoint's (or owner's) credential: not stale any more
        super().remove(target)


class OwnedOutputSinks(OutputSinks):
    """The CLI's sinks; a Secret in the resource's namespace gets an owner reference to the resource.

    With `secrets` (the operator's shared Secret lists), the Kubernetes client's `list_secrets`
    comes from it (one list per namespace per interval) and removals are guarded.
    """

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        names: Sequence[str],
        *,
        owner: Mapping[str, Any] | None,
        secrets: SharedSecrets | None = None,
    ) -> None:
        super().__init__(settings, env, names)
        self.owner = owner
        self.secrets = secrets

    def kube(self) -> Any:
        client = super().kube()
        if self.secrets is not None and not isinstance(client, SharedSecretsClient):
            client = self._kube = SharedSecretsClient(client, self.secrets)
        return client

    def sink(self, output: Any) -> Any:
        from hfops.core.model import SecretOutput

        if not isinstance(output, SecretOutput):
            return super().sink(output)
        references: list[dict[str, Any]] | None = None
        if self.owner is not None:
            meta = self.owner.get("metadata") or {}
            if output.namespace == meta.get("namespace") and meta.get("uid"):
                references = [
                    {
                        "apiVersion": str(self.owner.get("apiVersion") or "hfops.dev/v1"),
                        "kind": str(self.owner.get("kind") or "Endpoint"),
                        "name": str(meta.get("name")),
                        "uid": str(meta["uid"]),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ]
        if references is None and self.secrets is None:
            return super().sink(output)
        kind = GuardedSecretSink if self.secrets is not None else KubernetesSecretSink
        return kind(self.kube(), output.name, output.namespace, output.key, owner_references=references)


class ResourceReconciler(Reconciler):
    """The CLI's Reconciler over one in-memory manifest document (a custom resource).

    `listing`: the drift interval's shared endpoint lists; read from when `listed` (the timer,
    resume), else only told what this reconcile did (create and update read afresh: a user's edit
    is planned against the endpoint as it is now). `models`: the interval's shared model
    resolutions. `secrets`: the interval's shared Secret lists.
    """

    def __init__(
        self,
        settings: Settings,
        desire: Desire,
        *,
        warn: Callable[[str], None],
        env: Mapping[str, str] | None = None,
        listing: SharedListing | None = None,
        listed: bool = True,
        models: SharedModels | None = None,
        secrets: SharedSecrets | None = None,
        body: Mapping[str, Any] | None = None,
        kube: Any = None,
    ) -> None:
        super().__init__(settings, warn=warn, env=env)
        self.desire = desire
        self.listing = listing if listed else None
        self.secrets = secrets
        self.body = body
        self.kube = kube
        self.last_live: dict[str, LiveEndpoint] = {}
        self._fresh: dict[tuple[str, ...], dict[str, LiveEndpoint]] = {}
        if models is not None:
            self.models = CachedModelResolver(  # type: ignore[assignment]
                self.models, models, hub_url=settings.hub_url, token=settings.token
            )

    def load(self, paths: Sequence[str], *, allow_empty: bool = False) -> tuple[ManifestSet, tuple[EndpointSpec, ...]]:
        specs = (self.desire.spec,)
        return ManifestSet(specs=specs, files=(self.desire.ref.source,)), specs

    def read_live(self, namespaces: Sequence[str]) -> dict[str, LiveEndpoint]:
        if self.listing is None:
            # One fresh read per reconcile: the credentials step after an unchanged apply re-plans
            # against the same answer rather than listing the namespace a second time.
            key = tuple(sorted(set(namespaces)))
            if key not in self._fresh:
                self._fresh[key] = super().read_live(namespaces)
            live = dict(self._fresh[key])
        else:
            listing = self.listing
            live = {}
            for namespace in sorted(set(namespaces)):
                live.update(
                    listing.read(
                        namespace,
                        lambda ns: Reconciler.read_live(self, [ns]),
                        scope=scope_of(self.settings.api_url, self.settings.token),
                    )
                )
        self.last_live = live
        return live

    def output_sinks(self, specs: Sequence[EndpointSpec]) -> OutputSinks:
        from hfops.workflows.outputs import secret_env_names

        if self._sinks is None:
            sinks = OwnedOutputSinks(
                self.settings, self.env, sorted(secret_env_names(specs)), owner=self.body, secrets=self.secrets
            )
            if self.kube is not None:
                sinks._kube = self.kube
            self._sinks = sinks
        return self._sinks


def _reason_for(error: HfopsError, plan: Plan | None) -> tuple[str, bool]:
    """(condition reason, worth retrying soon)."""
    text = error.message.lower()
    if plan is not None and plan.conflicts:
        return "NotOwned", False
    if isinstance(error, ManifestError):
        if "quota" in text:
            return "QuotaExceeded", False
        if error.diagnostics and all(d.location.field == "spec.model.repository" for d in error.diagnostics):
            # The Hub refused the model (none, no such revision, gated, not text-generation): the
            # drift timer asks again each interval, so a model that comes to exist is picked up.
            return "ModelRefused", False
        return "InvalidSpec", False
    if isinstance(error, PlanError):
        return "ModelRefused", False
    if isinstance(error, RemoteError):
        status = getattr(error, "status", None)
        if status == 429 or "rate" in text:
            return "RateLimited", True
        return "APIError", True
    if isinstance(error, CredentialsError):
        return "CredentialError", True
    if isinstance(error, TokenRefused):
        return "TokenRefused", True  # a rotated token (in the Secret or the Deployment) is picked up next time
    return "Error", True


def _message(error: HfopsError) -> str:
    hint = getattr(error, "hint", None)
    text = error.message + (f" ({hint})" if hint else "")
    return REDACTOR.scrub(text)


def reconcile(
    settings: Settings,
    body: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    listing: SharedListing | None = None,
    listed: bool = True,
    models: SharedModels | None = None,
    secrets: SharedSecrets | None = None,
    defaults: Sequence[DefaultsResource] = (),
    warn: Callable[[str], None] = lambda message: None,
    kube: Any = None,
) -> Observation:
    """Plan and apply one resource (never waiting for provisioning); what its status should say.

    `listing`, `models`, `secrets`: the drift interval's shared reads (listing.py); `listed=False`
    reads the endpoint afresh and only tells `listing` what was done. `defaults`: the Defaults
    resources of its Kubernetes namespace.
    """
    settings = replace(settings, owner=resource_owner(settings.owner, ref_of(body).namespace))
    try:
        desire = desire_of(body, default_hf_namespace=settings.namespace, defaults=defaults)
    except ManifestError as error:
        return Observation(False, False, "InvalidSpec", _message(error), retry=False)
    spec = desire.spec
    hf_namespace = spec.namespace
    try:
        settings, env = with_secret_inputs(settings, desire, env, kube)
    except SecretInputMissing as error:
        return Observation(False, False, "SecretMissing", _message(error), retry=True, hf_namespace=hf_namespace)
    except HfopsError as error:
        reason, retry = _reason_for(error, None)
        return Observation(False, False, reason, _message(error), retry=retry, hf_namespace=hf_namespace)
    try:
        moved = _moved_from(settings, body, desire, warn=warn, env=env, kube=kube, defaults=defaults)
    except HfopsError as error:
        reason, retry = _reason_for(error, None)
        return Observation(False, False, reason, _message(error), retry=retry, hf_namespace=recorded_hf_namespace(body))
    if moved is not None:
        # An Inference Endpoints namespace is where the endpoint lives: a new one would be a second
        # endpoint and the first would run on, unmanaged and billed. Like an immutable field.
        return Observation(
            False,
            False,
            "InvalidSpec",
            f"spec.hfNamespace cannot change while the endpoint exists: {spec.name} is in {moved}, not "
            f"{hf_namespace}; set hfNamespace: {moved} back, or delete this resource (its endpoint in {moved} "
            "goes with it) and create it anew",
            retry=False,
            hf_namespace=moved,
        )
    from hfops.core.model import SecretOutput

    secret = next((f"{o.namespace}/{o.name}" for o in spec.genstudio.outputs if isinstance(o, SecretOutput)), None)
    base = Observation(False, False, "", "", retry=False, hf_namespace=hf_namespace, credential=secret)
    captured: dict[str, Plan] = {}
    reconciler: ResourceReconciler | None = None
    try:
        reconciler = ResourceReconciler(
            settings,
            desire,
            warn=warn,
            env=env,
            listing=listing,
            listed=listed,
            models=models,
            secrets=secrets,
            body=body,
            kube=kube,
        )
        request = ApplyRequest(
            paths=(desire.ref.source,),
            yes=True,
            options=ApplyOptions(
                wait=False,
                timeout=settings.timeout,
                poll_interval=settings.poll_interval,
                parallelism=1,
                rollout_grace=settings.rollout_grace,
            ),
        )
        hooks = ApplyHooks(show_plan=lambda plan, paths: captured.__setitem__("plan", plan))
        result = run_apply(reconciler, request, hooks=hooks)
    except HfopsError as error:
        plan = captured.get("plan")
        reason, retry = _reason_for(error, plan)
        message = plan.conflicts[0].message if plan is not None and plan.conflicts else _message(error)
        if reason == "NotOwned":
            message = f"{spec.address} exists and is not managed by this operator (owner {settings.owner}): {message}"
        live = reconciler.last_live.get(spec.address) if reconciler is not None else None
        retried = reconciler.retry.stats.retries if reconciler is not None else 0
        return _with_live(replace(base, reason=reason, message=message, retry=retry, retries=retried), live)
    address = spec.address
    live = reconciler.last_live.get(address)
    changes: list[str] = []
    for outcome in result.outcomes:
        if outcome.live is not None and outcome.address == address:
            live = outcome.live
        if listing is not None and outcome.live is not None:
            listing.remember(spec.namespace or "", outcome.address, outcome.live)
        if outcome.result != "unchanged":
            changes.append(
                f"{outcome.address}: {outcome.result}" + (f" ({outcome.message})" if outcome.message else "")
            )
    credentials = list(result.credentials)
    done = {c.output for c in credentials}
    pending = [a for a in result.plan.credentials if a.output.describe() not in done and a.verb != "remove"]
    if (
        pending
        and live is not None
        and live.state.lower() in SERVING
        and live.url
        and all(o.result == "unchanged" for o in result.outcomes)
    ):
        # apply does not write credentials without waiting; the endpoint serves now: the credentials
        # workflow writes them (the same plan, credential actions only).
        from hfops.workflows.credentials import apply_credentials

        try:
            credentials += apply_credentials(reconciler, (desire.ref.source,))
        except HfopsError as error:
            reason, retry = _reason_for(error, None)
            return _with_live(replace(base, synced=True, reason=reason, message=_message(error), retry=retry), live)
    for credential in credentials:
        changes.append(
            f"credential {credential.verb} {credential.output}: {'ok' if credential.ok else credential.message}"
        )
    failed = [o for o in result.outcomes if not o.ok]
    bad_credentials = [c for c in credentials if not c.ok]
    if failed:
        message = REDACTOR.scrub(failed[0].message or failed[0].result)
        return _with_live(
            replace(
                base, reason="APIError", message=message, retry=True, changes=tuple(changes), retries=result.retries
            ),
            live,
        )
    if bad_credentials:
        message = REDACTOR.scrub(bad_credentials[0].message or "credential not written")
        return _with_live(
            replace(base, synced=True, reason="CredentialError", message=message, retry=True, changes=tuple(changes)),
            live,
        )
    observed = replace(base, synced=True, changes=tuple(changes), retries=result.retries)
    if live is None:
        return replace(observed, reason="Pending", message="the endpoint was asked for", retry=True)
    state = live.state.lower()
    if spec.paused:
        return _with_live(replace(observed, reason="Paused", message="spec.paused is true"), live)
    if state in SERVING and live.url:
        message = f"{state}; credential in {secret}" if secret else state
        return _with_live(
            replace(observed, ready=True, reason="Running" if state == "running" else "ScaledToZero", message=message),
            live,
        )
    reason = "Provisioning" if state in ("pending", "initializing") else state.capitalize()
    text = f"endpoint is {live.state}" + (f": {live.message}" if live.message else "")
    return _with_live(replace(observed, reason=reason, message=text, retry=state in TRANSITIONAL), live)


class SecretInputMissing(HfopsError):
    """A Secret (or its key) the resource names for its token or GenStudio key is not there."""


def _read_secret_key(kube: Any, namespace: str, ref: SecretKeyRef) -> str:
    import base64
    import binascii

    secret = kube.get_secret(namespace, ref.name)
    data = (secret or {}).get("data") or {}
    if secret is None or ref.key not in data:
        raise SecretInputMissing(
            f"{ref.describe(namespace)} does not exist", hint="create it; the resource is reconciled again"
        )
    try:
        value = base64.b64decode(data[ref.key], validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError, TypeError):
        raise SecretInputMissing(f"{ref.describe(namespace)} is not valid base64 text") from None
    if not value:
        raise SecretInputMissing(f"{ref.describe(namespace)} is empty")
    REDACTOR.add(value)
    return value


def _cluster() -> Any:
    from hfops.adapters.kubernetes.client import KubernetesClient

    return KubernetesClient.from_environment()


def with_secret_inputs(
    settings: Settings, desire: Desire, env: Mapping[str, str] | None, kube: Any
) -> tuple[Settings, Mapping[str, str] | None]:
    """The token and environment this resource's reconcile runs with: the operator's, with what the
    resource's Secrets give in place (its own Hugging Face token, its GenStudio key)."""
    namespace = desire.ref.namespace
    if desire.token_ref is None and desire.api_key_ref is None:
        return settings, env
    kube = kube if kube is not None else _cluster()  # one client for both reads
    if desire.token_ref is not None:
        settings = replace(settings, token=_read_secret_key(kube, namespace, desire.token_ref))
    if desire.api_key_ref is not None:
        import os

        env = {
            **(os.environ if env is None else env),
            API_KEY_VARIABLE: _read_secret_key(kube, namespace, desire.api_key_ref),
        }
    return settings, env


def recorded_hf_namespace(body: Mapping[str, Any]) -> str | None:
    """The Inference Endpoints namespace the resource's status says its endpoint is in."""
    status = body.get("status")
    value = status.get("hfNamespace") if isinstance(status, Mapping) else None
    return value if isinstance(value, str) and value else None


def _in_namespace(body: Mapping[str, Any], hf_namespace: str) -> dict[str, Any]:
    spec = dict(body.get("spec") or {})
    spec["hfNamespace"] = hf_namespace
    return {**body, "spec": spec}


def _moved_from(
    settings: Settings,
    body: Mapping[str, Any],
    desire: Desire,
    *,
    warn: Callable[[str], None],
    env: Any,
    kube: Any,
    defaults: Sequence[DefaultsResource] = (),
) -> str | None:
    """The namespace the resource's endpoint still lives in, if the spec now names another one."""
    recorded = recorded_hf_namespace(body)
    if recorded is None or recorded == desire.spec.namespace:
        return None
    old = desire_of(_in_namespace(body, recorded), default_hf_namespace=settings.namespace, defaults=defaults)
    reconciler = ResourceReconciler(settings, old, warn=warn, env=env, body=body, kube=kube)
    live = reconciler.endpoints.get(recorded, desire.spec.name)
    # Only an endpoint this resource owns pins it; nothing there (a create that never landed) does not.
    return recorded if live is not None and live.owned_by(settings.owner) else None


def _with_live(observation: Observation, live: LiveEndpoint | None) -> Observation:
    if live is None:
        return observation
    return replace(
        observation,
        state=live.state,
        url=live.url,
        ready_replicas=live.ready_replica,
        target_replicas=live.target_replica,
    )


def delete(
    settings: Settings,
    body: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    listing: SharedListing | None = None,
    warn: Callable[[str], None] = lambda message: None,
    kube: Any = None,
    defaults: Sequence[DefaultsResource] = (),
) -> tuple[bool, str]:
    """Delete the resource's endpoint (only one this operator owns) and its credentials; (done, what happened).

    Under `deletionPolicy: Orphan` nothing is deleted: the endpoint stays, and so does a credential
    Secret elsewhere than the resource's namespace (the one in it is garbage-collected with it).
    """
    from hfops.workflows.destroy import plan_destroy, run_destroy

    settings = replace(settings, owner=resource_owner(settings.owner, ref_of(body).namespace))
    try:
        desire = desire_of(body, default_hf_namespace=settings.namespace, defaults=defaults)
    except ManifestError:
        return True, "the resource's spec is invalid, so it never had an endpoint; nothing deleted"
    if desire.deletion_policy == "Orphan":
        return True, f"deletionPolicy Orphan: {desire.spec.address} is kept"
    recorded = recorded_hf_namespace(body)
    if recorded is not None and recorded != desire.spec.namespace:
        # The spec was edited to another namespace after the endpoint was made (refused): the endpoint
        # to delete is the one the status records.
        desire = desire_of(_in_namespace(body, recorded), default_hf_namespace=settings.namespace, defaults=defaults)
    if desire.token_ref is not None:
        try:
            cluster = kube if kube is not None else _cluster()
            settings = replace(settings, token=_read_secret_key(cluster, desire.ref.namespace, desire.token_ref))
        except SecretInputMissing as error:
            # Deleting a namespace deletes its Secrets too, maybe first: the operator's own token (if
            # it has one) still deletes the endpoint, rather than the finalizer holding forever.
            if not settings.token:
                return False, _message(error)
            warn(f"{_message(error)}; deleting with the operator's own token")
        except HfopsError as error:
            return False, _message(error)
    reconciler = ResourceReconciler(settings, desire, warn=warn, env=env, body=body, kube=kube)
    destroy = plan_destroy(reconciler, (desire.ref.source,))
    outcomes, removed = run_destroy(reconciler, destroy)
    failed: list[Any] = [o for o in outcomes if not o.ok] + [c for c in removed if not c.ok]
    if failed:
        return False, REDACTOR.scrub(str(getattr(failed[0], "message", "") or "delete failed"))
    if listing is not None:
        listing.remember(desire.spec.namespace or "", desire.spec.address, None)
    said = [f"{o.address}: {o.result}" for o in outcomes] + [f"credential removed: {c.output}" for c in removed]
    said += list(destroy.notes)
    return True, "; ".join(said) or f"{desire.spec.address} did not exist"


__all__ = ["Observation", "ResourceReconciler", "delete", "reconcile", "ref_of"]
