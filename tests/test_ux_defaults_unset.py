"""Issue 14 item 1: `null` in an endpoint unsets what its Defaults supply; the scale-to-zero rule
blames the line that made the endpoint always on, not the Defaults file."""

from __future__ import annotations

import json
from pathlib import Path

DEFAULTS = """apiVersion: hfops/v1
kind: Defaults
metadata: {name: fleet}
spec:
  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x2}
  scaling: {minReplica: 0, maxReplica: 2, scaleToZeroTimeout: 30}
  env: {LOG_LEVEL: info, SHARED: "1"}
"""


def endpoint(name: str, spec: str) -> str:
    return f"apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {{name: {name}, namespace: acme}}\nspec:\n" + spec


def fleet(tmp_path: Path, **endpoints: str) -> Path:
    (tmp_path / "_defaults.yaml").write_text(DEFAULTS)
    for name, spec in endpoints.items():
        (tmp_path / f"{name}.yaml").write_text(endpoint(name, spec))
    return tmp_path


def test_an_always_on_endpoint_in_a_scale_to_zero_fleet_is_told_at_its_own_line_how_to_unset(run, tmp_path):
    path = fleet(tmp_path, chat="  model: {repository: gpt2}\n  scaling: {minReplica: 1}\n")
    result = run("validate", str(path))
    assert result.code == 1
    assert result.stderr == (
        "Error: 1 manifest error:\n"
        f"  {path}/chat.yaml:6: spec.scaling.minReplica: minReplica 1 keeps the endpoint always on, but it "
        f"inherits scaleToZeroTimeout 30 from {path}/_defaults.yaml:6 (write scaleToZeroTimeout: null beside "
        "this minReplica to not inherit it, or set minReplica: 0 to scale to zero when idle)\n"
    )


def test_null_unsets_an_inherited_field_and_the_plan_sends_none(emulator, hf_env, run, tmp_path):
    path = fleet(
        tmp_path,
        chat="  model: {repository: gpt2}\n  scaling: {minReplica: 1, scaleToZeroTimeout: null}\n"
        "  env: {SHARED: null, OWN: x}\n",
    )
    assert run("validate", str(path)).code == 0
    result = run("plan", str(path), "--format", "json")
    assert result.code == 0, result.output
    fields = {
        change["path"]: change["new"]
        for action in json.loads(result.stdout)["actions"]
        for change in action["fields"]
    }
    assert fields["scaling.minReplica"] == 1 and fields["scaling.maxReplica"] == 2  # the rest still inherited
    assert "scaling.scaleToZeroTimeout" not in fields
    assert fields["env.LOG_LEVEL"] == "info" and fields["env.OWN"] == "x" and "env.SHARED" not in fields
    applied = run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "creds"))
    assert applied.code == 0, applied.output
    raw = emulator.endpoint_raw("acme", "chat")
    assert raw["compute"]["scaling"]["minReplica"] == 1
    assert raw["compute"]["scaling"].get("scaleToZeroTimeout") in (None, 0)
    assert raw["model"]["env"] == {"LOG_LEVEL": "info", "OWN": "x"}


def test_a_namespace_defaults_null_unsets_the_global_default(run, tmp_path):
    path = fleet(tmp_path)
    (tmp_path / "acme.yaml").write_text(
        "apiVersion: hfops/v1\nkind: Defaults\nmetadata: {name: acme, namespace: acme}\n"
        "spec:\n  scaling: {minReplica: 1, scaleToZeroTimeout: null}\n---\n"
        + endpoint("chat", "  model: {repository: gpt2}\n")
    )
    assert run("validate", str(path)).code == 0, run("validate", str(path)).output


def test_a_timeout_written_in_the_endpoint_with_an_inherited_min_replica_is_blamed_on_the_timeout(run, tmp_path):
    (tmp_path / "_defaults.yaml").write_text(
        DEFAULTS.replace("minReplica: 0", "minReplica: 1").replace(", scaleToZeroTimeout: 30", "")
    )
    (tmp_path / "chat.yaml").write_text(
        endpoint("chat", "  model: {repository: gpt2}\n  scaling: {scaleToZeroTimeout: 5}\n")
    )
    result = run("validate", str(tmp_path))
    assert result.code == 1
    assert (
        f"{tmp_path}/chat.yaml:6: spec.scaling.scaleToZeroTimeout: scaleToZeroTimeout needs minReplica 0 (it is 1)"
        in (result.stderr)
    )


def test_both_in_the_same_defaults_document_is_blamed_on_the_defaults(run, tmp_path):
    (tmp_path / "_defaults.yaml").write_text(DEFAULTS.replace("minReplica: 0", "minReplica: 1"))
    (tmp_path / "chat.yaml").write_text(endpoint("chat", "  model: {repository: gpt2}\n"))
    result = run("validate", str(tmp_path))
    assert result.code == 1
    assert f"{tmp_path}/_defaults.yaml:6: spec.scaling.scaleToZeroTimeout: scaleToZeroTimeout needs minReplica 0" in (
        result.stderr
    )
