"""Kubernetes outputs for GenStudio credentials: a Secret key as a credential sink.

Importing this package does not import the `kubernetes` library: that happens when a client is made
(`KubernetesClient.from_environment()`) or the kubeconfig is read, so hfops pays for it only when a
manifest has a `kubernetesSecret` output.
"""

from hfops.adapters.kubernetes.client import (
    ClusterAccess,
    KubernetesClient,
    KubernetesError,
    default_namespace,
    find_cluster_access,
)
from hfops.adapters.kubernetes.secret_sink import (
    DEFAULT_KEY,
    MANAGED_BY_LABEL,
    KubernetesSecretSink,
    list_managed,
    name_problems,
)

__all__ = [
    "DEFAULT_KEY",
    "MANAGED_BY_LABEL",
    "ClusterAccess",
    "KubernetesClient",
    "KubernetesError",
    "KubernetesSecretSink",
    "default_namespace",
    "find_cluster_access",
    "list_managed",
    "name_problems",
]
