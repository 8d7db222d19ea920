"""Resource created -> endpoint created, Secret written, Ready=True; edited -> updated; deleted -> deleted."""

from __future__ import annotations

import json

from tests.operator._harness import HF_NAMESPACE, K8S_NAMESPACE, Cluster, condition, resource


def test_created_resource_gets_endpoint_secret_and_ready(cluster: Cluster) -> None:
    with cluster.operator(interval=5.0):
        cluster.apply(resource("llama"))
        body = cluster.wait_condition("llama", "Ready", "True")
    status = body["status"]
    assert status["state"] == "running"
    assert status["url"].startswith("http")
    assert condition(status, "Synced")["status"] == "True"
    endpoint = cluster.hf.store.get(HF_NAMESPACE, "llama") if hasattr(cluster.hf, "store") else None
    data = cluster.kube.secret_data(K8S_NAMESPACE, "llama")
    assert data is not None and set(data) == {"credential.json"}
    credential = json.loads(data["credential.json"])
    assert set(credential) == {"api_key", "endpoint", "model_name", "context_window"}
    assert credential["endpoint"] == status["url"] and credential["model_name"] == "gpt2"
    secret = cluster.kube.object("v1/secrets", K8S_NAMESPACE, "llama")
    assert secret is not None
    owners = secret["metadata"]["ownerReferences"]
    assert owners[0]["kind"] == "Endpoint" and owners[0]["uid"] == body["metadata"]["uid"]
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "hfops"
    del endpoint
