"""hfops under every plausible behaviour of the service where it is undocumented (reference §9).

Each test runs one core flow through the CLI and the real huggingface_hub client against an emulator
playing one variant of an uncertain point, and asserts what a user sees: exit codes, plan lines, the
endpoint the service holds, the credential written. A flow that only works on the optimistic variant
fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import GENSTUDIO_KEY_FROM_ENV, endpoint_manifest

TOKEN = "hf_test_deploy_token_0123456789"
KEY = "hf_genstudio_key_variants_aaaaaaa"
Start = Callable[..., Emulator]


@pytest.fixture
def start(monkeypatch: pytest.MonkeyPatch) -> Iterator[Start]:
    """start(**variants): an emulator playing those variants, with hfops pointed at it."""
    started: list[Emulator] = []

    def _start(**variants: Any) -> Emulator:
        emulator = Emulator(EmulatorConfig(provision_seconds=0.3, retry_after_seconds=0.0, **variants))
        emulator.start()
        started.append(emulator)
        for key, value in {
            "HF_TOKEN": TOKEN,
            "HF_ENDPOINT": emulator.url,
            "HFOPS_API_URL": emulator.url + "/v2",
            "HFOPS_POLL_INTERVAL": "0.05",
            "GENSTUDIO_API_KEY": KEY,
        }.items():
            monkeypatch.setenv(key, value)
        return emulator

    yield _start
    for emulator in started:
        emulator.stop()


def write(tmp_path: Path, text: str, name: str = "svc") -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    return folder


def puts(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] == "PUT"]


@pytest.mark.parametrize("readback", ["null-values", "omitted"])
def test_secret_rotation_is_seen_once_whether_or_not_keys_are_echoed(start, run, tmp_path, monkeypatch, readback):
    emulator = start(secrets_readback=readback)
    monkeypatch.setenv("DB_PASSWORD", "first-password-value")
    folder = write(tmp_path, endpoint_manifest("svc", extra="  secrets: {DB_PASSWORD: {fromEnv: DB_PASSWORD}}\n"))
    creds = str(tmp_path / "creds")
    assert run("apply", str(folder), "--yes", "--credentials-dir", creds).code == 0
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", creds).code == 0

    monkeypatch.setenv("DB_PASSWORD", "second-password-value")
    planned = run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", creds)
    assert planned.code == 2, planned.output
    assert "~ secrets: (sensitive value changed)" in planned.stdout
    applied = run("apply", str(folder), "--yes", "--credentials-dir", creds)
    assert applied.code == 0, applied.output
    assert len(puts(emulator)) == 1
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", creds).code == 0
    for result in (planned, applied):
        assert "password-value" not in result.output


@pytest.mark.parametrize("rollout", ["immediate", "lagged"])
def test_the_credential_window_is_read_after_the_update_rolled_out(start, run, tmp_path, rollout):
    emulator = start(update_rollout=rollout, update_lag_seconds=0.6)
    env = "  env: {{MAX_TOTAL_TOKENS: '{total}', MAX_INPUT_TOKENS: '256'}}\n"
    folder = write(tmp_path, endpoint_manifest("svc", extra=env.format(total=512) + GENSTUDIO_KEY_FROM_ENV))
    creds = tmp_path / "creds"
    assert run("apply", str(folder), "--yes", "--credentials-dir", str(creds)).code == 0
    assert json.loads((creds / "svc.json").read_text())["context_window"] == 512

    write(tmp_path, endpoint_manifest("svc", extra=env.format(total=768) + GENSTUDIO_KEY_FROM_ENV))
    applied = run("apply", str(folder), "--yes", "--credentials-dir", str(creds))
    assert applied.code == 0, applied.output
    assert json.loads((creds / "svc.json").read_text())["context_window"] == 768
    assert emulator.endpoint_raw("acme", "svc")["status"]["state"] == "running"
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", str(creds)).code == 0


@pytest.mark.parametrize("empty_put", ["redeploys", "no-redeploy"])
def test_adoption_is_a_tags_only_put_that_completes_either_way(start, run, tmp_path, api_for, empty_put):
    emulator = start(empty_put=empty_put)
    api_for(emulator).create_inference_endpoint(
        "svc",
        repository="gpt2",
        framework="pytorch",
        accelerator="cpu",
        instance_size="x1",
        instance_type="intel-icl",
        region="us-east-1",
        vendor="aws",
        namespace="acme",
        task="text-generation",
        min_replica=0,
        scale_to_zero_timeout=15,
        custom_image={
            "health_route": "/health",
            "port": 80,
            "url": "ghcr.io/huggingface/text-generation-inference:3.3.6",
        },
        type="authenticated",
    )
    folder = write(tmp_path, endpoint_manifest("svc"))
    creds = str(tmp_path / "creds")
    adopted = run("apply", str(folder), "--yes", "--adopt", "acme/svc", "--credentials-dir", creds, "--timeout", "20")
    assert adopted.code == 0, adopted.output
    assert "hfops-managed" in emulator.endpoint_raw("acme", "svc")["tags"]
    assert (tmp_path / "creds" / "svc.json").exists()
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", creds).code == 0


@pytest.fixture
def api_for(monkeypatch: pytest.MonkeyPatch) -> Callable[[Emulator], Any]:
    from huggingface_hub import HfApi, constants

    def _api(emulator: Emulator) -> HfApi:
        monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", emulator.url + "/v2")
        return HfApi(endpoint=emulator.url, token=TOKEN)

    return _api
