"""Fixtures for the operator: kmock (shimmed, tests/kube/kube_emulator.py) serving `endpoints.hfops.dev`,
the hfops emulator, and the operator itself run by kopf's own `KopfRunner` (its own thread and loop).

    def test_x(cluster: Cluster, hf: HF) -> None:
        with cluster.operator(interval=1.0):
            cluster.apply(resource("llama"))
            status = cluster.wait_status("llama", lambda s: ready(s) == "True")

Everything goes over real HTTP on 127.0.0.1: kopf and the Secret sink to kmock (found through
KUBECONFIG as kubectl would), huggingface_hub to the emulator.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from hfops.adapters.settings import settings_from_env
from hfops.emulator import Emulator, EmulatorConfig
from hfops.operator.handlers import OperatorConfig, build_registry, operator_settings
from tests.conftest import point_at
from tests.kube.kube_emulator import KubeEmulator, ShimmedKubernetesEmulator


class OperatorKubeEmulator(ShimmedKubernetesEmulator):  # type: ignore[misc]
    """The shim plus `metadata.generateName` (kopf posts its events with one) and `generation`
    bumps on spec changes, as a real API server does."""

    async def _handle(self, request: Any) -> Any:
        import uuid

        import kmock

        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            meta["generation"] = 1
        if request.action == kmock.action.UPDATE and isinstance(request.data, dict) and "spec" in request.data:
            current = self._stored(request) or {}
            meta = request.data.setdefault("metadata", {})
            meta["generation"] = int((current.get("metadata") or {}).get("generation") or 1) + 1
        return await super()._handle(request)


class OperatorKube(KubeEmulator):
    handler_class = OperatorKubeEmulator


K8S_NAMESPACE = "team"
HF_NAMESPACE = "acme"
CR = "hfops.dev/v1/endpoints"
OPERATOR_RESOURCES: dict[str, Any] = {
    CR: {
        "kind": "Endpoint",
        "singular": "endpoint",
        "namespaced": True,
        "verbs": {"create", "delete", "get", "list", "patch", "watch"},
        "shortnames": {"hfe"},
    },
    "hfops.dev/v1/defaults": {
        "kind": "Defaults",
        "singular": "defaults",
        "namespaced": True,
        "verbs": {"create", "delete", "get", "list", "patch", "watch"},
    },
    "v1/events": {
        "kind": "Event",
        "singular": "event",
        "namespaced": True,
        "verbs": {"create", "get", "list", "patch", "watch"},
    },
}
CPU_COMPUTE = {
    "vendor": "aws",
    "region": "us-east-1",
    "accelerator": "cpu",
    "instanceType": "intel-icl",
    "instanceSize": "x1",
}


def resource(name: str, *, namespace: str = K8S_NAMESPACE, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": {"repository": "gpt2"}, "compute": dict(CPU_COMPUTE), "hfNamespace": HF_NAMESPACE}
    body.update(spec)
    return {
        "apiVersion": "hfops.dev/v1",
        "kind": "Endpoint",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def condition(status: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for item in (status or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


@dataclass
class Cluster:
    kube: OperatorKube
    hf: Emulator
    monkeypatch: pytest.MonkeyPatch
    logs: list[str] = field(default_factory=list)

    def get(self, name: str, namespace: str = K8S_NAMESPACE) -> dict[str, Any] | None:
        return self.kube.object(CR, namespace, name)

    def apply(self, body: dict[str, Any]) -> None:
        """Create, or replace the spec of, a resource (through the API, so kopf sees a watch event)."""
        import json
        import urllib.request

        meta = body["metadata"]
        base = f"{self.kube.url}/apis/hfops.dev/v1/namespaces/{meta['namespace']}/endpoints"
        if self.get(meta["name"], meta["namespace"]) is None:
            request = urllib.request.Request(base, data=json.dumps(body).encode(), method="POST")
        else:
            request = urllib.request.Request(
                f"{base}/{meta['name']}", data=json.dumps({"spec": body["spec"]}).encode(), method="PATCH"
            )
            request.add_header("Content-Type", "application/merge-patch+json")
        request.add_header("Content-Type", request.headers.get("Content-type", "application/json"))
        with urllib.request.urlopen(request, timeout=10):
            pass

    def delete(self, name: str, namespace: str = K8S_NAMESPACE) -> None:
        import urllib.request

        url = f"{self.kube.url}/apis/hfops.dev/v1/namespaces/{namespace}/endpoints/{name}"
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10):
            pass

    def wait(self, what: Callable[[], Any], *, timeout: float = 15.0, message: str = "") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = what()
            if last:
                return last
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting: {message} (last: {last!r})")

    def wait_condition(
        self,
        name: str,
        kind: str,
        status: str,
        *,
        reason: str | None = None,
        timeout: float = 15.0,
        namespace: str = K8S_NAMESPACE,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            body = self.get(name, namespace)
            found = condition((body or {}).get("status"), kind)
            if found.get("status") == status and (reason is None or found.get("reason") == reason):
                return body
            return None

        result: dict[str, Any] = self.wait(check, timeout=timeout, message=f"{name} {kind}={status} {reason or ''}")
        return result

    def events(self, namespace: str = K8S_NAMESPACE) -> list[dict[str, Any]]:
        import kmock

        objects = self.kube._call(lambda: dict(self.kube.handler.objects))
        return [
            dict(o.raw) for (res, ns, _), o in objects.items() if res == kmock.resource("v1/events") and ns == namespace
        ]

    @contextlib.contextmanager
    def operator(self, *, interval: float = 1.0, retry_delay: float = 0.3, **extra: Any) -> Iterator[KopfRunner]:
        settings = settings_from_env(namespace=None)
        namespaces = tuple(extra.pop("namespaces", (K8S_NAMESPACE,)))
        config = OperatorConfig(
            settings=settings, interval=interval, retry_delay=retry_delay, namespaces=namespaces, **extra
        )
        registry = build_registry(config)
        peering = ["--standalone"] if config.peering is None else ["--peering", config.peering]
        peering += ["--priority", str(config.priority)]
        args = ["run", *peering, *[a for n in namespaces for a in ("--namespace", n)]]
        with KopfRunner(args, registry=registry, settings=operator_settings(config), timeout=30) as runner:
            self.registry = registry
            yield runner
        assert runner.exception is None, runner.exception


@pytest.fixture
def extra_resources() -> dict[str, Any]:
    """More resources kmock serves (a test module overrides it)."""
    return {}


@pytest.fixture
def hf_config() -> EmulatorConfig:
    """The hfops emulator's settings (a test module overrides it)."""
    return EmulatorConfig(provision_seconds=0.3, retry_after_seconds=0.0)


@pytest.fixture
def cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra_resources: dict[str, Any], hf_config: EmulatorConfig
) -> Iterator[Cluster]:
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    config = hf_config
    with OperatorKube({**OPERATOR_RESOURCES, **extra_resources}) as kube, Emulator(config) as hf:
        monkeypatch.setenv("KUBECONFIG", str(kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=K8S_NAMESPACE)))
        point_at(hf, monkeypatch)
        monkeypatch.setenv("HFOPS_OWNER", "kubernetes")
        yield Cluster(kube, hf, monkeypatch)
