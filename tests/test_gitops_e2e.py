"""CI/CD and GitOps behaviour end to end: saved plans, drift, prune, import/adoption, paused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.factories import create_outside_hfops, endpoint_manifest

TOKEN = "hf_test_deploy_token_0123456789"  # what the hf_env fixture exports as HF_TOKEN


def manifest(name: str, *, namespace: str = "acme", extra: str = "", repository: str = "gpt2") -> str:
    return endpoint_manifest(name, namespace, repository=repository, extra="  env: {LOG_LEVEL: info}\n" + extra)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def writes(emulator) -> list[str]:
    return [
        f"{r['method']} {r['path']}"
        for r in emulator.requests()
        if r["path"].startswith("/v2/") and r["method"] in ("POST", "PUT", "DELETE")
    ]


def test_saved_plan_applies_exactly_and_refuses_when_stale(emulator, api, run, tmp_path):
    manifests = tmp_path / "m"
    write(manifests, "a.yaml", manifest("alpha"))
    plan_file = tmp_path / "plan.json"
    made = run("plan", str(manifests), "--out", str(plan_file), "--credentials-dir", str(tmp_path / "c"))
    assert made.code == 0, made.output
    saved = json.loads(plan_file.read_text())
    assert saved["kind"] == "hfops-plan" and saved["plan"]["summary"]["add"] == 1
    assert TOKEN not in plan_file.read_text()

    applied = run("apply", str(plan_file), "--credentials-dir", str(tmp_path / "c"))
    assert applied.code == 0, applied.output  # no --yes needed: the saved plan was what was reviewed

    # A new plan, then an out-of-band change through huggingface_hub: the plan is stale.
    path = manifests / "a.yaml"
    path.write_text(path.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    assert run("plan", str(manifests), "--out", str(plan_file), "--credentials-dir", str(tmp_path / "c")).code == 0
    api.update_inference_endpoint("alpha", namespace="acme", token=TOKEN, max_replica=3)
    emulator.clear_requests()
    stale = run("apply", str(plan_file), "--credentials-dir", str(tmp_path / "c"))
    assert stale.code == 1
    assert "stale" in stale.stderr and "changed since" in stale.stderr
    assert writes(emulator) == []
    assert emulator.endpoint_raw("acme", "alpha")["model"]["env"] == {"LOG_LEVEL": "info"}

    # Manifests edited after the plan was saved: stale as well.
    assert run("plan", str(manifests), "--out", str(plan_file), "--credentials-dir", str(tmp_path / "c")).code == 0
    path.write_text(path.read_text().replace("LOG_LEVEL: debug", "LOG_LEVEL: warn"))
    stale = run("apply", str(plan_file))
    assert stale.code == 1 and "manifests" in stale.stderr
    assert writes(emulator) == []


def test_drift_is_told_apart_from_manifest_changes(emulator, api, run, tmp_path):
    path = write(tmp_path / "m", "a.yaml", manifest("alpha"))
    assert run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    clean = run("plan", str(path), "--detailed-exitcode", "--format", "json", "--credentials-dir", str(tmp_path / "c"))
    assert clean.code == 0 and json.loads(clean.stdout)["change_kind"] == "none"

    api.update_inference_endpoint("alpha", namespace="acme", token=TOKEN, max_replica=4)
    drift = run("plan", str(path), "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c"))
    assert drift.code == 2
    assert "changed outside hfops (drift)" in drift.stdout
    assert "~ scaling.maxReplica: 4 -> 1" in drift.stdout
    assert "Drift: 1 endpoint(s) changed outside hfops" in drift.stdout
    drift_json = json.loads(run("plan", str(path), "--format", "json", "--credentials-dir", str(tmp_path / "c")).stdout)
    assert drift_json["change_kind"] == "drift" and drift_json["drifted"] == ["acme/alpha"]

    assert run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    path.write_text(path.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    changed = run("plan", str(path), "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c"))
    assert changed.code == 2
    assert "# the manifest changed" in changed.stdout and "Drift:" not in changed.stdout
    assert (
        json.loads(run("plan", str(path), "--format", "json", "--credentials-dir", str(tmp_path / "c")).stdout)[
            "change_kind"
        ]
        == "manifest"
    )


def test_prune_refuses_an_empty_manifest_set(emulator, api, run, tmp_path):
    path = write(tmp_path / "m", "a.yaml", manifest("alpha"))
    assert run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    emulator.clear_requests()
    for command in (("plan",), ("apply", "--yes")):
        refused = run(*command, str(empty), "--prune", "--namespace", "acme")
        assert refused.code == 1
        assert "refusing to prune" in refused.stderr
    assert writes(emulator) == []
    assert emulator.endpoint_raw("acme", "alpha") is not None


def test_prune_deletes_only_owned_unnamed_endpoints(emulator, api, run, tmp_path):
    manifests = tmp_path / "m"
    write(manifests, "a.yaml", manifest("alpha"))
    write(manifests, "b.yaml", manifest("beta"))
    assert run("apply", str(manifests), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    create_outside_hfops(api, "handmade", token=TOKEN, namespace="acme")
    (manifests / "b.yaml").unlink()
    planned = run("plan", str(manifests), "--prune", "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c"))
    assert planned.code == 2
    assert "- acme/beta will be destroyed (no manifest names it any more)" in planned.stdout
    assert "handmade" not in planned.stdout
    without_prune = run("plan", str(manifests), "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c"))
    assert without_prune.code == 0
    assert run("apply", str(manifests), "--prune", "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    assert emulator.endpoint_raw("acme", "beta") is None
    assert emulator.endpoint_raw("acme", "alpha") is not None
    assert emulator.endpoint_raw("acme", "handmade") is not None

    # Explicitly allowed: an empty set prunes what hfops owns in the namespace, and nothing else.
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run("apply", str(empty), "--prune", "--allow-empty-prune", "--namespace", "acme", "--yes")
    assert done.code == 0, done.output
    assert emulator.endpoint_raw("acme", "alpha") is None
    assert emulator.endpoint_raw("acme", "handmade") is not None


def test_import_then_plan_has_no_changes_and_prune_respects_adoption(emulator, api, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default ./credentials lands here
    api.create_inference_endpoint(
        "legacy",
        repository="gpt2",
        framework="pytorch",
        accelerator="cpu",
        instance_size="x2",
        instance_type="intel-icl",
        region="us-east-1",
        vendor="aws",
        namespace="acme",
        token=TOKEN,
        task="text-generation",
        min_replica=0,
        scale_to_zero_timeout=20,
        env={"A": "1"},
        tags=["team-x"],
        custom_image={
            "tgi": {
                "url": "ghcr.io/huggingface/text-generation-inference:3.1.1",
                "maxTotalTokens": 1024,
                "maxInputLength": 1000,
            }
        },
    )
    create_outside_hfops(api, "other", token=TOKEN, namespace="acme")
    before = emulator.endpoint_raw("acme", "legacy")
    out_file = tmp_path / "m" / "legacy.yaml"
    out_file.parent.mkdir()
    imported = run("import", "acme/legacy", "--out", str(out_file))
    assert imported.code == 0, imported.output
    after = emulator.endpoint_raw("acme", "legacy")
    assert "hfops-managed" in after["tags"] and "team-x" in after["tags"]
    assert after["compute"] == before["compute"] and after["model"] == before["model"]

    planned = run("plan", str(out_file.parent), "--detailed-exitcode")
    assert planned.code == 0, planned.output
    assert "No changes." in planned.stdout
    # Owned and named: left alone by prune. The unowned one is never touched.
    pruned = run("plan", str(out_file.parent), "--prune", "--detailed-exitcode")
    assert pruned.code == 0, pruned.output
    assert "other" not in pruned.stdout


def test_import_prints_a_valid_manifest(emulator, api, run):
    create_outside_hfops(
        api,
        "printed",
        token=TOKEN,
        custom_image={"tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6"}},
        namespace="acme",
    )
    result = run("import", "acme/printed", "--no-adopt")
    assert result.code == 0, result.output
    assert "kind: Endpoint" in result.stdout and "name: printed" in result.stdout
    assert "hfops-managed" not in emulator.endpoint_raw("acme", "printed").get("tags", [])


def test_paused_desired_state(emulator, api, run, tmp_path):
    path = write(tmp_path / "m", "a.yaml", manifest("sleepy", extra="  paused: true\n"))
    applied = run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c"))
    assert applied.code == 0, applied.output
    assert emulator.endpoint_raw("acme", "sleepy")["status"]["state"] == "paused"
    assert run("plan", str(path), "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c")).code == 0
    path.write_text(path.read_text().replace("  paused: true\n", ""))
    planned = run("plan", str(path), "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c"))
    assert planned.code == 2 and "is paused and will be resumed" in planned.stdout
    assert run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    assert emulator.endpoint_raw("acme", "sleepy")["status"]["state"] == "running"
    assert (tmp_path / "c" / "sleepy.json").exists()


GPU = "  compute: {vendor: aws, region: us-east-1, accelerator: gpu, instanceType: nvidia-a10g, instanceSize: x4}\n"
CPU = "  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}\n"


def test_unknown_instance_is_refused_with_what_is_available(emulator, hf_env, run, tmp_path):
    path = write(
        tmp_path / "m",
        "a.yaml",
        manifest("alpha").replace("intel-icl, instanceSize: x1", "intel-icl, instanceSize: x16"),
    )
    result = run("plan", str(path))
    assert result.code == 1
    assert f"{path}:9: spec.compute.instanceType" in result.stderr
    assert "not in the hardware catalogue of acme" in result.stderr
    assert "available here: intel-icl x1, intel-icl x2, intel-icl x4, intel-icl x8" in result.stderr
    assert run("apply", str(path), "--yes").code == 1
    assert writes(emulator) == []


def test_quota_is_checked_across_the_fleet(emulator, hf_env, run, tmp_path):
    text = "---\n".join(
        manifest(f"big-{i}").replace(
            CPU,
            GPU + "  scaling: {minReplica: 0, maxReplica: 100}\n",
        )
        for i in range(3)
    )
    path = write(tmp_path / "m", "a.yaml", text)
    result = run("plan", str(path))
    assert result.code == 1
    assert "acme would use 1200 nvidia-a10g accelerators, over its quota of 1000" in result.stderr


def test_plan_shows_hourly_cost_at_max_replicas(emulator, hf_env, run, tmp_path):
    text = manifest("gpu-one").replace(
        CPU,
        GPU + "  scaling: {minReplica: 0, maxReplica: 2}\n",
    )
    path = write(tmp_path / "m", "a.yaml", text)
    doc = json.loads(run("plan", str(path), "--format", "json").stdout)
    (cost,) = doc["cost"]["endpoints"]
    assert cost["max_replicas"] == 2 and cost["hourly_when_idle"] == 0
    assert doc["cost"]["hourly_at_max_replicas"] == pytest.approx(2 * cost["price_per_replica_hour"])
    text_plan = run("plan", str(path)).stdout
    assert "Fleet total: up to $" in text_plan and "scaled-to-zero replicas cost nothing while idle" in text_plan


def test_drift_after_a_manifest_change_is_still_drift(emulator, api, run, tmp_path):
    path = write(tmp_path / "m", "a.yaml", manifest("alpha"))
    assert run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    path.write_text(path.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    assert run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    api.update_inference_endpoint("alpha", namespace="acme", token=TOKEN, env={"LOG_LEVEL": "trace"})
    doc = json.loads(run("plan", str(path), "--format", "json", "--credentials-dir", str(tmp_path / "c")).stdout)
    assert doc["change_kind"] == "drift", doc


def test_a_failed_endpoint_is_replaced_on_the_next_apply(emulator, api, run, tmp_path):
    # TGI's launcher refuses to start with both MAX_INPUT_TOKENS and MAX_INPUT_LENGTH set.
    broken = manifest("flaky").replace(
        "env: {LOG_LEVEL: info}", "env: {MAX_INPUT_TOKENS: '500', MAX_INPUT_LENGTH: '500'}"
    )
    path = write(tmp_path / "m", "a.yaml", broken)
    # The plan predicts it now (issue 12, item 7): refused before anything is created.
    refused = run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c"))
    assert refused.code == 1
    assert f"{path}:10: spec.env.MAX_INPUT_LENGTH: TGI's launcher would refuse to start" in refused.stderr
    assert writes(emulator) == []
    # An endpoint that failed that way anyway (created by an hfops that did not predict it).
    create_outside_hfops(
        api,
        "flaky",
        token=TOKEN,
        env={"MAX_INPUT_TOKENS": "500", "MAX_INPUT_LENGTH": "500"},
        tags=["hfops-managed"],
        custom_image={"tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6"}},
        namespace="acme",
    )
    for _ in range(100):
        if emulator.endpoint_raw("acme", "flaky")["status"]["state"] == "failed":
            break
        time.sleep(0.05)
    status = emulator.endpoint_raw("acme", "flaky")["status"]
    assert status["state"] == "failed" and "Both `max_input_tokens` (500)" in status["message"]

    path.write_text(broken.replace(", MAX_INPUT_LENGTH: '500'", ""))
    planned = run("plan", str(path), "--credentials-dir", str(tmp_path / "c"))
    assert "-/+ acme/flaky must be replaced (deleted, then created)  # it failed to deploy" in planned.stdout
    fixed = run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c"))
    assert fixed.code == 0, fixed.output
    assert json.loads((tmp_path / "c" / "flaky.json").read_text())["context_window"] == 1024


def test_image_limits_above_the_model_context_are_refused_at_plan(emulator, hf_env, run, tmp_path):
    text = manifest("big").replace("  env: {LOG_LEVEL: info}\n", "  image: {maxTotalTokens: 2048}\n")
    path = write(tmp_path / "m", "a.yaml", text)
    result = run("plan", str(path))
    assert result.code == 1
    assert (
        f"{path}:10: spec.image.maxTotalTokens: maxTotalTokens 2048 is larger than the context length" in result.stderr
    )
    assert writes(emulator) == []
