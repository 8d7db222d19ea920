"""A small Kubernetes client: the Secrets of one namespace, and the kubeconfig context's namespace.

Built on the official `kubernetes` client (37.x) rather than lightkube, for correct behaviour with
less code here: it finds cluster access as kubectl does (a colon-separated `KUBECONFIG` merged
first-wins, `~/.kube/config`, exec/auth-provider plugins, client certificates, in-cluster service
account) without code of ours, and it reports any error response as one `ApiException` with the
status and the raw body whatever its content type (lightkube only recognises a `Status` served as
exactly `application/json`). Its size does not matter to hfops: it is imported only when a
`kubernetesSecret` output is used, inside the functions below, never at module import.

Everything is plain JSON dicts (`_preload_content=False`): hfops needs a handful of fields, not the
generated models. Updates are JSON merge patches carrying the `resourceVersion` read before, so a
Secret changed by someone else in between is refused (409) instead of overwritten; deletes carry
the same precondition.

Errors are `KubernetesError` (a `CredentialsError`) naming the Secret (`namespace/name`), what was
being done, and why (HTTP status and the server's message, or the connection failure); never the
Secret's data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfops.core.errors import CredentialsError

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "default"
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
MERGE_PATCH = "application/merge-patch+json"
_MAX_MESSAGE = 300


class KubernetesError(CredentialsError):
    """A Kubernetes API call failed; names the object and the reason, never the data."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message, hint=_hint(status))
        self.status = status
        self.reason = reason


def _hint(status: int | None) -> str | None:
    if status in (401, 403):
        return "check the kubeconfig user's RBAC: hfops needs get, list, create, patch and delete on secrets"
    if status == 409:
        return "the Secret changed while hfops was working on it: run again"
    return None


@dataclass(frozen=True)
class ClusterAccess:
    """Where the cluster is and which namespace is the default, as kubectl would find them."""

    source: str  # "kubeconfig PATH[:PATH...]" or "in-cluster service account"
    namespace: str  # the context's namespace (or the pod's), `default` when it sets none
    config_files: tuple[str, ...] = ()  # empty for in-cluster
    context: str | None = None


def find_cluster_access(context: str | None = None) -> ClusterAccess:
    """The kubeconfig (or in-cluster account) kubectl would use, and its default namespace.

    `KUBECONFIG` (a `:`-separated list; files that do not exist are skipped, as kubectl does), else
    `~/.kube/config`; with neither, the in-cluster service account when running in a pod.
    """
    env = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in env.split(os.pathsep) if p] if env else ["~/.kube/config"]
    existing = tuple(str(Path(p).expanduser()) for p in candidates if Path(p).expanduser().is_file())
    if existing:
        context = context or _current_context(existing)
        return ClusterAccess(
            source="kubeconfig " + os.pathsep.join(existing),
            namespace=_context_namespace(existing, context),
            config_files=existing,
            context=context,
        )
    if os.environ.get("KUBERNETES_SERVICE_HOST") and os.environ.get("KUBERNETES_SERVICE_PORT"):
        try:
            namespace = IN_CLUSTER_NAMESPACE_FILE.read_text().strip() or DEFAULT_NAMESPACE
        except OSError:
            namespace = DEFAULT_NAMESPACE
        return ClusterAccess(source="in-cluster service account", namespace=namespace)
    where = f"KUBECONFIG={env}" if env else "~/.kube/config"
    raise KubernetesError(f"no Kubernetes configuration: {where} does not exist and hfops is not running in a cluster")


def default_namespace(context: str | None = None) -> str:
    """The namespace of the kubeconfig's current (or named) context; `default` when it sets none."""
    return find_cluster_access(context).namespace


def _current_context(files: tuple[str, ...]) -> str | None:
    """`current-context` of the first file that sets one, as kubectl merges (the `kubernetes` library
    lets the last file win)."""
    import yaml

    for path in files:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise KubernetesError(f"cannot read kubeconfig {path}: {_short(exc)}") from None
        if isinstance(loaded, dict) and loaded.get("current-context"):
            return str(loaded["current-context"])
    return None


def _context_namespace(files: tuple[str, ...], context: str | None) -> str:
    from kubernetes import config as kube_config

    try:
        contexts, current = kube_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=os.pathsep.join(files)
        )
    except Exception as exc:  # ConfigException, YAML errors, a file that is not a kubeconfig
        raise KubernetesError(f"cannot read kubeconfig {os.pathsep.join(files)}: {_short(exc)}") from exc
    chosen: Any = current
    if context is not None:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
        if chosen is None:
            raise KubernetesError(f"kubeconfig {os.pathsep.join(files)} has no context {context!r}")
    if not chosen:
        return DEFAULT_NAMESPACE
    namespace = (chosen.get("context") or {}).get("namespace")
    return str(namespace) if namespace else DEFAULT_NAMESPACE


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


