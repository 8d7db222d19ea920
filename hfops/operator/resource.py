"""A custom resource's body -> the manifest document and the EndpointSpec it declares. Pure.

The resource's `spec` is a manifest's `spec` plus `hfNamespace` (the Inference Endpoints namespace)
and `deletionPolicy` (`Delete`, the default, or `Orphan`); its `metadata.name` is the endpoint's
name. Credentials go to Kubernetes Secrets only: without outputs, one Secret named after the
resource in its namespace (key `credential.json`); a `kubernetesSecret` without a namespace is
the resource's namespace (not the operator's). `file` and `command` outputs are refused: a pod's
file system is not a place GenStudio reads from.

Two operator-only ways to name a Secret of the resource's namespace (a pod's environment is one
per operator, a team's tokens are not): `spec.hfTokenSecretRef: {name, key}` (key default
`token`), the Hugging Face token for this resource in place of the operator's HF_TOKEN; and
`spec.genstudio.apiKey: {fromSecret: {name, key}}` beside `fromEnv`. The document handed to the
core reads the latter from a variable of the reconcile's own environment (`API_KEY_VARIABLE`),
which the engine fills from the Secret: the one reconciler still reads every secret one way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hfops.core.errors import Diagnostic, Location, ManifestError
from hfops.core.model import API_VERSION, EndpointSpec
from hfops.core.spec_builder import SourceDocument, build_specs
from hfops.core.yaml_source import YamlDocument

GROUP = "hfops.dev"
VERSION = "v1"
PLURAL = "endpoints"
KIND = "Endpoint"
DEFAULTS_PLURAL = "defaults"
DEFAULTS_KIND = "Defaults"
RESOURCE_FIELDS = ("hfNamespace", "deletionPolicy", "hfTokenSecretRef")
API_KEY_VARIABLE = "HFOPS_OPERATOR_GENSTUDIO_API_KEY"  # only in a reconcile's environment mapping
DEFAULT_TOKEN_KEY = "token"
DELETION_POLICIES = ("Delete", "Orphan")
DEFAULT_KEY = "credential.json"


@dataclass(frozen=True)
class ResourceRef:
    """Which resource: its Kubernetes namespace and name."""

    namespace: str
    name: str

    @property
    def source(self) -> str:
        """Where its errors are located (in place of a manifest file)."""
        return f"{PLURAL}.{GROUP}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class SecretKeyRef:
    """A key of a Secret in the resource's namespace."""

    name: str
    key: str

    def describe(self, namespace: str) -> str:
        return f"secret {namespace}/{self.name} key {self.key}"


@dataclass(frozen=True)
class Desire:
    """What one resource asks for."""

    ref: ResourceRef
    spec: EndpointSpec
    deletion_policy: str
    document: Mapping[str, Any]
    token_ref: SecretKeyRef | None = None
    api_key_ref: SecretKeyRef | None = None


def _secret_key_ref(value: object, *, default_key: str | None) -> SecretKeyRef | None:
    """`{name, key}` (key optional when there is a default), or None when malformed."""
    if not isinstance(value, Mapping) or set(value) - {"name", "key"}:
        return None
    name, key = value.get("name"), value.get("key", default_key)
    if not isinstance(name, str) or not name or not isinstance(key, str) or not key:
        return None
    return SecretKeyRef(name, key)


def resource_owner(owner: str, namespace: str) -> str:
    """The owner recorded on a resource's endpoint: the operator's `--owner` and the resource's
    Kubernetes namespace, so that two resources of one name in two namespaces cannot both manage
    one endpoint (the second is refused as another owner's). Kept within the owner tag's 48
    characters (a long namespace is shortened with a digest)."""
    import hashlib

    full = f"{owner}.{namespace}"
    if len(full) <= 48:
        return full
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
    return f"{owner}.{namespace}"[: 48 - 9] + "-" + digest


def ref_of(body: Mapping[str, Any]) -> ResourceRef:
    meta = body.get("metadata") or {}
    return ResourceRef(str(meta.get("namespace") or "default"), str(meta.get("name") or ""))


def deletion_policy(body: Mapping[str, Any]) -> str:
    value = (body.get("spec") or {}).get("deletionPolicy") or "Delete"
    return str(value)


