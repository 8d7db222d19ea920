"""Resource created -> endpoint created, Secret written, Ready=True; edited -> updated; deleted -> deleted."""

from __future__ import annotations

import json
from typing import Any

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


def max_replica(cluster: Cluster, name: str) -> int | None:
    raw = cluster.hf.endpoint_raw(HF_NAMESPACE, name)
    return None if raw is None else int(raw["compute"]["scaling"]["maxReplica"])


def test_spec_edit_updates_the_endpoint(cluster: Cluster) -> None:
    with cluster.operator(interval=5.0):
        cluster.apply(resource("llama"))
        cluster.wait_condition("llama", "Ready", "True")
        assert max_replica(cluster, "llama") == 1
        cluster.apply(resource("llama", scaling={"minReplica": 0, "maxReplica": 3}))
        cluster.wait(lambda: max_replica(cluster, "llama") == 3, message="maxReplica 3 on the endpoint")

        def observed_edit() -> dict[str, Any] | None:
            # Ready from before the edit may still be shown a moment: wait for the status of generation 2.
            body = cluster.get("llama") or {}
            status = body.get("status") or {}
            ready = condition(status, "Ready").get("status") == "True"
            return body if ready and status.get("observedGeneration") == 2 else None

        body = cluster.wait(observed_edit, message="Ready for generation 2")
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"] == 2


def test_change_made_outside_is_corrected_within_one_interval(cluster: Cluster) -> None:
    import time

    from tests.conftest import TOKEN, client_for

    api: Any = client_for(cluster.hf, cluster.monkeypatch)
    with cluster.operator(interval=1.5):
        cluster.apply(resource("llama"))
        cluster.wait_condition("llama", "Ready", "True")
        api.update_inference_endpoint("llama", namespace=HF_NAMESPACE, token=TOKEN, max_replica=4)
        assert max_replica(cluster, "llama") == 4
        changed = time.monotonic()
        cluster.wait(lambda: max_replica(cluster, "llama") == 1, timeout=6, message="drift corrected")
        took = time.monotonic() - changed
        assert took < 1.5 + 1.0, f"corrected after {took:.1f}s, interval 1.5s"

        def said_updated() -> bool:  # kopf posts events in the background: wait for it, briefly
            said = [e.get("message", "") for e in cluster.events() if e.get("reason") == "Reconciled"]
            return any("acme/llama: updated" in m for m in said)

        cluster.wait(said_updated, timeout=5, message="a Reconciled event saying acme/llama: updated")


def test_deleting_the_resource_deletes_endpoint_and_secret(cluster: Cluster) -> None:
    with cluster.operator(interval=5.0):
        cluster.apply(resource("llama"))
        cluster.wait_condition("llama", "Ready", "True")
        assert cluster.kube.secret_data(K8S_NAMESPACE, "llama") is not None
        cluster.delete("llama")
        cluster.wait(lambda: cluster.get("llama") is None, message="finalizer released")
        cluster.wait(
            lambda: (
                (cluster.hf.endpoint_raw(HF_NAMESPACE, "llama") or {}).get("status", {}).get("state")
                in (None, "deleting")
                or cluster.hf.endpoint_raw(HF_NAMESPACE, "llama") is None
            ),
            message="endpoint deleted",
        )
    assert cluster.kube.secret_data(K8S_NAMESPACE, "llama") is None


def test_orphan_policy_keeps_the_endpoint(cluster: Cluster) -> None:
    with cluster.operator(interval=5.0):
        cluster.apply(resource("llama", deletionPolicy="Orphan"))
        cluster.wait_condition("llama", "Ready", "True")
        cluster.delete("llama")
        cluster.wait(lambda: cluster.get("llama") is None, message="finalizer released")
    raw = cluster.hf.endpoint_raw(HF_NAMESPACE, "llama")
    assert raw is not None and raw["status"]["state"] == "running"
    said = [e.get("message", "") for e in cluster.events() if e.get("reason") == "Deleted"]
    assert any("Orphan" in m for m in said), said


def test_endpoint_not_created_by_hfops_is_not_adopted(cluster: Cluster) -> None:
    from tests.conftest import client_for
    from tests.factories import create_outside_hfops

    api: Any = client_for(cluster.hf, cluster.monkeypatch)
    create_outside_hfops(api, "llama", max_replica=2)
    with cluster.operator(interval=1.0):
        cluster.apply(resource("llama"))
        body = cluster.wait_condition("llama", "Synced", "False", reason="NotOwned")
        ready = condition(body["status"], "Ready")
        assert ready["status"] == "False" and ready["reason"] == "NotOwned"
        assert "not managed by this operator" in ready["message"]
        cluster.delete("llama")
        cluster.wait(lambda: cluster.get("llama") is None, message="finalizer released")
    raw = cluster.hf.endpoint_raw(HF_NAMESPACE, "llama")
    assert raw is not None and int(raw["compute"]["scaling"]["maxReplica"]) == 2
    assert cluster.kube.secret_data(K8S_NAMESPACE, "llama") is None


def test_invalid_spec_is_reported_with_the_field(cluster: Cluster) -> None:
    with cluster.operator(interval=5.0):
        cluster.apply(resource("llama", scaling={"maxReplica": 0}))
        body = cluster.wait_condition("llama", "Synced", "False", reason="InvalidSpec")
    message = condition(body["status"], "Synced")["message"]
    assert "spec.scaling.maxReplica" in message
    assert cluster.hf.endpoint_raw(HF_NAMESPACE, "llama") is None


def test_same_name_in_two_kubernetes_namespaces_cannot_share_one_endpoint(cluster: Cluster) -> None:
    with cluster.operator(interval=5.0, namespaces=(K8S_NAMESPACE, "other")):
        cluster.apply(resource("llama"))
        cluster.wait_condition("llama", "Ready", "True")
        cluster.apply(resource("llama", namespace="other", scaling={"minReplica": 0, "maxReplica": 3}))
        body = cluster.wait_condition("llama", "Synced", "False", reason="NotOwned", namespace="other")
    assert "kubernetes.team" in condition(body["status"], "Ready")["message"]
    assert max_replica(cluster, "llama") == 1


def test_moving_hf_namespace_is_refused_and_leaves_no_second_endpoint(cluster: Cluster) -> None:
    """A new hfNamespace would be a second endpoint, the first running on unmanaged (and billed)."""
    with cluster.operator(interval=5.0):
        cluster.apply(resource("llama"))
        cluster.wait_condition("llama", "Ready", "True")
        cluster.apply(resource("llama", hfNamespace="genstudio"))
        body = cluster.wait_condition("llama", "Synced", "False", reason="InvalidSpec")
        message = condition(body["status"], "Synced")["message"]
        assert f"spec.hfNamespace cannot change while the endpoint exists: llama is in {HF_NAMESPACE}" in message
        assert body["status"]["hfNamespace"] == HF_NAMESPACE
        assert cluster.hf.endpoint_raw("genstudio", "llama") is None
        assert cluster.hf.endpoint_raw(HF_NAMESPACE, "llama")["status"]["state"] == "running"
        # Deleting the resource deletes the endpoint where it is, not where the edited spec points.
        cluster.delete("llama")
        cluster.wait(lambda: cluster.get("llama") is None, message="finalizer released")
        cluster.wait(lambda: cluster.hf.endpoint_raw(HF_NAMESPACE, "llama") is None, message="endpoint deleted")
