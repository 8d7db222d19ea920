"""kopf's connection to the cluster, found as hfops' Secret sink and kubectl find it.

`KUBECONFIG` (read when the operator starts, not when the `kubernetes` module was imported),
`~/.kube/config`, else the pod's service account (`hfops.adapters.kubernetes.client`).
"""

from __future__ import annotations

from typing import Any

import kopf


def connection_info() -> kopf.ConnectionInfo:
    from hfops.adapters.kubernetes.client import KubernetesClient

    client = KubernetesClient.from_environment()
    config: Any = client._api.api_client.configuration
    header = (config.api_key or {}).get("authorization") or (config.api_key or {}).get("BearerToken")
    scheme, token = None, None
    if header:
        scheme, _, token = str(header).partition(" ")
        if not token:
            scheme, token = "Bearer", scheme
    return kopf.ConnectionInfo(
        server=str(config.host),
        ca_path=config.ssl_ca_cert or None,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file or None,
        private_key_path=config.key_file or None,
        default_namespace=client.namespace,
    )