def manifest_document(
    body: Mapping[str, Any], *, default_hf_namespace: str | None, outputs_from_defaults: bool = False
) -> dict[str, Any]:
    """The manifest document the resource declares (the same shape a YAML file holds).

    `outputs_from_defaults`: a Defaults resource declares the outputs; no default Secret then."""
    ref = ref_of(body)
    raw = body.get("spec")
    spec: dict[str, Any] = copy.deepcopy(dict(raw)) if isinstance(raw, Mapping) else {}
    hf_namespace = spec.pop("hfNamespace", None) or default_hf_namespace
    spec.pop("deletionPolicy", None)
    spec.pop("hfTokenSecretRef", None)
    genstudio = spec.get("genstudio")
    if genstudio is None:
        genstudio = spec["genstudio"] = {}
    if isinstance(genstudio, dict):
        api_key = genstudio.get("apiKey")
        if isinstance(api_key, dict) and set(api_key) == {"fromSecret"}:
            genstudio["apiKey"] = {"fromEnv": API_KEY_VARIABLE}
        outputs = genstudio.get("outputs")
        if outputs is None and "file" not in genstudio and not outputs_from_defaults:
            genstudio["outputs"] = [{"kubernetesSecret": {"name": ref.name, "namespace": ref.namespace}}]
        elif isinstance(outputs, list):
            for item in outputs:
                secret = item.get("kubernetesSecret") if isinstance(item, dict) else None
                if isinstance(secret, dict) and "namespace" not in secret:
                    secret["namespace"] = ref.namespace
    metadata: dict[str, Any] = {"name": ref.name}
    if hf_namespace:
        metadata["namespace"] = hf_namespace
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def _operator_problems(body: Mapping[str, Any], document: Mapping[str, Any], where: str) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    spec = body.get("spec") if isinstance(body.get("spec"), Mapping) else {}
    policy = (spec or {}).get("deletionPolicy")
    if policy is not None and policy not in DELETION_POLICIES:
        problems.append(
            Diagnostic(Location(where, 0, "spec.deletionPolicy"), f"deletionPolicy {policy!r}: use Delete or Orphan")
        )
    if (spec or {}).get("hfTokenSecretRef") is not None and token_ref_of(body) is None:
        problems.append(
            Diagnostic(
                Location(where, 0, "spec.hfTokenSecretRef"),
                "hfTokenSecretRef names a Secret of the resource's namespace: {name: NAME, key: KEY} "
                "(key default token)",
            )
        )
    written_genstudio = (spec or {}).get("genstudio")
    api_key = written_genstudio.get("apiKey") if isinstance(written_genstudio, Mapping) else None
    if isinstance(api_key, Mapping) and "fromSecret" in api_key and api_key_ref_of(body) is None:
        problems.append(
            Diagnostic(
                Location(where, 0, "spec.genstudio.apiKey.fromSecret"),
                "fromSecret names a key of a Secret of the resource's namespace: {name: NAME, key: KEY}, "
                "and stands alone (not beside fromEnv)",
            )
        )
    if not (document.get("metadata") or {}).get("namespace"):
        problems.append(
            Diagnostic(
                Location(where, 0, "spec.hfNamespace"),
                "no Inference Endpoints namespace: set spec.hfNamespace, or the operator's --hf-namespace",
            )
        )
    genstudio = (document.get("spec") or {}).get("genstudio") or {}
    if isinstance(genstudio, Mapping):
        if "file" in genstudio:
            problems.append(
                Diagnostic(
                    Location(where, 0, "spec.genstudio.file"),
                    "the operator writes credentials to Kubernetes Secrets only: use outputs: [{kubernetesSecret: …}]",
                )
            )
        for index, item in enumerate(genstudio.get("outputs") or []):
            if isinstance(item, Mapping) and ("file" in item or "command" in item):
                kind = "file" if "file" in item else "command"
                problems.append(
                    Diagnostic(
                        Location(where, 0, f"spec.genstudio.outputs.{index}.{kind}"),
                        f"the operator writes credentials to Kubernetes Secrets only, not a {kind}",
                    )
                )
    return problems


def token_ref_of(body: Mapping[str, Any]) -> SecretKeyRef | None:
    spec = body.get("spec")
    value = spec.get("hfTokenSecretRef") if isinstance(spec, Mapping) else None
    return _secret_key_ref(value, default_key=DEFAULT_TOKEN_KEY)


