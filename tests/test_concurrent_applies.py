"""Concurrent applies (issue 12 item 4): two `hfops apply` processes against one emulator at once.

The emulator holds every create a moment (a scripted "delay" fault) so that both processes have
planned "create" before either create lands: the race of two pipelines applying at the same time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HFOPS = str(Path(sys.executable).with_name("hfops"))


def manifest(name: str, *, max_replica: int, level: str) -> str:
    return f"""apiVersion: hfops/v1
kind: Endpoint
metadata: {{name: {name}, namespace: acme}}
spec:
  model: {{repository: gpt2}}
  compute: {{vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}}
  scaling: {{maxReplica: {max_replica}}}
  env: {{LOG_LEVEL: {level}}}
"""


def manifest_set(directory: Path, names: list[str], *, max_replica: int, level: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / f"{name}.yaml").write_text(manifest(name, max_replica=max_replica, level=level))
    return directory


def apply_at_once(*runs: tuple[Path, str, Path], prune: bool = False) -> list[tuple[int, dict[str, Any], str]]:
    """Start one `hfops apply` per (manifests, owner, credentials dir) together; (exit, JSON, stderr)."""
    processes = []
    for manifests, owner, creds in runs:
        argv = [HFOPS, "apply", str(manifests), "--yes", "--format", "json", "--owner", owner]
        argv += ["--credentials-dir", str(creds), "--timeout", "60"]
        if prune:
            argv.append("--prune")
        processes.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append((process.returncode, json.loads(out) if out.strip() else {}, err))
    return results


def outcomes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["address"]: o for o in document.get("outcomes", [])}


@pytest.mark.parametrize("owners", [("default", "default"), ("team-a", "team-b")], ids=["same-owner", "two-owners"])
def test_two_applies_of_different_configs_for_the_same_names_do_not_both_report_created(
    emulator, hf_env, tmp_path, owners
):
    names = ["chat-a", "chat-b"]
    one = manifest_set(tmp_path / "one", names, max_replica=1, level="info")
    two = manifest_set(tmp_path / "two", names, max_replica=2, level="debug")
    # Both plans (one list call each) finish long before the first create is carried out.
    emulator.inject_fault("delay", method="POST", path="/v2/endpoint/acme", times=4, ms=2500)

    results = apply_at_once((one, owners[0], tmp_path / "c1"), (two, owners[1], tmp_path / "c2"))

    wanted = {0: (1, "info"), 1: (2, "debug")}
    for name in names:
        address = f"acme/{name}"
        created = [i for i, (_, doc, _) in enumerate(results) if outcomes(doc)[address]["result"] == "created"]
        # Exactly one apply created it; the endpoint carries that apply's config, whole.
        assert len(created) == 1, (address, results)
        raw = emulator.endpoint_raw("acme", name)
        replicas, level = wanted[created[0]]
        assert raw["compute"]["scaling"]["maxReplica"] == replicas
        assert raw["model"]["env"] == {"LOG_LEVEL": level}
        assert f"hfops-owner-{owners[created[0]]}" in raw["tags"]
        # The other one failed on it, said why, naming the endpoint, and exited 1.
        loser_code, loser_doc, _ = results[1 - created[0]]
        lost = outcomes(loser_doc)[address]
        assert lost["result"] == "failed" and not lost["ok"]
        assert f"create {address}: conflict: it was created meanwhile" in lost["message"]
        assert "another configuration" in lost["message"]
        assert loser_code == 1
    assert emulator.pending_faults() == 0


def test_concurrent_pruning_applies_of_two_owners_keep_each_others_endpoints(emulator, hf_env, tmp_path):
    """The issue's done-when: two manifest sets (different names and owners), one namespace, both
    with --prune, applied at the same time, twice: each set's endpoints are intact."""
    a = manifest_set(tmp_path / "a", ["a-one", "a-two"], max_replica=1, level="info")
    b = manifest_set(tmp_path / "b", ["b-one", "b-two"], max_replica=1, level="info")
    everything = ["a-one", "a-two", "b-one", "b-two"]

    first = apply_at_once((a, "team-a", tmp_path / "ca"), (b, "team-b", tmp_path / "cb"), prune=True)
    assert [code for code, _, _ in first] == [0, 0], first
    assert all(emulator.endpoint_raw("acme", name) is not None for name in everything)

    # Both sets change and apply again at once; each plan now sees the other's endpoints.
    manifest_set(a, ["a-one", "a-two"], max_replica=2, level="debug")
    manifest_set(b, ["b-one", "b-two"], max_replica=3, level="warn")
    second = apply_at_once((a, "team-a", tmp_path / "ca"), (b, "team-b", tmp_path / "cb"), prune=True)
    assert [code for code, _, _ in second] == [0, 0], second
    for (_, document, _), mine in zip(second, (["a-one", "a-two"], ["b-one", "b-two"]), strict=True):
        assert sorted(outcomes(document)) == [f"acme/{n}" for n in mine]  # nothing of the other set
        assert document["plan"]["summary"] == {"add": 0, "change": 2, "destroy": 0}
    for name, replicas in (("a-one", 2), ("a-two", 2), ("b-one", 3), ("b-two", 3)):
        raw = emulator.endpoint_raw("acme", name)
        assert raw is not None and raw["compute"]["scaling"]["maxReplica"] == replicas
    assert not [r for r in emulator.requests() if r["method"] == "DELETE"]
