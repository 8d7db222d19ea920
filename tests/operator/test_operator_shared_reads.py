"""One drift interval's reads are shared by every resource: counted in the emulators' request logs.

The reconciles here are the ones kopf's handlers make (`engine.reconcile` with the interval's
`IntervalReads`, as `build_registry` builds them), run over real HTTP against the hfops emulator and
kmock, with the interval's clock in the test's hand so that "one interval" is exact. The last test
runs the operator under kopf and bounds the same counts over wall-clock intervals.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hfops.adapters.settings import Settings, settings_from_env
from hfops.emulator import EmulatorConfig
from hfops.operator.engine import Observation, reconcile
from hfops.operator.interval import IntervalReads
from tests.operator._harness import HF_NAMESPACE, K8S_NAMESPACE, Cluster, resource

INTERVAL = 60.0
RETRY_DELAY = 10.0
NEW_SHA = "1111111111111111111111111111111111111111"
NEWER_SHA = "2222222222222222222222222222222222222222"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Counts:
    endpoint_lists: int
    model_infos: int
    configs: int
    secret_lists: int
    secret_gets: int


class Fleet:
    """N resources reconciled as the handlers do, sharing one `IntervalReads` on a test clock."""

    def __init__(self, cluster: Cluster, settings: Settings) -> None:
        self.cluster = cluster
        self.settings = settings
        self.clock = Clock()
        self.reads = IntervalReads.for_interval(INTERVAL, retry_delay=RETRY_DELAY, clock=self.clock)
        self._hf_seen = 0
        self._kube_seen = 0

    def reconcile(self, body: dict[str, Any], *, settings: Settings | None = None, listed: bool = True) -> Observation:
        """As the drift timer does (`listed`), or as a create handler's retry does (reads afresh)."""
        return reconcile(
            settings or self.settings,
            body,
            listing=self.reads.listing,
            listed=listed,
            models=self.reads.models,
            secrets=self.reads.secrets,
        )

    def all(self, bodies: list[dict[str, Any]], *, listed: bool = True) -> list[Observation]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=4) as pool:  # at once, as kopf's workers run them
            return list(pool.map(lambda b: self.reconcile(b, listed=listed), bodies))

    def counts(self) -> Counts:
        """What was asked since the last call."""
        hf = self.cluster.hf.requests()[self._hf_seen :]
        kube = self.cluster.kube.requests[self._kube_seen :]
        self._hf_seen += len(hf)
        self._kube_seen += len(kube)
        secrets = [r for r in kube if r.resource is not None and r.resource.plural == "secrets"]
        return Counts(
            endpoint_lists=sum(1 for r in hf if r["method"] == "GET" and r["path"] == f"/v2/endpoint/{HF_NAMESPACE}"),
            model_infos=sum(1 for r in hf if r["path"].startswith("/api/models/")),
            configs=sum(1 for r in hf if r["path"].endswith("/config.json")),
            secret_lists=sum(1 for r in secrets if str(r.action) == "action.LIST"),
            secret_gets=sum(1 for r in secrets if str(r.action) == "action.FETCH"),
        )

    def next_interval(self) -> None:
        self.clock.now += INTERVAL


@pytest.fixture
def hf_config() -> EmulatorConfig:
    """Provisioning long enough that a create's answer is never already running on a loaded machine."""
    return EmulatorConfig(provision_seconds=1.5, retry_after_seconds=0.0)


@pytest.fixture
def fleet(cluster: Cluster) -> Iterator[Fleet]:
    yield Fleet(cluster, settings_from_env(namespace=None, owner="kubernetes"))


def body(name: str, **spec: Any) -> dict[str, Any]:
    made = resource(name, **spec)
    made["metadata"].update({"uid": f"uid-{name}", "generation": 1})
    return made


def wait_running(cluster: Cluster, names: list[str]) -> None:
    def running() -> bool:
        return all(
            (cluster.hf.endpoint_raw(HF_NAMESPACE, n) or {}).get("status", {}).get("state") == "running" for n in names
        )

    cluster.wait(running, timeout=20, message=f"{names} running")


