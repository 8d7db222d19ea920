"""`--format json` prints exactly one JSON document on failure too, with the errors in it.

Every command that has `--format json`, failing for each kind of cause: a manifest error (located
by file, line and field), a usage error, an environment error and a remote error. The exit code
stays what it is in text mode; the `Error:` lines stay on stderr.
"""

from __future__ import annotations

import json

import pytest

from tests.factories import endpoint_manifest

COMMANDS = ("plan", "apply", "status", "verify", "credentials", "destroy")


def one_document(stdout: str) -> dict:
    document = json.loads(stdout)  # raises if stdout is empty, or holds more than one document
    assert isinstance(document, dict)
    assert document["format_version"] == "1"
    return document


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "m" / "bad.yaml"
    path.parent.mkdir()
    path.write_text(endpoint_manifest("alpha", extra="  scaling: {minReplica: 3, maxReplica: 1}\n"))
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_a_manifest_error_is_one_json_document_with_file_line_field(command, hf_env, run, broken):
    result = run(command, str(broken.parent), "--format", "json")
    assert result.code == 1
    document = one_document(result.stdout)
    assert document["ok"] is False and document["command"] == command and document["exit_code"] == 1
    [error] = document["errors"]
    assert error["kind"] == "manifest"
    assert error["file"] == str(broken) and error["line"] == 10 and error["field"].startswith("spec.scaling")
    assert "Error:" in result.stderr  # the human line stays on stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_a_usage_error_is_one_json_document(command, run):
    result = run(command, "--format", "json")  # no PATH
    assert result.code == 1
    [error] = one_document(result.stdout)["errors"]
    assert error["kind"] == "usage" and "Missing argument" in error["message"]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_environment_error_is_one_json_document(command, run, tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text(endpoint_manifest("alpha"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = run(command, str(tmp_path / "a.yaml"), "--format", "json")
    assert result.code == 1
    [error] = one_document(result.stdout)["errors"]
    assert error["kind"] == "usage" and "HF_TOKEN" in error["message"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_remote_error_is_one_json_document_saying_what_the_url_should_be(
    command, emulator, hf_env, run, tmp_path, monkeypatch
):
    (tmp_path / "a.yaml").write_text(endpoint_manifest("alpha"))
    monkeypatch.setenv("HFOPS_API_URL", emulator.url)  # without /v2
    result = run(command, str(tmp_path / "a.yaml"), "--format", "json", "--yes" if command == "apply" else "--")
    assert result.code == 1, result.output
    [error] = one_document(result.stdout)["errors"]
    assert error["kind"] == "remote" and error["status"] == 404 and error["request_id"]
    assert "ending in /v2" in error["hint"] and f"did you mean {emulator.url}/v2?" in error["hint"]
    assert "Not Found" in result.stderr and "ending in /v2" in result.stderr


def test_apply_refused_after_planning_prints_the_refusal_with_the_plan(emulator, api, run, tmp_path):
    (tmp_path / "a.yaml").write_text(endpoint_manifest("alpha"))
    api.create_inference_endpoint(  # made outside hfops: not managed, so apply must refuse
        "alpha",
        namespace="acme",
        repository="gpt2",
        framework="pytorch",
        accelerator="cpu",
        instance_size="x1",
        instance_type="intel-icl",
        region="us-east-1",
        vendor="aws",
        task="text-generation",
    )
    result = run("apply", str(tmp_path / "a.yaml"), "--format", "json", "--yes")
    assert result.code == 1
    document = one_document(result.stdout)
    assert document["ok"] is False and document["command"] == "apply"
    assert "not managed by hfops" in document["errors"][0]["message"]
    assert [a["action"] for a in document["plan"]["actions"]] == ["conflict"]


def test_validate_keeps_its_own_error_document(run, broken):
    result = run("validate", str(broken.parent), "--format", "json")
    assert result.code == 1
    document = one_document(result.stdout)
    assert document["valid"] is False and document["errors"][0]["line"] == 10


def test_text_mode_prints_no_json(run, broken):
    result = run("plan", str(broken.parent))
    assert result.code == 1 and result.stdout == ""
