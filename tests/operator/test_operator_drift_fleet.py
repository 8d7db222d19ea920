"""Drift with many resources: 20 resources, several endpoints changed outside at once, all put back
within one interval (plus a little slack), on one list of the namespace per interval."""

from __future__ import annotations

import time
from typing import Any

from tests.operator._harness import HF_NAMESPACE, Cluster, resource

INTERVAL = 3.0
SLACK = 2.0  # 20 reconciles on a loaded 2-core machine, after the timer fires


def max_replica(cluster: Cluster, name: str) -> int:
    raw = cluster.hf.endpoint_raw(HF_NAMESPACE, name) or {}
    return int(raw.get("compute", {}).get("scaling", {}).get("maxReplica", 0))


def test_twenty_resources_several_changed_outside_all_corrected_within_one_interval(cluster: Cluster) -> None:
    from tests.conftest import TOKEN, client_for

    api: Any = client_for(cluster.hf, cluster.monkeypatch)
    names = [f"ep-{i:02d}" for i in range(20)]
    changed = names[::4]  # 5 of them
    with cluster.operator(interval=INTERVAL):
        for name in names:
            cluster.apply(resource(name))
        for name in names:
            cluster.wait_condition(name, "Ready", "True", timeout=60)
        seen = len(cluster.hf.requests())
        kube_seen = len(cluster.kube.requests)
        changing = time.monotonic()
        for name in changed:
            api.update_inference_endpoint(name, namespace=HF_NAMESPACE, token=TOKEN, max_replica=4)
        assert all(max_replica(cluster, n) == 4 for n in changed)
        # Timed from the last outside change: the five changes themselves are the test's own calls
        # (seconds on a loaded machine), not the operator's time to correct them.
        started = time.monotonic()
        changes_took = started - changing
        cluster.wait(
            lambda: all(max_replica(cluster, n) == 1 for n in changed),
            timeout=INTERVAL + SLACK + 5,
            message="every changed endpoint put back",
        )
        took = time.monotonic() - started
        requests = cluster.hf.requests()[seen:]
        kube = cluster.kube.requests[kube_seen:]
    assert took <= INTERVAL + SLACK, (
        f"corrected {took:.1f}s after the last change, interval {INTERVAL}s (the changes took {changes_took:.1f}s)"
    )
    assert all(max_replica(cluster, n) == 1 for n in names)
    lists = [r for r in requests if r["method"] == "GET" and r["path"] == f"/v2/endpoint/{HF_NAMESPACE}"]
    # One kept listing serves every timer of the interval; a window longer than one kept listing
    # (0.9 interval) may hold a second one, no more. Without sharing: 20 per interval.
    window = changes_took + took  # the requests counted are those since the first change
    bound = int(window / (0.9 * INTERVAL)) + 1
    assert len(lists) <= bound, f"{len(lists)} lists of {HF_NAMESPACE} in {window:.1f}s"
    assert not [r for r in requests if r["method"] == "GET" and r["path"].startswith(f"/v2/endpoint/{HF_NAMESPACE}/")]
    updates = [r for r in requests if r["method"] == "PUT" and r["path"].startswith(f"/v2/endpoint/{HF_NAMESPACE}/")]
    # The outside change and its correction, for the changed ones only: nothing else was touched.
    assert sorted(r["path"].rsplit("/", 1)[1] for r in updates) == sorted(changed * 2)
    secret_reads = [r for r in kube if r.resource is not None and r.resource.plural == "secrets"]
    assert secret_reads, "no resource was reconciled in the window"