def test_n_resources_in_one_namespace_share_one_list_one_resolution_per_model_one_secret_list(
    fleet: Fleet, cluster: Cluster
) -> None:
    cluster.hf.push_commit("gpt2", NEW_SHA, ref="stable")  # a second model key: gpt2 at branch stable
    names = [f"ep-{i}" for i in range(8)]
    bodies = [
        body(n, model={"repository": "gpt2", "revision": "stable"} if i % 2 else {"repository": "gpt2"})
        for i, n in enumerate(names)
    ]
    fleet.counts()

    created = fleet.all(bodies)
    assert {o.reason for o in created} <= {"Pending", "Provisioning"}, [o.message for o in created]
    first = fleet.counts()
    assert first.endpoint_lists == 1
    assert first.model_infos == 2 and first.configs == 2  # gpt2@main, gpt2@stable: one each
    assert first.secret_lists == 1

    wait_running(cluster, names)
    fleet.counts()
    # The create handlers' retries, the same interval: each reads its endpoint afresh (it is
    # running now), nothing else; the credentials are written.
    written = fleet.all(bodies, listed=False)
    assert all(o.ready for o in written), [(o.reason, o.message) for o in written]
    again = fleet.counts()
    assert again.endpoint_lists == len(names), cluster.hf.requests()[-60:]
    assert (again.model_infos, again.configs, again.secret_lists) == (0, 0, 0)
    assert all(cluster.kube.secret_data(K8S_NAMESPACE, n) is not None for n in names)

    fleet.next_interval()
    steady = fleet.all(bodies)
    assert all(o.ready and not o.changes for o in steady), [(o.reason, o.changes) for o in steady]
    counted = fleet.counts()
    assert counted.endpoint_lists == 1
    assert counted.model_infos == 2 and counted.configs == 2
    assert counted.secret_lists == 1
    assert counted.secret_gets >= len(names)  # every resource did read its own Secret: it was reconciled


def test_same_repository_at_two_revisions_is_two_resolutions_each_endpoint_on_its_own(
    fleet: Fleet, cluster: Cluster
) -> None:
    cluster.hf.push_commit("gpt2", NEW_SHA, ref="stable")
    fleet.counts()
    observed = fleet.all(
        [
            body("on-main", model={"repository": "gpt2", "revision": "main"}),
            body("on-stable", model={"repository": "gpt2", "revision": "stable"}),
            body("on-stable-2", model={"repository": "gpt2", "revision": "stable"}),
        ]
    )
    assert {o.reason for o in observed} <= {"Pending", "Provisioning"}, [o.message for o in observed]
    counted = fleet.counts()
    assert counted.model_infos == 2
    revisions = {
        n: cluster.hf.endpoint_raw(HF_NAMESPACE, n)["model"]["revision"]
        for n in ("on-main", "on-stable", "on-stable-2")
    }
    assert revisions == {
        "on-main": "607a30d783dfa663caf39e06633721c8d4cfcd7e",
        "on-stable": NEW_SHA,
        "on-stable-2": NEW_SHA,
    }


def test_a_moved_branch_is_seen_at_the_next_interval(fleet: Fleet, cluster: Cluster) -> None:
    cluster.hf.push_commit("gpt2", NEW_SHA, ref="stable")
    pinned = body("pinned", model={"repository": "gpt2", "revision": "stable"})
    fleet.reconcile(pinned)
    wait_running(cluster, ["pinned"])
    assert fleet.reconcile(pinned, listed=False).ready
    cluster.hf.push_commit("gpt2", NEWER_SHA, ref="stable")
    kept = fleet.reconcile(pinned)  # the same interval: the kept resolution, nothing to change
    assert kept.changes == () and cluster.hf.endpoint_raw(HF_NAMESPACE, "pinned")["model"]["revision"] == NEW_SHA
    fleet.next_interval()
    moved = fleet.reconcile(pinned)
    assert any("updated" in c for c in moved.changes), moved
    assert cluster.hf.endpoint_raw(HF_NAMESPACE, "pinned")["model"]["revision"] == NEWER_SHA


