"""Owner identity (issue 12 item 3): several manifest sets share a namespace without touching each other.

Everything through the CLI against the emulator: `--owner ID` / HFOPS_OWNER is recorded in an
`hfops-owner-<ID>` tag; prune and destroy touch only the same owner's endpoints; another owner's
endpoint under a manifest's name is a conflict (never an update or a deletion) with the adopt
command; endpoints an earlier version created (ownership tag, no owner tag) are owner `default`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import HfApi

TOKEN = "hf_test_deploy_token_0123456789"  # what the hf_env fixture exports as HF_TOKEN


def manifest(name: str, *, max_replica: int = 1) -> str:
    return f"""apiVersion: hfops/v1
kind: Endpoint
metadata: {{name: {name}, namespace: acme}}
spec:
  model: {{repository: gpt2}}
  compute: {{vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}}
  scaling: {{maxReplica: {max_replica}}}
"""


def manifest_set(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    for name in names:
        (directory / f"{name}.yaml").write_text(manifest(name))
    return directory


def writes(emulator: object) -> list[tuple[str, str]]:
    return [
        (r["method"], r["path"])
        for r in emulator.requests()  # type: ignore[attr-defined]
        if r["path"].startswith("/v2/endpoint/") and r["method"] in {"POST", "PUT", "DELETE"}
    ]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch) -> None:
    """The default --credentials-dir (`credentials`) lands in the test's directory."""
    monkeypatch.chdir(tmp_path)


def test_apply_records_the_owner_and_prune_leaves_another_owners_endpoints(emulator, hf_env, run, tmp_path):
    a = manifest_set(tmp_path / "a", "a-one", "a-two")
    b = manifest_set(tmp_path / "b", "b-one", "b-two")
    assert run("apply", str(a), "--yes", "--owner", "team-a").code == 0
    assert run("apply", str(b), "--yes", "--owner", "team-b").code == 0
    assert "hfops-owner-team-a" in emulator.endpoint_raw("acme", "a-one")["tags"]
    assert "hfops-owner-team-b" in emulator.endpoint_raw("acme", "b-one")["tags"]

    manifest_set(a, "a-one")  # a-two leaves set A
    planned = run("plan", str(a), "--prune", "--owner", "team-a")
    assert planned.code == 0, planned.output
    assert "- acme/a-two will be destroyed (no manifest names it any more)" in planned.stdout
    assert "b-one" not in planned.stdout and "b-two" not in planned.stdout
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in planned.stdout

    emulator.clear_requests()
    pruned = run("apply", str(a), "--prune", "--yes", "--owner", "team-a")
    assert pruned.code == 0, pruned.output
    assert writes(emulator) == [("DELETE", "/v2/endpoint/acme/a-two")]
    assert emulator.endpoint_raw("acme", "b-one") is not None
    assert emulator.endpoint_raw("acme", "b-two") is not None
    # B, planned by its own owner, is untouched and clean.
    assert run("plan", str(b), "--prune", "--owner", "team-b", "--detailed-exitcode").code == 0


def test_another_owners_endpoint_is_a_conflict_with_the_adopt_command(emulator, hf_env, run, tmp_path, monkeypatch):
    b = manifest_set(tmp_path / "b", "shared")
    assert run("apply", str(b), "--yes", "--owner", "team-b").code == 0
    a = tmp_path / "a"
    a.mkdir()
    (a / "shared.yaml").write_text(manifest("shared", max_replica=3))  # A wants other settings

    emulator.clear_requests()
    planned = run("plan", str(a), "--prune", "--owner", "team-a")
    assert planned.code == 1, planned.output
    assert "! acme/shared: is managed by another hfops manifest set (owner 'team-b', not 'team-a')" in planned.stdout
    assert f"adopt it explicitly: hfops apply --adopt acme/shared --owner team-a {a}" in planned.stdout
    assert "will be updated" not in planned.stdout and "will be destroyed" not in planned.stdout
    assert "1 endpoint(s) are managed by another hfops owner (team-b)" in planned.stdout
    as_json = run("plan", str(a), "--owner", "team-a", "--format", "json")
    assert as_json.code == 1
    (action,) = json.loads(as_json.stdout)["actions"]
    assert (action["action"], action["owner"]) == ("conflict", "team-b")

    # The same through HFOPS_OWNER; apply refuses and changes nothing.
    monkeypatch.setenv("HFOPS_OWNER", "team-a")
    refused = run("apply", str(a), "--yes", "--prune")
    assert refused.code == 1
    assert writes(emulator) == []
    assert emulator.endpoint_raw("acme", "shared")["compute"]["scaling"]["maxReplica"] == 1

    adopted = run("apply", str(a), "--yes", "--adopt", "acme/shared")
    assert adopted.code == 0, adopted.output
    assert "~ acme/shared will be adopted and updated in place" in adopted.stdout
    tags = emulator.endpoint_raw("acme", "shared")["tags"]
    assert "hfops-owner-team-a" in tags and "hfops-owner-team-b" not in tags
    assert run("plan", str(a), "--detailed-exitcode").code == 0
    # Now B sees it as A's.
    monkeypatch.delenv("HFOPS_OWNER")
    assert "owner 'team-a', not 'team-b'" in run("plan", str(b), "--owner", "team-b").stdout


