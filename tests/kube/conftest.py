"""Fixtures for Kubernetes tests: a kmock API emulator on 127.0.0.1 and a kubeconfig pointing at it.

    def test_something(kube: KubeCluster) -> None:
        client = kube.client()                       # KubernetesClient found as kubectl would
        ...                                          # real HTTP to 127.0.0.1:<free port>
        assert kube.secret_data("genstudio", "llama") == {"credential.json": b"..."}

`kube` starts a fresh emulator per test (a few milliseconds), writes `kubeconfig` in the test's
tmp_path (context `kmock`, namespace `genstudio`, a dummy token) and sets `KUBECONFIG` to it for the
test; the in-cluster variables are removed so nothing else is found. `kube.emulator` is the
`KubeEmulator` (tests/kube/kube_emulator.py); `kube.forbid("create", "secrets")` makes the API answer
403 as RBAC would. For an operator later: `kube_resources` (override it in a test module) adds
custom resources to what the emulator serves and discovers.

test_kubectl.py runs only where `kubectl` is on PATH; with HFOPS_REQUIRE_KUBECTL=1 it is always
collected and fails when kubectl is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hfops.adapters.kubernetes import KubernetesClient

from .kube_emulator import KubeEmulator

NAMESPACE = "genstudio"

collect_ignore: list[str] = []
if shutil.which("kubectl") is None and os.environ.get("HFOPS_REQUIRE_KUBECTL") != "1":
    collect_ignore.append("test_kubectl.py")


@dataclass
class KubeCluster:
    emulator: KubeEmulator
    kubeconfig: Path
    namespace: str

    @property
    def url(self) -> str:
        return self.emulator.url

    def client(self, context: str | None = None) -> KubernetesClient:
        return KubernetesClient.from_environment(context)

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.emulator.object("v1/secrets", namespace, name)

    def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.emulator.secret_data(namespace, name)

    def put_secret(self, namespace: str, name: str, body: Mapping[str, Any]) -> None:
        self.emulator.put_object("v1/secrets", namespace, name, {"apiVersion": "v1", "kind": "Secret", **body})

    def forbid(self, verb: str, plural: str = "secrets") -> None:
        self.emulator.handler.forbidden.add((verb, plural))


@pytest.fixture
def kube_resources() -> dict[str, Any]:
    """Extra resources (e.g. custom resources) the emulator serves: {"group/version/plural": info}."""
    return {}


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kube_resources: dict[str, Any]) -> Iterator[KubeCluster]:
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    with KubeEmulator(kube_resources) as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        yield KubeCluster(emulator, kubeconfig, NAMESPACE)