class KubernetesClient:
    """Secrets get/list/create/patch/delete in any namespace; `namespace` is the context's default.

    Make one with `KubernetesClient.from_environment()`. Nothing connects until a call is made.
    """

    def __init__(self, api: Any, access: ClusterAccess) -> None:
        self._api = api  # kubernetes.client.CoreV1Api
        self.access = access

    @classmethod
    def from_environment(cls, context: str | None = None) -> KubernetesClient:
        access = find_cluster_access(context)
        from kubernetes import client as kube_client
        from kubernetes import config as kube_config

        configuration = kube_client.Configuration()
        try:
            if access.config_files:
                kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=os.pathsep.join(access.config_files),
                    context=access.context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            else:
                kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except Exception as exc:  # ConfigException, a bad certificate path, an exec plugin failing
            raise KubernetesError(f"cannot use {access.source}: {_short(exc)}") from exc
        configuration.retries = 1
        api = kube_client.CoreV1Api(kube_client.ApiClient(configuration))
        return cls(api, access)

    @property
    def namespace(self) -> str:
        return self.access.namespace

    @property
    def server(self) -> str:
        return str(self._api.api_client.configuration.host)

    # --- Secrets -------------------------------------------------------------------------------

    def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret as JSON, or None when there is none."""
        try:
            return self._call("read", namespace, name, self._api.read_namespaced_secret, name, namespace)
        except KubernetesError as exc:
            if exc.status == 404:
                return None
            raise

    def list_secrets(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        result = self._call(
            "list",
            namespace,
            f"(labels {label_selector})",
            self._api.list_namespaced_secret,
            namespace,
            label_selector=label_selector,
        )
        return list(result.get("items") or [])

    def create_secret(self, namespace: str, body: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create the Secret; `dry_run`: the server checks (RBAC, admission) and stores nothing."""
        name = str(body.get("metadata", {}).get("name", ""))
        extra = {"dry_run": "All"} if dry_run else {}
        return self._call("create", namespace, name, self._api.create_namespaced_secret, namespace, body, **extra)

    def patch_secret(
        self, namespace: str, name: str, patch: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (`None` removes a key); put `metadata.resourceVersion` in it to
        make the change conditional on nobody else having changed the Secret."""
        extra = {"dry_run": "All"} if dry_run else {}
        return self._call(
            "update",
            namespace,
            name,
            self._api.patch_namespaced_secret,
            name,
            namespace,
            patch,
            _content_type=MERGE_PATCH,
            **extra,
        )

    def delete_secret(self, namespace: str, name: str, *, resource_version: str | None = None) -> bool:
        """Delete the Secret (only if still at `resource_version`, when given); False if it was absent."""
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if resource_version is not None:
            body["preconditions"] = {"resourceVersion": resource_version}
        try:
            self._call("delete", namespace, name, self._api.delete_namespaced_secret, name, namespace, body=body)
        except KubernetesError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _call(self, verb: str, namespace: str, name: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        if name.startswith("("):
            what = f"kubernetes secrets in {namespace} {name}"
        else:
            what = f"kubernetes secret {namespace}/{name}"
        try:
            response = method(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            data = response.data
        except ApiException as exc:
            status = int(exc.status) if exc.status else None
            reason, message = _status_of(exc)
            raise KubernetesError(
                f"{what}: cannot {verb}: HTTP {status} {reason}: {message}", status=status, reason=reason
            ) from None
        except (HTTPError, OSError) as exc:
            raise KubernetesError(
                f"{what}: cannot {verb}: cannot reach the Kubernetes API at {self.server}: {_short(exc)}"
            ) from None
        try:
            parsed = json.loads(data) if data else {}
        except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
            raise KubernetesError(f"{what}: cannot {verb}: the API answered something that is not JSON") from None
        return parsed if isinstance(parsed, dict) else {}


def _status_of(exc: Any) -> tuple[str, str]:
    """(reason, message) from an ApiException carrying a Kubernetes `Status` body (or not)."""
    reason = str(exc.reason or "").strip() or "error"
    message = ""
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError, RecursionError):
        body = {}
    if isinstance(body, dict):
        reason = str(body.get("reason") or reason)
        message = str(body.get("message") or "")
    return reason, _short(Exception(message)) if message else "no message"