def test_a_refused_model_is_told_to_every_resource_and_recovers_once_it_exists(fleet: Fleet, cluster: Cluster) -> None:
    bodies = [body(f"late-{i}", model={"repository": "gpt2", "revision": "v9"}) for i in range(3)]
    fleet.counts()
    refused = fleet.all(bodies)
    assert [o.reason for o in refused] == ["ModelRefused"] * 3
    assert all("revision 'v9' not found in model gpt2" in o.message for o in refused), refused[0].message
    assert fleet.counts().model_infos == 1
    cluster.hf.push_commit("gpt2", NEW_SHA, ref="v9")  # the revision now exists
    assert fleet.reconcile(bodies[0]).reason == "ModelRefused"  # a refusal is kept a retry delay...
    fleet.clock.now += RETRY_DELAY  # ...not the whole interval
    recovered = fleet.all(bodies)
    assert {o.reason for o in recovered} <= {"Pending", "Provisioning"}, [o.message for o in recovered]
    assert fleet.counts().model_infos == 1
    assert all(cluster.hf.endpoint_raw(HF_NAMESPACE, b["metadata"]["name"]) is not None for b in bodies)


def test_resolutions_are_not_shared_between_tokens(fleet: Fleet, cluster: Cluster) -> None:
    """A resource's own token may see a model the operator's cannot (gated, private): one
    resolution per token, never one token's answer handed to another's resource."""
    from dataclasses import replace

    fleet.counts()
    fleet.reconcile(body("mine"))
    fleet.reconcile(body("theirs"), settings=replace(fleet.settings, token="hf_fake_other_team_token_0000"))
    fleet.reconcile(body("mine-too"))
    assert fleet.counts().model_infos == 2


def test_a_secret_list_that_fails_is_reported_and_listed_again_by_the_next_reconcile(
    fleet: Fleet, cluster: Cluster
) -> None:
    names = ["a", "b", "c"]
    bodies = [body(n) for n in names]
    fleet.all(bodies)
    wait_running(cluster, names)
    assert all(o.ready for o in fleet.all(bodies, listed=False))
    fleet.next_interval()
    fleet.counts()
    cluster.kube.handler.forbidden.add(("list", "secrets"))
    failed = fleet.reconcile(bodies[0])
    assert failed.reason == "CredentialError" and failed.retry, failed
    assert "cannot list" in failed.message and "403" in failed.message
    also = fleet.reconcile(bodies[1])  # the failure is not kept as if it were a listing: asked again
    assert also.reason == "CredentialError"
    assert fleet.counts().secret_lists == 2
    cluster.kube.handler.forbidden.clear()
    back = fleet.all(bodies)
    assert all(o.ready for o in back), [(o.reason, o.message) for o in back]
    assert fleet.counts().secret_lists == 1


def test_a_stale_key_from_a_kept_list_is_not_removed_once_another_endpoint_has_it(
    fleet: Fleet, cluster: Cluster
) -> None:
    """The kept Secret list says `shared` holds a's credential; meanwhile b has been given that key.
    a, moving to another output, must not remove b's credential on the word of the kept list."""
    shared_output = {"outputs": [{"kubernetesSecret": {"name": "shared"}}]}
    a = body("a", genstudio=shared_output)
    fleet.reconcile(a)
    wait_running(cluster, ["a"])
    assert fleet.reconcile(a, listed=False).ready
    fleet.next_interval()
    b = body("b")
    fleet.reconcile(b)  # lists the namespace's Secrets now: `shared` holds a's key
    wait_running(cluster, ["b"])
    # Outside this interval's view: a's key in `shared` is handed to b (as hfops would write it).
    secret = cluster.kube.object("v1/secrets", K8S_NAMESPACE, "shared")
    assert secret is not None
    import json

    annotations = secret["metadata"]["annotations"]
    keys = json.loads(annotations["hfops.dev/keys"])
    keys["credential.json"]["endpoint"] = f"{HF_NAMESPACE}/b"
    secret["metadata"]["annotations"] = {
        **annotations,
        "hfops.dev/keys": json.dumps(keys, sort_keys=True),
        "hfops.dev/endpoint": f"{HF_NAMESPACE}/b",
    }
    cluster.kube.put_object("v1/secrets", K8S_NAMESPACE, "shared", secret)
    moved = fleet.reconcile(body("a", genstudio={"outputs": [{"kubernetesSecret": {"name": "a-own"}}]}))
    assert moved.ready, moved
    assert cluster.kube.secret_data(K8S_NAMESPACE, "shared") is not None  # b's credential stays
    assert cluster.kube.secret_data(K8S_NAMESPACE, "a-own") is not None


