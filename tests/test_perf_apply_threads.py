"""Apply waits without a thread per endpoint: a fixed pool of workers and one poller per namespace.

100 creates in 2 namespaces: a thread per waiting endpoint would be 100 threads at once; the
executor's pool is 64 workers (`ENDPOINT_CALLS`, its health-check and credential slots), plus one
poller per namespace, the plan's early reads (a list per namespace, the models') and a few
helpers, however many endpoints there are. Waiting costs list
calls per namespace, not a read each.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hfops.workflows.executor import ENDPOINT_CALLS
from tests.factories import endpoint_manifest

CREATES = 100
NAMESPACES = ("acme", "beta")


def test_apply_of_many_creates_runs_on_a_bounded_number_of_threads(emulator, hf_env, run, tmp_path: Path) -> None:
    directory = tmp_path / "fleet"
    directory.mkdir()
    for namespace in NAMESPACES:
        docs = [endpoint_manifest(f"{namespace}-{i:03d}", namespace) for i in range(CREATES // len(NAMESPACES))]
        (directory / f"{namespace}.yaml").write_text("---\n".join(docs), encoding="utf-8")
    # hfops' own threads, by name (the in-process emulator serves each connection on a thread too).
    peak = {"apply": 0, "poll": 0, "early": 0, "other": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            names = [t.name for t in threading.enumerate() if t.name.startswith("hfops-")]
            for kind in ("apply", "poll", "early"):
                peak[kind] = max(peak[kind], sum(1 for n in names if n.startswith(f"hfops-{kind}")))
            others = sum(1 for n in names if not n.startswith(("hfops-apply", "hfops-poll", "hfops-early")))
            peak["other"] = max(peak["other"], others)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run("apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "creds"))
    finally:
        done.set()
        sampler.join()

    assert result.code == 0, result.output
    assert len(list((tmp_path / "creds").glob("*.json"))) == CREATES
    assert CREATES > ENDPOINT_CALLS, "the fleet must be larger than the pool to tell the two apart"
    assert 0 < peak["apply"] <= ENDPOINT_CALLS == 64, peak
    assert 0 < peak["poll"] <= len(NAMESPACES), peak
    # The plan's reads, sent as soon as the manifests are valid: a list per namespace, the model's
    # info and config, and the thread that waits on those two; never one per endpoint.
    assert 0 < peak["early"] <= len(NAMESPACES) + 3, peak
    assert peak["other"] <= 4, peak
    reads = [
        r for r in emulator.requests()
        if r["method"] == "GET" and r["path"].startswith("/v2/endpoint/") and r["path"].count("/") == 4
    ]
    assert reads == [], "waiting read endpoints one by one"
