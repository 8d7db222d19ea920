"""Custom resources of the cluster (the operator's own kinds): one annotation written by merge patch.

The operator's custom resources are otherwise read and patched by kopf; this is the one write kopf
does not make for it: marking the Endpoints of a namespace so that kopf reconciles them again
(their Defaults changed). Cluster access as `client.KubernetesClient` finds it.
"""

from __future__ import annotations

from collections.abc import Iterable

from hfops.adapters.kubernetes.client import KubernetesClient, KubernetesError


def annotate(group: str, version: str, plural: str, namespace: str, names: Iterable[str], key: str, value: str) -> None:
    """Set annotation `key` to `value` on each named object; one that is gone is skipped."""
    from kubernetes import client as kube_client

    api = kube_client.CustomObjectsApi(KubernetesClient.from_environment()._api.api_client)
    for name in names:
        body = {"metadata": {"annotations": {key: value}}}
        try:
            api.patch_namespaced_custom_object(group, version, namespace, plural, name, body)
        except kube_client.exceptions.ApiException as error:
            if error.status == 404:
                continue  # deleted meanwhile: nothing to reconcile
            raise KubernetesError(
                f"{plural}.{group} {namespace}/{name}: cannot annotate: HTTP {error.status} {error.reason}",
                status=int(error.status) if error.status else None,
            ) from None
