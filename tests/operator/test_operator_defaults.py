"""`kind: Defaults` resources: the Endpoints of their Kubernetes namespace inherit from them, as
manifests inherit from _defaults.yaml; changing one re-reconciles those Endpoints."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.operator._harness import HF_NAMESPACE, K8S_NAMESPACE, Cluster, condition, resource


def put_defaults(cluster: Cluster, name: str, spec: dict[str, Any], *, namespace: str = K8S_NAMESPACE) -> None:
    base = f"{cluster.kube.url}/apis/hfops.dev/v1/namespaces/{namespace}/defaults"
    if cluster.kube.object("hfops.dev/v1/defaults", namespace, name) is None:
        body = {"apiVersion": "hfops.dev/v1", "kind": "Defaults", "metadata": {"name": name}, "spec": spec}
        request = urllib.request.Request(base, data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
    else:
        request = urllib.request.Request(f"{base}/{name}", data=json.dumps({"spec": spec}).encode(), method="PATCH")
        request.add_header("Content-Type", "application/merge-patch+json")
    with urllib.request.urlopen(request, timeout=10):
        pass


def delete_defaults(cluster: Cluster, name: str, *, namespace: str = K8S_NAMESPACE) -> None:
    url = f"{cluster.kube.url}/apis/hfops.dev/v1/namespaces/{namespace}/defaults/{name}"
    with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10):
        pass


def bare(name: str, *, namespace: str = K8S_NAMESPACE, **spec: Any) -> dict[str, Any]:
    """A resource that names only its model: compute comes from the Defaults."""
    body = resource(name, namespace=namespace, **spec)
    del body["spec"]["compute"]
    return body


def scaling(cluster: Cluster, name: str) -> tuple[int, int] | None:
    raw = cluster.hf.endpoint_raw(HF_NAMESPACE, name)
    if raw is None:
        return None
    got = raw["compute"]["scaling"]
    return int(got["minReplica"]), int(got["maxReplica"])


COMPUTE = {
    "vendor": "aws",
    "region": "us-east-1",
    "accelerator": "cpu",
    "instanceType": "intel-icl",
    "instanceSize": "x1",
}


def test_endpoints_inherit_from_the_defaults_of_their_namespace_and_follow_its_changes(cluster: Cluster) -> None:
    put_defaults(cluster, "team", {"compute": COMPUTE, "scaling": {"minReplica": 0, "maxReplica": 2}})
    with cluster.operator(interval=30.0, namespaces=(K8S_NAMESPACE, "other")):
        cluster.apply(bare("llama"))
        cluster.apply(bare("own", scaling={"minReplica": 1, "maxReplica": 3}))  # its own value wins
        cluster.wait_condition("llama", "Ready", "True", timeout=20)
        cluster.wait_condition("own", "Ready", "True", timeout=20)
        assert scaling(cluster, "llama") == (0, 2)
        assert scaling(cluster, "own") == (1, 3)
        # Another namespace's Endpoint does not see this namespace's Defaults: compute is missing.
        cluster.apply(bare("elsewhere", namespace="other"))
        body = cluster.wait_condition("elsewhere", "Synced", "False", reason="InvalidSpec", namespace="other")
        assert "compute" in condition(body["status"], "Synced")["message"]

        # Changed: every Endpoint of the namespace is reconciled at once (the interval is 30 s).
        put_defaults(cluster, "team", {"compute": COMPUTE, "scaling": {"minReplica": 0, "maxReplica": 4}})
        cluster.wait(lambda: scaling(cluster, "llama") == (0, 4), timeout=10, message="llama follows the Defaults")
        assert scaling(cluster, "own") == (1, 3)

        # A second Defaults resource: merged in name order, the later name winning a field.
        put_defaults(cluster, "zz-override", {"scaling": {"maxReplica": 5}})
        cluster.wait(lambda: scaling(cluster, "llama") == (0, 5), timeout=10, message="the later Defaults wins")
        delete_defaults(cluster, "zz-override")
        cluster.wait(lambda: scaling(cluster, "llama") == (0, 4), timeout=10, message="back once it is deleted")


def test_an_invalid_defaults_resource_is_named_in_the_endpoints_status(cluster: Cluster) -> None:
    put_defaults(cluster, "team", {"compute": COMPUTE, "scaling": {"maxReplica": "lots"}})
    with cluster.operator(interval=30.0):
        cluster.apply(bare("llama"))
        body = cluster.wait_condition("llama", "Synced", "False", reason="InvalidSpec", timeout=20)
        message = condition(body["status"], "Synced")["message"]
        assert f"defaults.hfops.dev/{K8S_NAMESPACE}/team" in message and "spec.scaling.maxReplica" in message
        assert cluster.hf.endpoint_raw(HF_NAMESPACE, "llama") is None
        put_defaults(cluster, "team", {"compute": COMPUTE, "scaling": {"maxReplica": 2}})
        cluster.wait_condition("llama", "Ready", "True", timeout=20)
    assert scaling(cluster, "llama") == (1, 2) or scaling(cluster, "llama") == (0, 2)


def test_credential_outputs_from_defaults_go_to_the_resources_namespace(cluster: Cluster) -> None:
    outputs = {"outputs": [{"kubernetesSecret": {"name": "{name}-credential", "key": "genstudio.json"}}]}
    put_defaults(cluster, "team", {"compute": COMPUTE, "genstudio": outputs})
    with cluster.operator(interval=30.0):
        cluster.apply(bare("llama"))
        cluster.wait_condition("llama", "Ready", "True", timeout=20)
    data = cluster.kube.secret_data(K8S_NAMESPACE, "llama-credential")
    assert data is not None and set(data) == {"genstudio.json"}
    assert cluster.kube.secret_data(K8S_NAMESPACE, "llama") is None  # no default Secret beside it


def test_a_file_output_from_defaults_is_refused(cluster: Cluster) -> None:
    put_defaults(cluster, "team", {"compute": COMPUTE, "genstudio": {"outputs": [{"file": "{name}.json"}]}})
    with cluster.operator(interval=30.0):
        cluster.apply(bare("llama"))
        body = cluster.wait_condition("llama", "Synced", "False", reason="InvalidSpec", timeout=20)
    message = condition(body["status"], "Synced")["message"]
    assert "Kubernetes Secrets only" in message and f"defaults.hfops.dev/{K8S_NAMESPACE}/team" in message
