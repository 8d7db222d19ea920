"""A saved plan applies from any working directory, and stays exactly as strict about staleness."""

from __future__ import annotations

import json

from tests.factories import endpoint_manifest


def test_a_saved_plan_applies_from_another_working_directory(emulator, hf_env, run, tmp_path, monkeypatch):
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    (repo / "fleet").mkdir(parents=True)
    elsewhere.mkdir()
    manifest = repo / "fleet" / "a.yaml"
    manifest.write_text(endpoint_manifest("alpha", extra="  env: {LOG_LEVEL: info}\n"))

    monkeypatch.chdir(repo)  # planned from the repository, with a relative path, as users type it
    made = run("plan", "fleet", "--out", "saved.plan")
    assert made.code == 0, made.output
    recorded = json.loads((repo / "saved.plan").read_text())["inputs"]["paths"]
    assert recorded == [str(repo / "fleet")]  # stored absolute: independent of the working directory

    monkeypatch.chdir(elsewhere)  # `cd /tmp && hfops apply /path/saved.plan`
    applied = run("apply", str(repo / "saved.plan"), "--credentials-dir", str(elsewhere / "creds"))
    assert applied.code == 0, applied.output
    assert "no such file or directory" not in applied.output
    assert "acme/alpha: created" in applied.stdout
    assert emulator.endpoint_raw("acme", "alpha")["model"]["env"] == {"LOG_LEVEL": "info"}

    # Still exact: a manifest edited after saving makes the plan stale, wherever it is applied from.
    monkeypatch.chdir(repo)
    assert run("plan", "fleet", "--out", "saved.plan").code == 0
    manifest.write_text(manifest.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    monkeypatch.chdir(elsewhere)
    emulator.clear_requests()
    stale = run("apply", str(repo / "saved.plan"))
    assert stale.code == 1
    assert "saved plan" in stale.stderr and "is stale: the manifests" in stale.stderr
    assert not [r for r in emulator.requests() if r["method"] in ("POST", "PUT", "DELETE")]