def test_destroy_leaves_another_owners_endpoint_alone(emulator, hf_env, run, tmp_path):
    b = manifest_set(tmp_path / "b", "theirs")
    assert run("apply", str(b), "--yes", "--owner", "team-b").code == 0
    emulator.clear_requests()
    result = run("destroy", str(b), "--yes", "--owner", "team-a")
    assert result.code == 0, result.output
    assert "acme/theirs: managed by hfops owner 'team-b', not 'team-a'; left alone" in result.stderr
    assert "No changes. Nothing to destroy." in result.stdout
    assert writes(emulator) == []
    assert emulator.endpoint_raw("acme", "theirs") is not None
    assert run("destroy", str(b), "--yes", "--owner", "team-b").code == 0
    assert emulator.endpoint_raw("acme", "theirs") is None


def strip_owner_tag(api: HfApi, name: str, emulator) -> None:
    """Make the endpoint look like one an earlier hfops created: ownership tag, no owner tag."""
    tags = [t for t in emulator.endpoint_raw("acme", name)["tags"] if not t.startswith("hfops-owner-")]
    api.update_inference_endpoint(name, namespace="acme", tags=tags, token=TOKEN)
    assert not any(t.startswith("hfops-owner-") for t in emulator.endpoint_raw("acme", name)["tags"])


def test_endpoints_without_an_owner_tag_are_the_default_owners(emulator, hf_env, run, api, tmp_path):
    fleet = manifest_set(tmp_path / "fleet", "old-one", "old-two")
    assert run("apply", str(fleet), "--yes").code == 0
    strip_owner_tag(api, "old-one", emulator)
    strip_owner_tag(api, "old-two", emulator)

    # No spurious change for the default owner, and the tag is not rewritten by a no-op plan.
    emulator.clear_requests()
    clean = run("plan", str(fleet), "--prune", "--detailed-exitcode")
    assert clean.code == 0, clean.output
    assert "No changes." in clean.stdout
    # Another owner sees them as the default owner's.
    other = run("plan", str(fleet), "--owner", "team-a")
    assert other.code == 1 and "owner 'default', not 'team-a'" in other.stdout
    assert writes(emulator) == []

    # The next update records the owner tag; after it, still no change to show.
    (fleet / "old-one.yaml").write_text(manifest("old-one", max_replica=2))
    updated = run("apply", str(fleet), "--yes")
    assert updated.code == 0, updated.output
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in updated.stdout
    assert "hfops-owner-default" in emulator.endpoint_raw("acme", "old-one")["tags"]
    assert run("plan", str(fleet), "--detailed-exitcode").code == 0

    # The default owner prunes its legacy endpoint; another owner's prune would not.
    manifest_set(fleet, "old-one")
    assert run("plan", str(fleet), "--prune", "--owner", "team-a").stdout.count("will be destroyed") == 0
    pruned = run("apply", str(fleet), "--prune", "--yes")
    assert pruned.code == 0, pruned.output
    assert emulator.endpoint_raw("acme", "old-two") is None


@pytest.mark.parametrize("owner", ["has space", "-leading-dash", "x" * 49, "a/b"])
def test_an_owner_that_cannot_be_a_tag_is_a_usage_error(emulator, hf_env, run, tmp_path, owner):
    fleet = manifest_set(tmp_path / "fleet", "one")
    result = run("plan", str(fleet), "--owner", owner)
    assert result.code == 1
    assert "cannot be recorded in a tag" in result.stderr
    assert writes(emulator) == []
