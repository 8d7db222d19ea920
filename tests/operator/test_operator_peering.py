"""Two replicas, one active: two operators (kopf peering, one name, two priorities) on one cluster.

Both run against the same kmock and hfops emulator, each in its own `KopfRunner` thread. The
lower priority one sees the higher one in the `KopfPeering` object and pauses; only the higher
one reconciles (one create of the endpoint, every handler run in its thread). When it stops, it
leaves the peering and the other resumes and takes over (it corrects drift).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from tests.operator._harness import HF_NAMESPACE, K8S_NAMESPACE, Cluster, resource

PEERING = "hfops"


@pytest.fixture
def extra_resources() -> dict[str, Any]:
    return {
        "kopf.dev/v1/kopfpeerings": {
            "kind": "KopfPeering",
            "singular": "kopfpeering",
            "namespaced": True,
            "verbs": {"create", "delete", "get", "list", "patch", "watch"},
        }
    }


def create_peering(cluster: Cluster) -> None:
    import json
    import urllib.request

    body = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}}
    url = f"{cluster.kube.url}/apis/kopf.dev/v1/namespaces/{K8S_NAMESPACE}/kopfpeerings"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10):
        pass


def runner_thread(runner: Any) -> int:
    thread: threading.Thread = runner._thread
    assert thread.ident is not None
    return thread.ident


def creates(cluster: Cluster) -> int:
    return sum(
        1 for r in cluster.hf.requests() if r["method"] == "POST" and r["path"] == f"/v2/endpoint/{HF_NAMESPACE}"
    )


def test_of_two_replicas_only_the_higher_priority_one_reconciles_and_the_other_takes_over(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import TOKEN, client_for

    caplog.set_level(logging.INFO)
    create_peering(cluster)
    api: Any = client_for(cluster.hf, cluster.monkeypatch)

    def said(text: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if text in r.getMessage()]

    def resumed(runner: Any) -> list[logging.LogRecord]:
        return [r for r in said("Resuming operations after the pause") if r.thread == runner_thread(runner)]

    with cluster.operator(interval=1.5, peering=PEERING, priority=10) as low:
        # kopf starts paused until it has seen the peering; alone there, the low one goes active...
        cluster.wait(lambda: resumed(low), timeout=15, message="the low one active")
        with cluster.operator(interval=1.5, peering=PEERING, priority=100) as high:
            # ...and pauses when the high one joins.
            cluster.wait(lambda: said("Pausing operations in favour of"), timeout=15, message="the low one pausing")
            pausing = said("Pausing operations in favour of")
            assert {r.thread for r in pausing} == {runner_thread(low)}, [r.getMessage() for r in pausing]
            status = (cluster.kube.object("kopf.dev/v1/kopfpeerings", K8S_NAMESPACE, PEERING) or {}).get("status")
            assert status and sorted(p["priority"] for p in status.values()) == [10, 100], status

            cluster.apply(resource("llama"))
            cluster.wait_condition("llama", "Ready", "True", timeout=30)
            # Two timer intervals more: the paused replica has every chance to act, and does not.
            import time

            time.sleep(3.5)
            assert creates(cluster) == 1
            handled = said("apply_spec' succeeded") + said("correct_drift' succeeded")
            assert handled, "no handler ran"
            assert {r.thread for r in handled} == {runner_thread(high)}, {r.thread for r in handled}

        # The high one stopped and left the peering: the low one resumes and keeps the endpoint right.
        cluster.wait(lambda: len(resumed(low)) == 2, timeout=15, message="the low one resuming")
        api.update_inference_endpoint("llama", namespace=HF_NAMESPACE, token=TOKEN, max_replica=4)

        def corrected() -> bool:
            raw = cluster.hf.endpoint_raw(HF_NAMESPACE, "llama") or {}
            return int(raw.get("compute", {}).get("scaling", {}).get("maxReplica", 0)) == 1

        cluster.wait(corrected, timeout=10, message="drift corrected by the replica that took over")
        # The correction was the remaining replica's drift timer (its own thread's record of it).
        cluster.wait(
            lambda: [r for r in said("correct_drift' succeeded") if r.thread == runner_thread(low)],
            timeout=5,
            message="a drift timer run by the remaining replica",
        )
    assert creates(cluster) == 1
