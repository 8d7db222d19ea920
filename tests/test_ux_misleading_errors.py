"""Errors that say what is wrong: a paused endpoint, a GenStudio key the endpoint rejects, a wrong API URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import GENSTUDIO_KEY_FROM_ENV, endpoint_manifest

TOKEN = "hf_test_deploy_token_0123456789"
GOOD_KEY = "hf_genstudio_good_key_0123456789"
WRONG_KEY = "hf_genstudio_wrong_key_0123456789"


def test_verify_on_an_endpoint_paused_outside_hfops_says_paused_and_how_to_resume(emulator, api, run, tmp_path):
    (tmp_path / "a.yaml").write_text(endpoint_manifest("alpha"))
    creds = str(tmp_path / "c")
    assert run("apply", str(tmp_path / "a.yaml"), "--yes", "--credentials-dir", creds).code == 0
    api.pause_inference_endpoint("alpha", namespace="acme", token=TOKEN)  # someone paused it in the UI

    result = run("verify", str(tmp_path / "a.yaml"), "--credentials-dir", creds)
    assert result.code == 1
    assert result.stdout == (
        "acme/alpha: FAILED — paused outside hfops (its manifest does not say paused); run hfops apply to resume it\n"
    )
    # ... and what it says works: apply resumes it, verify passes.
    assert run("apply", str(tmp_path / "a.yaml"), "--yes", "--credentials-dir", creds).code == 0
    assert run("verify", str(tmp_path / "a.yaml"), "--credentials-dir", creds).code == 0


def test_verify_on_an_endpoint_paused_by_its_manifest_says_which_line_to_remove(emulator, hf_env, run, tmp_path):
    (tmp_path / "a.yaml").write_text(endpoint_manifest("alpha", extra="  paused: true\n"))
    creds = str(tmp_path / "c")
    assert run("apply", str(tmp_path / "a.yaml"), "--yes", "--credentials-dir", creds).code == 0
    result = run("verify", str(tmp_path / "a.yaml"), "--credentials-dir", creds)
    assert result.code == 1
    assert "paused, as its manifest says (spec.paused: true); to resume it, remove that line" in result.stdout


@pytest.fixture
def strict_emulator() -> Iterator[str]:
    """`hfops emulator --token ...`: only the deploy token and the good GenStudio key are accepted."""
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "hfops"),
            "emulator",
            "--provision-seconds",
            "0.3",
            "--token",
            TOKEN,
            "--token",
            GOOD_KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_apply_warns_in_the_summary_when_the_endpoint_rejects_the_genstudio_key(
    strict_emulator, run, tmp_path, monkeypatch
):
    for key, value in {
        "HF_TOKEN": TOKEN,
        "HF_ENDPOINT": strict_emulator,
        "HFOPS_API_URL": strict_emulator + "/v2",
        "HFOPS_POLL_INTERVAL": "0.1",
        "GENSTUDIO_API_KEY": WRONG_KEY,
    }.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "a.yaml").write_text(endpoint_manifest("alpha", extra=GENSTUDIO_KEY_FROM_ENV))
    creds = str(tmp_path / "c")

    result = run("apply", str(tmp_path / "a.yaml"), "--yes", "--credentials-dir", creds)
    assert result.code == 0, result.output  # the endpoint is there; the warning says what GenStudio will hit
    assert result.stderr.rstrip().endswith(
        "Warning: acme/alpha: the endpoint rejects the credential's api_key (GENSTUDIO_API_KEY; HTTP 401): "
        "GenStudio's calls will fail; give genstudio.apiKey a token that can call this endpoint, "
        "then run hfops credentials"
    )
    assert WRONG_KEY not in result.output
    assert run("verify", str(tmp_path / "a.yaml"), "--credentials-dir", creds).code == 1  # verify agrees

    as_json = run("apply", str(tmp_path / "a.yaml"), "--yes", "--credentials-dir", creds, "--format", "json")
    assert as_json.code == 0
    import json

    assert "rejects the credential's api_key" in json.loads(as_json.stdout)["warnings"][0]

    # With a key the endpoint accepts, nothing to warn about.
    monkeypatch.setenv("GENSTUDIO_API_KEY", GOOD_KEY)
    good = run("apply", str(tmp_path / "a.yaml"), "--yes", "--credentials-dir", creds)
    assert good.code == 0 and "rejects" not in good.stderr, good.output
    assert run("verify", str(tmp_path / "a.yaml"), "--credentials-dir", creds).code == 0


def test_an_api_url_without_v2_says_what_it_should_look_like(emulator, hf_env, run, tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text(endpoint_manifest("alpha"))
    monkeypatch.setenv("HFOPS_API_URL", emulator.url)
    result = run("plan", str(tmp_path / "a.yaml"))
    assert result.code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        f"Error: list endpoints in acme: Not Found: HFOPS_API_URL {emulator.url} is not the API base (no /v2)"
    )
    assert lines[1] == (
        "Hint: HFOPS_API_URL should be the Inference Endpoints API base ending in /v2, like "
        "https://api.endpoints.huggingface.cloud/v2 (for the emulator: its URL followed by /v2); "
        f"did you mean {emulator.url}/v2?"
    )
    assert os.environ["HFOPS_API_URL"] == emulator.url
