"""Issue 14 item 8: Defaults above the PATHs are never applied, but an error they would remove says so."""

from __future__ import annotations

from pathlib import Path

import pytest

DEFAULTS = """apiVersion: hfops/v1
kind: Defaults
metadata: {name: fleet}
spec:
  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x2}
"""
CHAT = """apiVersion: hfops/v1
kind: Endpoint
metadata: {name: chat, namespace: acme}
spec:
  model: {repository: gpt2}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "fleet" / "platform").mkdir(parents=True)
    (root / "fleet" / "_defaults.yaml").write_text(DEFAULTS)
    (root / "fleet" / "platform" / "chat.yaml").write_text(CHAT)
    monkeypatch.chdir(root)
    return root


HINT = (
    "not an error with the Defaults in fleet/_defaults.yaml, which this run did not load: Defaults apply only "
    "to the PATHs given; pass it too, or give fleet as the PATH"
)


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_subfolder_says_the_defaults_above_it_were_not_loaded(emulator, hf_env, run, repo, command):
    result = run(command, "fleet/platform")
    assert result.code == 1
    assert result.stderr == (
        "Error: 1 manifest error:\n"
        f"  fleet/platform/chat.yaml:4: spec.compute: missing required field 'compute' ({HINT})\n"
    )


def test_what_the_hint_says_works_both_ways(emulator, hf_env, run, repo):
    assert run("plan", "fleet/_defaults.yaml", "fleet/platform").code == 0
    assert run("plan", "fleet").code == 0


def test_an_error_the_defaults_would_not_fix_gets_no_hint(run, repo):
    (repo / "fleet" / "platform" / "chat.yaml").write_text(CHAT.replace("name: chat", "name: Chat"))
    result = run("validate", "fleet/platform")
    assert result.code == 1
    assert "spec.compute: missing required field 'compute' (not an error with the Defaults" in result.stderr
    assert "metadata.name: invalid value 'Chat'" in result.stderr
    name_line = next(line for line in result.stderr.splitlines() if "metadata.name" in line)
    assert "Defaults" not in name_line


def test_defaults_above_the_repository_root_are_not_looked_for(run, tmp_path, monkeypatch):
    (tmp_path / "_defaults.yaml").write_text(DEFAULTS)  # outside the repository
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "team").mkdir()
    (root / "team" / "chat.yaml").write_text(CHAT)
    monkeypatch.chdir(root)
    result = run("validate", "team")
    assert result.code == 1
    assert (
        result.stderr
        == "Error: 1 manifest error:\n  team/chat.yaml:4: spec.compute: missing required field 'compute'\n"
    )


def test_the_result_does_not_depend_on_the_working_directory(emulator, hf_env, run, repo, monkeypatch, tmp_path):
    # The same PATH from elsewhere reads the same files (and the same hint, with the paths as shown).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run("plan", str(repo / "fleet" / "platform"))
    assert result.code == 1
    assert (
        "spec.compute: missing required field 'compute' (not an error with the Defaults in ../repo/fleet/_defaults.yaml"
        in (result.stderr)
    )
    assert run("plan", str(repo / "fleet")).code == 0


def test_the_repository_root_as_path_looks_no_higher(run, tmp_path, monkeypatch):
    (tmp_path / "_defaults.yaml").write_text(DEFAULTS)  # beside the checkout, not in it
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "chat.yaml").write_text(CHAT)
    monkeypatch.chdir(tmp_path)
    result = run("validate", "repo")
    assert result.code == 1
    assert (
        result.stderr
        == "Error: 1 manifest error:\n  repo/chat.yaml:4: spec.compute: missing required field 'compute'\n"
    )
