"""Issue 14 item 4: a token the Hub refuses is one error about the token, not one per manifest."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import endpoint_manifest

GOOD = "hf_fake_good_token_0000"
WRONG = "hf_fake_revoked_token_0000"


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """Only GOOD is accepted: WRONG has the shape of a token, as a revoked or mistyped one does."""
    with Emulator(EmulatorConfig(provision_seconds=0.3, retry_after_seconds=0.0, tokens=(GOOD,))) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HFOPS_API_URL", server.url + "/v2")
        monkeypatch.setenv("HFOPS_POLL_INTERVAL", "0.1")
        yield server


def refused(url: str) -> str:
    return (
        f"Error: the Hugging Face token (HF_TOKEN) was refused: {url}/api/whoami-v2 answered HTTP 401; nothing "
        "was planned or changed\n"
        "Hint: set HF_TOKEN to a valid, unexpired token for this Hub (`hf auth whoami` shows whom a token belongs "
        "to); the manifests were not the problem\n"
    )


def whoami_calls(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r["path"].startswith("/api/whoami"))


def three_endpoints(tmp_path, namespace: str | None = "acme"):
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "---\n".join(
            endpoint_manifest(name, namespace, repository=repo)
            for name, repo in (("a", "gpt2"), ("b", "gpt2"), ("c", "mistralai/Mistral-7B-Instruct-v0.2"))
        )
    )
    return path


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_refused_token_is_said_once_and_blames_no_manifest(strict, run, tmp_path, monkeypatch, command):
    monkeypatch.setenv("HF_TOKEN", WRONG)
    path = three_endpoints(tmp_path)
    result = run(command, str(path), *(["--yes"] if command == "apply" else []))
    assert result.code == 1
    assert result.stderr == refused(strict.url)
    assert str(path) not in result.output and "spec.model" not in result.output
    assert whoami_calls(strict) == 1
    assert not [r for r in strict.requests() if r["method"] in ("POST", "PUT", "DELETE")]
    assert WRONG not in result.output


def test_a_refused_token_without_a_namespace_reuses_the_whoami_it_needs_anyway(strict, run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", WRONG)
    result = run("plan", str(three_endpoints(tmp_path, namespace=None)))
    assert result.code == 1
    assert result.stderr == refused(strict.url)
    assert whoami_calls(strict) == 1
    assert not [r for r in strict.requests() if r["path"].startswith("/api/models")]


def test_a_refused_token_in_json_is_one_error_document(strict, run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", WRONG)
    result = run("plan", str(three_endpoints(tmp_path)), "--format", "json")
    assert result.code == 1
    document = json.loads(result.stdout)
    assert [e["message"] for e in document["errors"]] == [refused(strict.url).splitlines()[0][len("Error: ") :]]


def test_a_good_token_keeps_per_endpoint_errors_for_per_endpoint_causes(strict, run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", GOOD)
    path = tmp_path / "m.yaml"
    path.write_text(
        endpoint_manifest("ok", repository="gpt2")
        + "---\n"
        + endpoint_manifest("missing", repository="nobody/no-such-model")
        + "---\n"
        + endpoint_manifest("gated", repository="meta-llama/Meta-Llama-3-8B-Instruct")
    )
    result = run("plan", str(path))
    assert result.code == 1
    assert result.stderr == (
        "Error: 2 manifest errors:\n"
        f"  {path}:18: spec.model.repository: model nobody/no-such-model not found on the Hub (or not readable "
        "with this token) (check spec.model.repository and that HF_TOKEN can read it)\n"
        f"  {path}:28: spec.model.repository: model meta-llama/Meta-Llama-3-8B-Instruct is gated and this token "
        f"has not been granted access (request access at {strict.url}/meta-llama/Meta-Llama-3-8B-Instruct)\n"
    )
    # Asking whom the token belongs to happens only after something failed, once.
    assert whoami_calls(strict) == 1


def test_a_plan_that_works_asks_no_whoami(strict, run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", GOOD)
    assert run("plan", str(three_endpoints(tmp_path))).code == 0
    assert whoami_calls(strict) == 0