def test_under_kopf_each_interval_lists_and_resolves_once_for_all_resources(cluster: Cluster) -> None:
    names = [f"ep-{i}" for i in range(6)]
    interval = 2.0
    with cluster.operator(interval=interval):
        for name in names:
            cluster.apply(resource(name))
        for name in names:
            cluster.wait_condition(name, "Ready", "True", timeout=30)
        hf_before = len(cluster.hf.requests())
        kube_before = len(cluster.kube.requests)
        window = 3 * interval
        time.sleep(window)
        hf = cluster.hf.requests()[hf_before:]
        kube = cluster.kube.requests[kube_before:]
    secrets = [r for r in kube if r.resource is not None and r.resource.plural == "secrets"]
    gets = sum(1 for r in secrets if str(r.action) == "action.FETCH")
    lists = sum(1 for r in hf if r["method"] == "GET" and r["path"] == f"/v2/endpoint/{HF_NAMESPACE}")
    models = sum(1 for r in hf if r["path"].startswith("/api/models/"))
    secret_lists = sum(1 for r in secrets if str(r.action) == "action.LIST")
    # Each read is kept 0.9 of the interval: at most one per 0.9 interval, plus one at the edge;
    # without sharing, each of the ~18 timer reconciles in the window asks for all three.
    bound = int(window / (0.9 * interval)) + 1
    assert gets >= 2 * len(names), f"only {gets} Secret reads: the timers did not run"
    assert lists <= bound, f"{lists} endpoint lists in {window}s"
    assert models <= bound, f"{models} model resolutions in {window}s"
    assert secret_lists <= bound, f"{secret_lists} Secret lists in {window}s"


def test_shared_reads_one_read_per_age_failures_not_kept_aged_keys_forgotten() -> None:
    """The cache itself, on a test clock and threads: one read in flight per key, the others wait."""
    import threading

    from hfops.operator.listing import SharedReads

    clock = Clock()
    reads: SharedReads[str, int] = SharedReads(max_age=10.0, clock=clock, max_age_of=lambda v: 1.0 if v < 0 else 10.0)
    calls: list[str] = []
    gate = threading.Event()

    def slow(key: str) -> int:
        calls.append(key)
        gate.wait(5)
        return len(key)

    threads = [threading.Thread(target=reads.get, args=("abc", slow)) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert calls == ["abc"]  # six askers, one read

    def failing(key: str) -> int:
        calls.append(key)
        raise RuntimeError("the API is down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            reads.get("down", failing)
    assert calls.count("down") == 2  # a failure is not kept

    assert reads.get("neg", lambda k: -1) == -1
    clock.now += 1.0  # a value kept shorter (a refusal) is read again sooner
    assert reads.get("neg", lambda k: -2) == -2
    clock.now += 10.0
    reads.get("other", lambda k: 1)  # the purge runs: "abc" and "neg" aged out and are forgotten
    assert set(reads._values) == {"other"} and set(reads._key_locks) <= {"other", "down"}


def test_a_listing_is_shared_only_between_readers_with_one_token() -> None:
    # A resource with its own token (spec.hfTokenSecretRef) must not be served what the operator's
    # token listed: a token that cannot read the namespace is to be told so (TokenRefused).
    from hfops.operator.listing import SharedListing, scope_of

    calls: list[str] = []

    def lister_for(who: str) -> Any:
        def lister(namespace: str) -> dict[str, Any]:
            calls.append(who)
            if who == "refused":
                raise PermissionError("403")
            return {f"{namespace}/a": "live-a"}

        return lister

    listing = SharedListing(max_age=60.0)
    operator, own = scope_of("http://api", "hf_fake_operator_0000"), scope_of("http://api", "hf_fake_own_0000")
    assert listing.read("acme", lister_for("operator"), scope=operator) == {"acme/a": "live-a"}
    assert listing.read("acme", lister_for("operator"), scope=operator) == {"acme/a": "live-a"}
    with pytest.raises(PermissionError):
        listing.read("acme", lister_for("refused"), scope=own)
    assert calls == ["operator", "refused"]  # one list per token; the refusal not served from the other
    listing.remember("acme", "acme/b", "live-b")  # type: ignore[arg-type]
    assert listing.read("acme", lister_for("operator"), scope=operator) == {"acme/a": "live-a", "acme/b": "live-b"}