def api_key_ref_of(body: Mapping[str, Any]) -> SecretKeyRef | None:
    spec = body.get("spec")
    genstudio = spec.get("genstudio") if isinstance(spec, Mapping) else None
    api_key = genstudio.get("apiKey") if isinstance(genstudio, Mapping) else None
    if not isinstance(api_key, Mapping) or set(api_key) != {"fromSecret"}:
        return None
    return _secret_key_ref(api_key["fromSecret"], default_key=None)


@dataclass(frozen=True)
class DefaultsResource:
    """A `kind: Defaults` resource: its Kubernetes namespace, name and spec (a Defaults document's)."""

    namespace: str
    name: str
    spec: Mapping[str, Any]

    @property
    def source(self) -> str:
        return f"{DEFAULTS_PLURAL}.{GROUP}/{self.namespace}/{self.name}"

    def document(self) -> dict[str, Any]:
        """The manifest `kind: Defaults` document it is: for every endpoint it is handed with (no
        metadata.namespace), a kubernetesSecret output without a namespace in its own namespace."""
        spec: dict[str, Any] = copy.deepcopy(dict(self.spec)) if isinstance(self.spec, Mapping) else {}
        genstudio = spec.get("genstudio")
        outputs = genstudio.get("outputs") if isinstance(genstudio, dict) else None
        for item in outputs if isinstance(outputs, list) else []:
            secret = item.get("kubernetesSecret") if isinstance(item, dict) else None
            if isinstance(secret, dict) and "namespace" not in secret:
                secret["namespace"] = self.namespace
        return {"apiVersion": API_VERSION, "kind": DEFAULTS_KIND, "metadata": {"name": self.name}, "spec": spec}


def _declares_outputs(defaults: Sequence[DefaultsResource]) -> bool:
    for item in defaults:
        genstudio = item.spec.get("genstudio") if isinstance(item.spec, Mapping) else None
        if isinstance(genstudio, Mapping) and ("outputs" in genstudio or "file" in genstudio):
            return True
    return False


def desire_of(
    body: Mapping[str, Any], *, default_hf_namespace: str | None, defaults: Sequence[DefaultsResource] = ()
) -> Desire:
    """Validate and convert through the core, as a manifest file is; raises ManifestError.

    `defaults`: the Defaults resources of the resource's Kubernetes namespace, merged as a
    manifest's `kind: Defaults` documents are (in name order, a later name winning a field).
    """
    ref = ref_of(body)
    chosen = sorted((d for d in defaults if d.namespace == ref.namespace), key=lambda d: d.name)
    document = manifest_document(
        body, default_hf_namespace=default_hf_namespace, outputs_from_defaults=_declares_outputs(chosen)
    )
    problems = _operator_problems(body, document, ref.source)
    sources = [SourceDocument(d.source, YamlDocument(data=d.document(), lines={}, start_line=0)) for d in chosen]
    source = SourceDocument(ref.source, YamlDocument(data=document, lines={}, start_line=0))
    specs, spec_problems = build_specs([*sources, source], default_namespace=default_hf_namespace)
    problems.extend(spec_problems)
    from hfops.core.model import SecretOutput

    own = any(p.location.field.startswith("spec.genstudio") for p in problems)
    for spec in specs:
        if own or all(isinstance(o, SecretOutput) for o in spec.genstudio.outputs):
            continue
        # Outputs a Defaults resource gave (the resource's own are checked above): named at it.
        giver = next((d for d in reversed(chosen) if _declares_outputs([d])), None)
        where = Location(giver.source, 0, "spec.genstudio.outputs") if giver else Location(ref.source, 0)
        message = "the operator writes credentials to Kubernetes Secrets only: use outputs: [{kubernetesSecret: …}]"
        problems.append(Diagnostic(where, message))
    if problems or len(specs) != 1:
        raise ManifestError(list(dict.fromkeys(problems)) or [Diagnostic(Location(ref.source, 0), "no endpoint")])
    return Desire(
        ref=ref,
        spec=specs[0],
        deletion_policy=deletion_policy(body),
        document=document,
        token_ref=token_ref_of(body),
        api_key_ref=api_key_ref_of(body),
    )
