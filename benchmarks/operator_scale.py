"""Operator scale: N resources in K namespaces, reconciled as the drift timer does.

    .venv/bin/python benchmarks/operator_scale.py [--resources 500] [--namespaces 5] [--workers 8]

Runs the operator's reconcile (hfops.operator.engine.reconcile, the code kopf's handlers call)
over real HTTP against the hfops emulator and kmock (Secrets), with the drift timer's shared
listing: pass 1 creates every endpoint, pass 2 (after they run) writes every credential Secret,
pass 3 is a steady drift interval (nothing to change). For each pass it prints the wall time, the
time per reconcile (median and p95), the list calls per Inference Endpoints namespace, the other
API and Hub calls, and the memory (peak traced Python allocations during the pass, and the
process's resident set at its end).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="hfops-bench-home-"))
TOKEN = "hf_fake_benchmark_token_0000"


def body(name: str, namespace: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "hfops.dev/v1",
        "kind": "Endpoint",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "generation": 1},
        "spec": {
            "hfNamespace": f"hf-{namespace}",
            "model": {"repository": "gpt2"},
            "compute": {
                "vendor": "aws",
                "region": "us-east-1",
                "accelerator": "cpu",
                "instanceType": "intel-icl",
                "instanceSize": "x1",
            },
        },
    }


def rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--namespaces", type=int, default=5)
    parser.add_argument("--workers", type=int, default=8, help="reconciles at once (kopf's thread pool)")
    parser.add_argument("--trace-memory", action="store_true", help="peak traced allocations (slows every pass)")
    args = parser.parse_args()
    trace = args.trace_memory

    import logging

    logging.disable(logging.WARNING)
    from hfops.adapters.settings import settings_from_env
    from hfops.emulator import Emulator, EmulatorConfig
    from hfops.operator.engine import reconcile
    from hfops.operator.interval import IntervalReads
    from tests.kube.kube_emulator import KubeEmulator

    namespaces = [f"team-{i}" for i in range(args.namespaces)]
    bodies = [body(f"ep-{i:04d}", namespaces[i % len(namespaces)], f"uid-{i:04d}") for i in range(args.resources)]
    config = EmulatorConfig(provision_seconds=0.5, retry_after_seconds=0.0)
    with KubeEmulator() as kube, Emulator(config) as hf, tempfile.TemporaryDirectory() as tmp:
        os.environ["KUBECONFIG"] = str(kube.write_kubeconfig(Path(tmp) / "kubeconfig", namespace="default"))
        os.environ.update(
            {"HF_TOKEN": TOKEN, "HF_ENDPOINT": hf.url, "HFOPS_API_URL": hf.url + "/v2", "HFOPS_OWNER": "kubernetes"}
        )
        settings = settings_from_env()
        rows = []
        for label in ("create", "credentials", "steady drift interval"):
            if label == "credentials":
                time.sleep(config.provision_seconds * 3)
            # One drift interval (as build_registry makes them): every namespace listed once, every
            # model resolved once, every Kubernetes namespace's Secrets listed once.
            reads = IntervalReads.for_interval(3600, retry_delay=10)
            hf.clear_requests()
            kube_before = len(kube.requests)
            times: list[float] = []

            def one(item: dict[str, Any], reads: IntervalReads = reads, times: list[float] = times) -> Any:
                started = time.perf_counter()
                observed = reconcile(settings, item, listing=reads.listing, models=reads.models, secrets=reads.secrets)
                times.append(time.perf_counter() - started)
                return observed

            if trace:
                tracemalloc.start()
            wall = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                observed = list(pool.map(one, bodies))
            wall = time.perf_counter() - wall
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
            if trace:
                tracemalloc.stop()
            calls = Counter()
            for request in hf.requests():
                path = request["path"]
                if request["method"] == "GET" and path.startswith("/v2/endpoint/") and path.count("/") == 3:
                    calls["list"] += 1
                elif path.startswith("/v2/"):
                    calls[f"api {request['method']}"] += 1
                else:
                    calls["hub"] += 1
                    if path.startswith("/api/models/"):
                        calls["model"] += 1
            kube_calls = kube.requests[kube_before:]
            calls["secret lists"] = sum(1 for r in kube_calls if str(r.action) == "action.LIST")
            reasons = Counter(o.reason for o in observed)
            rows.append((label, wall, times, calls, len(kube_calls), peak, rss_mib(), reasons))
    print(f"\n{args.resources} resources in {args.namespaces} namespaces, {args.workers} workers\n")
    header = (
        "pass",
        "wall s",
        "ms/reconcile p50",
        "p95",
        "lists/ns",
        "other API",
        "Hub",
        "model resolutions",
        "kube",
        "Secret lists/ns",
        "peak MiB",
        "RSS MiB",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for label, wall, times, calls, kube_calls, peak, rss, _ in rows:
        ordered = sorted(times)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        other = sum(v for k, v in calls.items() if k.startswith("api"))
        print(
            f"| {label} | {wall:.1f} | {statistics.median(times) * 1000:.0f} | {p95 * 1000:.0f} | "
            f"{calls['list'] / args.namespaces:.1f} | {other} | {calls['hub']} | {calls['model']} | {kube_calls} | "
            f"{calls['secret lists'] / args.namespaces:.1f} | "
            f"{peak / 2**20:.1f} | {rss:.0f} |"
        )
    print()
    for label, *_, reasons in rows:
        print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))


if __name__ == "__main__":
    main()
