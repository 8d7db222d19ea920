"""Issue 14 item 5: one message per cause, naming the endpoints it affects; plan and apply agree."""

from __future__ import annotations

from pathlib import Path

import pytest

DEFAULTS = """apiVersion: hfops/v1
kind: Defaults
metadata: {name: fleet}
spec:
  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x2}
  secrets:
    SHARED_SECRET: {fromEnv: UX_SHARED_SECRET}
  genstudio:
    apiKey: {fromEnv: UX_GENSTUDIO_KEY}
"""


def endpoint(name: str, extra: str = "") -> str:
    return (
        f"apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {{name: {name}, namespace: acme}}\n"
        f"spec:\n  model: {{repository: gpt2}}\n{extra}"
    )


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("UX_SHARED_SECRET", "UX_GENSTUDIO_KEY", "UX_OWN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "fleet"
    directory.mkdir()
    (directory / "_defaults.yaml").write_text(DEFAULTS)
    (directory / "endpoints.yaml").write_text("---\n".join(endpoint(n) for n in ("a", "b", "c", "d", "e")))
    (directory / "own.yaml").write_text(endpoint("f", "  secrets: {OWN: {fromEnv: UX_OWN_SECRET}}\n"))
    return directory


def expected(directory: Path, *, secrets: bool) -> str:
    lines = [
        f"  {directory}/_defaults.yaml:7: spec.secrets.SHARED_SECRET: environment variable UX_SHARED_SECRET is not "
        "set (used by acme/a, acme/b, +4 more)",
        f"  {directory}/_defaults.yaml:9: spec.genstudio.apiKey: environment variable UX_GENSTUDIO_KEY is not set "
        "(needed for the GenStudio api_key; used by acme/a, acme/b, +4 more)",
        f"  {directory}/own.yaml:6: spec.secrets.OWN: environment variable UX_OWN_SECRET is not set",
    ]
    if not secrets:
        lines = [lines[1]]
    noun = "error" if len(lines) == 1 else "errors"
    return f"Error: {len(lines)} manifest {noun}:\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_variable_missing_in_a_defaults_file_is_one_line_naming_who_uses_it(emulator, hf_env, run, fleet, command):
    args = (command, str(fleet)) + (("--yes",) if command == "apply" else ())
    result = run(*args)
    assert result.code == 1
    assert result.stderr == expected(fleet, secrets=True)
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_missing_genstudio_key_is_an_error_in_plan_as_in_apply(emulator, hf_env, run, fleet, command, monkeypatch):
    monkeypatch.setenv("UX_SHARED_SECRET", "fake-shared-secret-0000")
    monkeypatch.setenv("UX_OWN_SECRET", "fake-own-secret-0000")
    args = (command, str(fleet)) + (("--yes",) if command == "apply" else ())
    result = run(*args)
    assert result.code == 1
    assert result.stderr == expected(fleet, secrets=False)  # no Warning: lines, no repetition
    assert not [r for r in emulator.requests() if r["method"] == "POST"]


def test_two_endpoints_sharing_a_line_are_both_named(emulator, hf_env, run, tmp_path, monkeypatch):
    monkeypatch.delenv("UX_SHARED_SECRET", raising=False)
    (tmp_path / "_defaults.yaml").write_text(
        DEFAULTS.replace("  genstudio:\n    apiKey: {fromEnv: UX_GENSTUDIO_KEY}\n", "")
    )
    (tmp_path / "e.yaml").write_text(endpoint("a") + "---\n" + endpoint("b"))
    result = run("plan", str(tmp_path))
    assert result.code == 1
    assert "UX_SHARED_SECRET is not set (used by acme/a, acme/b)\n" in result.stderr
