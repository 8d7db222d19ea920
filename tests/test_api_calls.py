"""API-call budgets, counted through the emulator's request log (no timing anywhere).

The floor issue 7 asks for: one list call per namespace to read state, each model resolved once
per run however many endpoints use it, no whoami when the namespace is known, one write per
change. benchmarks/bench.py measures the same things at scale, with wall times; these tests keep
the counts honest on every run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.factories import endpoint_manifest

MODELS = ("gpt2", "meta-llama/Llama-2-7b-chat-hf", "mistralai/Mistral-7B-Instruct-v0.2")


def endpoint_doc(name: str, namespace: str | None, repository: str = "gpt2") -> str:
    return endpoint_manifest(name, namespace, repository=repository)


def write_fleet(directory: Path, per_namespace: dict[str | None, list[tuple[str, str]]]) -> Path:
    """One file per namespace, several endpoints per file (`---` between them)."""
    directory.mkdir(parents=True, exist_ok=True)
    for index, (namespace, endpoints) in enumerate(per_namespace.items()):
        text = "---\n".join(endpoint_doc(name, namespace, repo) for name, repo in endpoints)
        (directory / f"{index:02d}-{namespace or 'default'}.yaml").write_text(text, encoding="utf-8")
    return directory


def fleet(
    namespaces: int, per_namespace: int, models: tuple[str, ...] = ("gpt2",)
) -> dict[str | None, list[tuple[str, str]]]:
    # Names are unique across namespaces: each endpoint's credential file is named after it.
    return {
        f"team-{n}": [(f"ep-{n}-{i}", models[i % len(models)]) for i in range(per_namespace)] for n in range(namespaces)
    }


def api(emulator, method: str | None = None) -> list[dict]:
    return [
        r for r in emulator.requests() if r["path"].startswith("/v2/") and (method is None or r["method"] == method)
    ]


def segments(request: dict) -> list[str]:
    return request["path"].strip("/").split("/")  # ["v2", "endpoint", ns, name?, action?]


def list_calls(emulator) -> Counter[str]:
    """GET /v2/endpoint/{ns}, counted per namespace."""
    return Counter(
        segments(r)[2] for r in api(emulator, "GET") if len(segments(r)) == 3 and segments(r)[1] == "endpoint"
    )


def per_endpoint_reads(emulator) -> list[str]:
    """GET /v2/endpoint/{ns}/{name}: what a loop over endpoints would do."""
    return [r["path"] for r in api(emulator, "GET") if len(segments(r)) == 4 and segments(r)[1] == "endpoint"]


def model_info_calls(emulator) -> Counter[str]:
    """GET /api/models/{repo}[/revision/{rev}], counted per repository."""
    counts: Counter[str] = Counter()
    for r in emulator.requests():
        if r["method"] == "GET" and r["path"].startswith("/api/models/"):
            counts[r["path"][len("/api/models/") :].split("/revision/")[0]] += 1
    return counts


def whoami_calls(emulator) -> int:
    return sum(1 for r in emulator.requests() if r["path"].startswith("/api/whoami"))


@pytest.fixture
def existing_fleet(emulator, hf_env, run, tmp_path, monkeypatch):
    """12 endpoints in 3 namespaces, created by hfops with their credentials (in ./credentials, the
    default, so later plans see them); the request log then cleared."""
    monkeypatch.chdir(tmp_path)
    directory = write_fleet(tmp_path / "fleet", fleet(3, 4))
    created = run("apply", str(directory), "--yes")
    assert created.code == 0, created.output
    emulator.clear_requests()
    return directory


def test_noop_plan_lists_each_namespace_once_and_reads_no_endpoint(emulator, run, existing_fleet):
    result = run("plan", str(existing_fleet), "--detailed-exitcode")
    assert result.code == 0, result.output  # no changes
    assert list_calls(emulator) == {"team-0": 1, "team-1": 1, "team-2": 1}
    assert per_endpoint_reads(emulator) == []
    assert api(emulator, "POST") == api(emulator, "PUT") == api(emulator, "DELETE") == []


def test_noop_plan_makes_one_endpoint_api_call_per_namespace_in_all(emulator, run, existing_fleet):
    result = run("plan", str(existing_fleet), "--detailed-exitcode")
    assert result.code == 0, result.output
    assert sorted(r["path"] for r in api(emulator)) == [
        "/v2/endpoint/team-0",
        "/v2/endpoint/team-1",
        "/v2/endpoint/team-2",
    ]


def test_plan_of_creates_lists_each_namespace_once(emulator, hf_env, run, tmp_path):
    directory = write_fleet(tmp_path / "fleet", fleet(2, 5))
    result = run("plan", str(directory), "--detailed-exitcode")
    assert result.code == 2, result.output  # ten to add
    assert list_calls(emulator) == {"team-0": 1, "team-1": 1}
    assert per_endpoint_reads(emulator) == []


def test_each_model_is_resolved_once_however_many_endpoints_use_it(emulator, hf_env, run, tmp_path):
    # 12 endpoints over 2 namespaces sharing 3 models (4 endpoints each).
    directory = write_fleet(tmp_path / "fleet", fleet(2, 6, MODELS))
    result = run("plan", str(directory))
    assert result.code == 0, result.output
    assert model_info_calls(emulator) == {model: 1 for model in MODELS}
    config_reads = Counter(
        (r["method"], r["path"].split("/resolve/")[0].lstrip("/"))
        for r in emulator.requests()
        if r["path"].endswith("/config.json")
    )
    assert all(count == 1 for count in config_reads.values()), config_reads
    assert {repo for _method, repo in config_reads} <= set(MODELS)


def test_no_whoami_when_the_namespace_is_known(emulator, hf_env, run, tmp_path):
    named = write_fleet(tmp_path / "named", fleet(2, 2))
    assert run("plan", str(named)).code == 0
    unnamed = write_fleet(tmp_path / "unnamed", {None: [("ep-a", "gpt2"), ("ep-b", "gpt2")]})
    assert run("plan", str(unnamed), "--namespace", "team-x").code == 0
    assert whoami_calls(emulator) == 0
    # The counter does see whoami: without any namespace, the token's user is asked for, once.
    assert run("plan", str(unnamed)).code == 0
    assert whoami_calls(emulator) == 1


def test_apply_of_n_creates_makes_n_posts_and_waits_without_per_endpoint_reads(emulator, hf_env, run, tmp_path):
    directory = write_fleet(tmp_path / "fleet", fleet(2, 3))
    result = run("apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "creds"))
    assert result.code == 0, result.output
    posts = api(emulator, "POST")
    assert len(posts) == 6
    assert Counter(r["path"] for r in posts) == {"/v2/endpoint/team-0": 3, "/v2/endpoint/team-1": 3}
    assert api(emulator, "PUT") == api(emulator, "DELETE") == []
    # Waiting reads each namespace's list, shared by its waiters, not one GET per endpoint: a
    # per-endpoint poller makes at least one GET for each of the 6 (each starts out pending).
    # (Fewer than 6, not 0, leaves room for a read-back after a lost response or a stale list.)
    assert len(per_endpoint_reads(emulator)) < 6
    assert len(list(tmp_path.joinpath("creds").glob("*.json"))) == 6


def test_noop_apply_writes_nothing(emulator, run, existing_fleet, tmp_path):
    result = run("apply", str(existing_fleet), "--yes", "--no-wait", "--credentials-dir", str(tmp_path / "creds"))
    assert result.code == 0, result.output
    assert api(emulator, "POST") == api(emulator, "PUT") == api(emulator, "DELETE") == []
    assert set(list_calls(emulator)) == {"team-0", "team-1", "team-2"}
