"""A GenStudio credential as one key of a Kubernetes Secret (contract §3 `kubernetesSecret`).

What hfops writes is marked on the Secret:

- label `app.kubernetes.io/managed-by: hfops`: hfops manages this Secret. A Secret without it is
  foreign: never overwritten, never removed, reported by `check()`;
- annotation `hfops.dev/endpoint: NS/NAME` and `hfops.dev/owner: OWNER`: the endpoint and the
  manifest set's owner of the latest write;
- annotation `hfops.dev/keys`: JSON `{"KEY": {"endpoint": "NS/NAME", "owner": "OWNER"}}`, one entry per
  key hfops wrote, so several endpoints can share a Secret (one key each) and a key someone added to
  an hfops Secret by hand is foreign (kept, never overwritten). A Secret with the label but without
  this annotation (labelled by hand) counts every key as hfops', for the Secret-level endpoint.

Writes are merge patches conditional on the `resourceVersion` just read (a concurrent change is
re-read, up to three times, then reported); other keys of the Secret are kept. Removing the last
key hfops wrote deletes the Secret only when no other key is left.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from hfops.adapters.kubernetes.client import KubernetesClient, KubernetesError
from hfops.adapters.sinks.base import Held, Target
from hfops.core.errors import CredentialsError
from hfops.core.json_object import load_object
from hfops.core.redact import REDACTOR

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "hfops"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
ENDPOINT_ANNOTATION = "hfops.dev/endpoint"
OWNER_ANNOTATION = "hfops.dev/owner"
KEYS_ANNOTATION = "hfops.dev/keys"
DEFAULT_KEY = "credential.json"
_ATTEMPTS = 3

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_NAMESPACE = re.compile(_DNS1123_LABEL)
_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def name_problems(name: str, namespace: str, key: str) -> list[str]:
    """Kubernetes' rules for a Secret's name (DNS-1123 subdomain), namespace (label) and data key."""
    problems: list[str] = []
    if not name or len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        problems.append(
            f"kubernetes secret name {name!r} is invalid: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters"
        )
    if not namespace or len(namespace) > 63 or not _NAMESPACE.fullmatch(namespace):
        problems.append(
            f"kubernetes namespace {namespace!r} is invalid: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    if not key or len(key) > 253 or not _KEY.fullmatch(key) or key in (".", "..") or key.startswith(".."):
        problems.append(
            f"kubernetes secret key {key!r} is invalid: letters, digits, '-', '_' and '.', "
            "at most 253 characters, not '.' or starting with '..'"
        )
    return problems


def is_managed(secret: Mapping[str, Any]) -> bool:
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY_LABEL) == MANAGED_BY)


def written_keys(secret: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """{key: {"endpoint": ..., "owner": ...}} for each key hfops wrote in an hfops Secret."""
    meta = secret.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    data = secret.get("data") or {}
    raw = annotations.get(KEYS_ANNOTATION)
    if raw is None:  # labelled by hand: every key is hfops', for the Secret-level endpoint
        entry = {
            "endpoint": str(annotations.get(ENDPOINT_ANNOTATION, "")),
            "owner": str(annotations.get(OWNER_ANNOTATION, "")),
        }
        return {key: dict(entry) for key in data}
    parsed = load_object(raw)
    if parsed is None:
        return {}
    result: dict[str, dict[str, str]] = {}
    for key, value in parsed.items():
        if isinstance(value, dict):
            result[str(key)] = {"endpoint": str(value.get("endpoint", "")), "owner": str(value.get("owner", ""))}
    return result


class KubernetesSecretSink:
    """One key of one Secret; implements `hfops.adapters.sinks.base.CredentialSink`."""

    def __init__(
        self,
        client: KubernetesClient,
        name: str,
        namespace: str | None = None,
        key: str = DEFAULT_KEY,
        *,
        owner_references: list[dict[str, Any]] | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace or client.namespace
        self.key = key
        self.owner_references = owner_references

    def describe(self) -> str:
        return f"kubernetes secret {self.namespace}/{self.name} key {self.key}"

    def __repr__(self) -> str:
        return f"KubernetesSecretSink({self.namespace}/{self.name} key {self.key})"

    # --- CredentialSink ------------------------------------------------------------------------

    def check(self) -> list[str]:
        problems = name_problems(self.name, self.namespace, self.key)
        if problems:
            return problems
        try:
            secret = self.client.get_secret(self.namespace, self.name)
            if secret is None:  # can we create it? (the server checks RBAC and admission, stores nothing)
                self.client.create_secret(self.namespace, self._new_secret(b"", None), dry_run=True)
                return []
            if not is_managed(secret):
                return [self._foreign_message()]
            if self.key in (secret.get("data") or {}) and self.key not in written_keys(secret):
                return [self._foreign_key_message()]
            patch = {"metadata": {"resourceVersion": _version(secret), "labels": {MANAGED_BY_LABEL: MANAGED_BY}}}
            self.client.patch_secret(self.namespace, self.name, patch, dry_run=True)
        except KubernetesError as exc:
            return [str(exc)]
        return []

    def read(self) -> Held:
        try:
            secret = self.client.get_secret(self.namespace, self.name)
        except KubernetesError as exc:  # unreachable, forbidden: the planner reports it
            return Held("unreadable", detail=str(exc))
        if secret is None:
            return Held("absent")
        if not is_managed(secret):
            return Held("foreign")
        data = secret.get("data") or {}
        if self.key not in data:
            return Held("absent")
        ours = written_keys(secret).get(self.key)
        if ours is None:
            return Held("foreign")
        try:
            content = base64.b64decode(data[self.key], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise CredentialsError(f"{self.describe()}: the value is not valid base64") from None
        return Held("ours", content=content, address=ours["endpoint"] or None, owner=ours["owner"] or None)

    def write(self, content: bytes, target: Target) -> None:
        encoded = base64.b64encode(content).decode("ascii")
        REDACTOR.add(encoded)  # should a server ever echo the request back in an error
        for _ in range(_ATTEMPTS):
            secret = self.client.get_secret(self.namespace, self.name)
            try:
                if secret is None:
                    self.client.create_secret(self.namespace, self._new_secret(content, target))
                    return
                if not is_managed(secret):
                    raise CredentialsError(self._foreign_message())
                keys = written_keys(secret)
                if self.key in (secret.get("data") or {}) and self.key not in keys:
                    raise CredentialsError(self._foreign_key_message())
                keys[self.key] = {"endpoint": target.address, "owner": target.owner}
                metadata: dict[str, Any] = {
                    "resourceVersion": _version(secret),
                    "labels": {MANAGED_BY_LABEL: MANAGED_BY},
                    "annotations": self._annotations(target, keys),
                }
                if self.owner_references is not None:
                    metadata["ownerReferences"] = self.owner_references
                self.client.patch_secret(self.namespace, self.name, {"metadata": metadata, "data": {self.key: encoded}})
                return
            except KubernetesError as exc:
                if exc.status != 409:  # 409: created or changed by someone else meanwhile: look again
                    raise
        raise KubernetesError(f"{self.describe()}: kept changing while hfops wrote it; not written", status=409)

    def remove(self, target: Target) -> None:
        for _ in range(_ATTEMPTS):
            secret = self.client.get_secret(self.namespace, self.name)
            if secret is None or not is_managed(secret):
                return  # absent is success; a foreign Secret is never touched
            data = secret.get("data") or {}
            keys = written_keys(secret)
            if self.key not in data or self.key not in keys:
                return  # nothing of ours under this key
            try:
                if set(data) == {self.key}:
                    self.client.delete_secret(self.namespace, self.name, resource_version=_version(secret))
                    return
                del keys[self.key]
                annotations: dict[str, str | None] = {KEYS_ANNOTATION: json.dumps(keys, sort_keys=True)}
                if not keys:
                    annotations.update({ENDPOINT_ANNOTATION: None, OWNER_ANNOTATION: None})
                patch = {
                    "metadata": {"resourceVersion": _version(secret), "annotations": annotations},
                    "data": {self.key: None},
                }
                self.client.patch_secret(self.namespace, self.name, patch)
                return
            except KubernetesError as exc:
                if exc.status != 409:
                    raise
        raise KubernetesError(f"{self.describe()}: kept changing while hfops removed it; not removed", status=409)

    # --- helpers -------------------------------------------------------------------------------

    def _annotations(self, target: Target | None, keys: dict[str, dict[str, str]]) -> dict[str, str]:
        annotations = {KEYS_ANNOTATION: json.dumps(keys, sort_keys=True)}
        if target is not None:
            annotations[ENDPOINT_ANNOTATION] = target.address
            annotations[OWNER_ANNOTATION] = target.owner
        return annotations

    def _new_secret(self, content: bytes, target: Target | None) -> dict[str, Any]:
        keys = {self.key: {"endpoint": target.address, "owner": target.owner}} if target is not None else {}
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": self._annotations(target, keys),
        }
        if self.owner_references is not None:
            metadata["ownerReferences"] = self.owner_references
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": metadata,
            "data": {self.key: base64.b64encode(content).decode("ascii")},
        }

    def _foreign_message(self) -> str:
        return (
            f"kubernetes secret {self.namespace}/{self.name} exists and is not managed by hfops "
            f"(no label {MANAGED_BY_LABEL}: {MANAGED_BY}): hfops never overwrites it; "
            "choose another name or delete it"
        )

    def _foreign_key_message(self) -> str:
        return (
            f"{self.describe()}: the key exists and hfops did not write it "
            f"(not in annotation {KEYS_ANNOTATION}): hfops never overwrites it; choose another key"
        )


def _version(secret: Mapping[str, Any]) -> str | None:
    version = (secret.get("metadata") or {}).get("resourceVersion")
    return str(version) if version else None


def list_managed(client: KubernetesClient, namespace: str, owner: str) -> list[tuple[str, str, str]]:
    """(Secret name, key, endpoint address) of every key `owner` wrote in hfops Secrets of `namespace`,
    to find stale ones (an output removed from the manifests, an endpoint destroyed)."""
    found: list[tuple[str, str, str]] = []
    for secret in client.list_secrets(namespace, MANAGED_SELECTOR):
        if not is_managed(secret):  # a server ignoring the selector must not widen what we touch
            continue
        name = str((secret.get("metadata") or {}).get("name", ""))
        data = secret.get("data") or {}
        for key, entry in written_keys(secret).items():
            if key in data and entry["owner"] == owner:
                found.append((name, key, entry["endpoint"]))
    return sorted(found)
