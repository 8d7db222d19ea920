"""One list of a Kubernetes namespace's hfops Secrets per drift interval, shared by every resource.

A reconcile lists the hfops-managed Secrets of its Kubernetes namespace (`list_managed`) to find
credential keys it wrote that its spec no longer declares. For N resources in a namespace that is
N lists of N Secrets per interval. `SharedSecrets` keeps each (namespace, label selector) list for
`max_age`; `SharedSecretsClient` is the Kubernetes client the credential sinks use, with only
`list_secrets` served from it (every get, create, patch and delete goes to the API as before).

What a kept list can get wrong, and why it is safe: a Secret written since is missing (a stale
key of it is then found at the next interval); one removed since is still there (its removal is
asked again, and the sink re-reads the Secret and finds nothing of ours: a no-op); a key given to
another endpoint since is still shown as the first one's: `GuardedSecretSink` (engine.py) re-reads
the Secret before removing a key and leaves one that now names another endpoint. A list that fails
is not kept: that reconcile reports it (CredentialError, retried) and the next one lists again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hfops.operator.listing import SharedReads


class SharedSecrets:
    def __init__(self, *, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._reads: SharedReads[tuple[str, str, str], list[dict[str, Any]]] = SharedReads(max_age=max_age, clock=clock)

    @property
    def lists(self) -> int:
        """Secret list calls made (for the benchmark and the tests)."""
        return self._reads.reads

    def list(self, client: Any, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        server = str(getattr(client, "server", ""))
        items = self._reads.get(
            (server, namespace, label_selector), lambda key: list(client.list_secrets(key[1], key[2]))
        )
        return list(items)


class SharedSecretsClient:
    """A `KubernetesClient` whose `list_secrets` comes from a `SharedSecrets`; all else delegated."""

    def __init__(self, client: Any, shared: SharedSecrets) -> None:
        self._client = client
        self._shared = shared

    def list_secrets(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return self._shared.list(self._client, namespace, label_selector)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
