"""The product end to end, as a user runs it: hfops CLI -> huggingface_hub -> emulator over HTTP."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import httpx2
import pytest

from tests.factories import endpoint_manifest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TOKEN = "hf_test_deploy_token_0123456789"  # what the hf_env fixture exports as HF_TOKEN


def manifest(name: str, *, repository: str = "gpt2", namespace: str = "acme", extra: str = "") -> str:
    return endpoint_manifest(name, namespace, repository=repository, extra=extra)


def api_requests(emulator, method: str | None = None) -> list[dict]:
    return [
        r for r in emulator.requests() if r["path"].startswith("/v2/") and (method is None or r["method"] == method)
    ]


def test_apply_examples_writes_credentials_then_plan_is_clean(emulator, hf_env, run, tmp_path):
    creds = tmp_path / "creds"
    result = run("apply", str(EXAMPLES), "--yes", "--credentials-dir", str(creds))
    assert result.code == 0, result.output
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in result.stdout
    files = sorted(p.relative_to(creds).as_posix() for p in creds.rglob("*.json"))
    assert files == ["gpt2-sandbox.json", "llama-2-7b-chat.json", "mistral-7b-instruct.json"]
    expected_windows = {
        "gpt2-sandbox.json": 1024,
        "llama-2-7b-chat.json": 4096,
        "mistral-7b-instruct.json": 8192,
    }
    for name in files:
        path = creds / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data = json.loads(path.read_text())
        assert sorted(data) == ["api_key", "context_window", "endpoint", "model_name"]
        assert data["api_key"] == TOKEN
        assert data["context_window"] == expected_windows[name]
        info = httpx2.get(data["endpoint"] + "/info", headers={"Authorization": f"Bearer {data['api_key']}"})
        assert info.status_code == 200
        assert info.json()["max_total_tokens"] >= data["context_window"]
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    # HF_TOKEN fallback is announced, and the token itself is never printed.
    assert "falls back" in result.stderr or "uses HF_TOKEN" in result.stderr
    assert TOKEN not in result.output

    again = run("plan", str(EXAMPLES), "--detailed-exitcode", "--credentials-dir", str(creds))
    assert again.code == 0, again.output
    assert "No changes." in again.stdout


def test_changed_timeout_is_one_field_and_apply_keeps_env(emulator, hf_env, run, tmp_path):
    work = tmp_path / "m"
    shutil.copytree(EXAMPLES, work)
    assert run("apply", str(work), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    target = work / "fleet" / "mistral-7b-instruct.yaml"
    target.write_text(target.read_text().replace("scaleToZeroTimeout: 30", "scaleToZeroTimeout: 45"))

    planned = run("plan", str(work), "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c"))
    assert planned.code == 2, planned.output
    assert "~ acme/mistral-7b-instruct will be updated in place" in planned.stdout
    assert "~ scaling.scaleToZeroTimeout: 30 -> 45" in planned.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in planned.stdout
    change_lines = [line for line in planned.stdout.splitlines() if line.strip().startswith(("~ ", "+ ", "- "))]
    assert len(change_lines) == 2  # the endpoint header and its one field

    emulator.clear_requests()
    applied = run("apply", str(work), "--yes", "--credentials-dir", str(tmp_path / "c"))
    assert applied.code == 0, applied.output
    assert [r["method"] for r in api_requests(emulator, "PUT")] == ["PUT"]
    assert not api_requests(emulator, "POST")
    raw = emulator.endpoint_raw("acme", "mistral-7b-instruct")
    assert raw["compute"]["scaling"]["scaleToZeroTimeout"] == 45
    assert raw["model"]["env"] == {"MAX_BATCH_PREFILL_TOKENS": "8192"}
    assert raw["model"]["image"]["tgi"]["maxTotalTokens"] == 8192
    assert run("plan", str(work), "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c")).code == 0


def test_non_text_generation_model_is_refused_before_anything_is_created(emulator, hf_env, run, tmp_path):
    path = tmp_path / "embed.yaml"
    path.write_text(manifest("minilm", repository="sentence-transformers/all-MiniLM-L6-v2"))
    result = run("plan", str(path))
    assert result.code == 1
    assert "sentence-transformers/all-MiniLM-L6-v2" in result.stderr
    assert "feature-extraction" in result.stderr
    assert f"{path}:" in result.stderr
    applied = run("apply", str(path), "--yes")
    assert applied.code == 1
    assert not api_requests(emulator, "POST")
    assert emulator.endpoint_raw("acme", "minilm") is None


def test_unknown_model_and_revision_are_located_errors(emulator, hf_env, run, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        manifest("a", repository="nobody/does-not-exist")
        + "---\n"
        + manifest("b").replace("repository: gpt2", "repository: gpt2\n    revision: no-such-branch")
    )
    result = run("plan", str(path))
    assert result.code == 1
    assert "nobody/does-not-exist not found" in result.stderr
    assert "revision 'no-such-branch' not found in model gpt2" in result.stderr
    assert result.stderr.count(f"{path}:") == 2


def test_three_mistakes_three_located_errors(run, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(manifest("Bad_Name", extra="  scaling:\n    minReplicas: 0\n  type: protected\n"))
    result = run("validate", str(path))
    assert result.code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip().startswith(str(path))]
    assert len(lines) == 3, result.stderr
    assert f"{path}:4: metadata.name" in lines[0]
    assert "minReplicas" in result.stderr and "did you mean 'minReplica'" in result.stderr
    assert "type" in result.stderr and "protected" in result.stderr


def test_apply_without_terminal_or_yes_refuses(emulator, hf_env, run, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(manifest("gpt2-small"))
    result = run("apply", str(path))
    assert result.code == 1
    assert "--yes" in result.stderr
    assert not api_requests(emulator, "POST")


def test_unowned_endpoint_is_reported_not_taken_over(emulator, hf_env, run, tmp_path, monkeypatch):
    from huggingface_hub import HfApi, constants

    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", emulator.url + "/v2")
    api = HfApi(endpoint=emulator.url, token=TOKEN)
    api.create_inference_endpoint(
        "handmade",
        repository="gpt2",
        framework="pytorch",
        accelerator="cpu",
        instance_size="x1",
        instance_type="intel-icl",
        region="us-east-1",
        vendor="aws",
        namespace="acme",
        token=TOKEN,
        task="text-generation",
    )
    path = tmp_path / "m.yaml"
    path.write_text(manifest("handmade"))
    planned = run("plan", str(path), "--credentials-dir", str(tmp_path / "c"))
    assert planned.code == 1
    assert "not created by hfops" in planned.stdout
    assert f"hfops apply --adopt acme/handmade {path}" in planned.stdout
    assert run("apply", str(path), "--yes").code == 1
    assert not api_requests(emulator, "PUT")

    adopted = run("apply", str(path), "--yes", "--adopt", "acme/handmade", "--credentials-dir", str(tmp_path / "c"))
    assert adopted.code == 0, adopted.output
    assert "hfops-managed" in emulator.endpoint_raw("acme", "handmade")["tags"]
    assert run("plan", str(path), "--detailed-exitcode", "--credentials-dir", str(tmp_path / "c")).code == 0


def test_status_credentials_verify_destroy(emulator, hf_env, run, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_KEY", "hf_genstudio_key_abcdef")
    path = tmp_path / "m.yaml"
    path.write_text(manifest("chat", extra="  genstudio:\n    apiKey: {fromEnv: GENSTUDIO_KEY}\n"))
    creds = tmp_path / "c"
    assert run("apply", str(path), "--yes", "--credentials-dir", str(creds)).code == 0
    credential = json.loads((creds / "chat.json").read_text())
    assert credential["api_key"] == "hf_genstudio_key_abcdef"

    status = run("status", str(path))
    assert status.code == 0
    fields = status.stdout.split()
    assert fields[0:2] == ["acme/chat", "running"]
    assert fields[2].startswith("http://127.0.0.1:") and fields[3:] == ["replicas", "1/1"]

    (creds / "chat.json").unlink()
    rewritten = run("credentials", str(path), "--credentials-dir", str(creds))
    assert rewritten.code == 0, rewritten.output
    assert json.loads((creds / "chat.json").read_text()) == credential

    verified = run("verify", str(path), "--credentials-dir", str(creds))
    assert verified.code == 0, verified.output
    assert "acme/chat: ok" in verified.stdout

    as_json = run("verify", str(path), "--credentials-dir", str(creds), "--format", "json")
    assert json.loads(as_json.stdout)["results"][0]["ok"] is True

    destroyed = run("destroy", str(path), "--yes", "--credentials-dir", str(creds))
    assert destroyed.code == 0, destroyed.output
    assert emulator.endpoint_raw("acme", "chat") is None
    assert not (creds / "chat.json").exists()
    for result in (status, rewritten, verified, as_json, destroyed):
        assert "hf_genstudio_key_abcdef" not in result.output
        assert TOKEN not in result.output


def test_verify_reports_a_rejected_key(emulator, hf_env, run, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(manifest("chat"))
    creds = tmp_path / "c"
    assert run("apply", str(path), "--yes", "--credentials-dir", str(creds)).code == 0
    data = json.loads((creds / "chat.json").read_text())
    data["api_key"] = "not-a-hf-token"
    (creds / "chat.json").write_text(json.dumps(data))
    verified = run("verify", str(path), "--credentials-dir", str(creds))
    assert verified.code == 1
    assert "401" in verified.stdout


def test_declared_context_window_above_served_is_an_error(emulator, hf_env, run, tmp_path):
    # Mistral's context is 32768, but TGI 2.0 caps what it serves at 4096 tokens.
    path = tmp_path / "m.yaml"
    path.write_text(
        manifest(
            "chat",
            repository="mistralai/Mistral-7B-Instruct-v0.2",
            extra="  image: {url: ghcr.io/huggingface/text-generation-inference:2.0.4}\n"
            "  genstudio:\n    contextWindow: 8192\n",
        )
    )
    result = run("apply", str(path), "--yes", "--credentials-dir", str(tmp_path / "c"))
    assert result.code == 1
    assert "contextWindow 8192 is larger than what the endpoint serves (4096)" in result.output
    assert not (tmp_path / "c" / "chat.json").exists()


def test_declared_context_window_above_the_model_is_refused_at_plan(emulator, hf_env, run, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(manifest("chat", extra="  genstudio:\n    contextWindow: 2048\n"))
    result = run("plan", str(path))
    assert result.code == 1
    assert (
        f"{path}:11: spec.genstudio.contextWindow: contextWindow 2048 is larger than the context length of gpt2"
        in result.stderr
    )
    assert not api_requests(emulator, "POST")


def test_plan_json_is_one_document(emulator, hf_env, run):
    result = run("plan", str(EXAMPLES), "--format", "json")
    assert result.code == 0
    doc = json.loads(result.stdout)
    assert doc["format_version"] == "1"
    assert doc["summary"] == {"add": 3, "change": 0, "destroy": 0}
    assert {a["address"] for a in doc["actions"]} == {
        "acme/llama-2-7b-chat",
        "acme/mistral-7b-instruct",
        "acme-research/gpt2-sandbox",
    }


def test_missing_token_is_a_usage_error(run, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    path = tmp_path / "m.yaml"
    path.write_text(manifest("x"))
    result = run("plan", str(path))
    assert result.code == 1
    assert "HF_TOKEN" in result.stderr


@pytest.mark.parametrize("args", [["plan"], ["apply", "--bogus", "x"], ["nope"]])
def test_usage_errors_exit_1(run, args):
    assert run(*args).code == 1


def test_verify_wakes_a_scaled_to_zero_endpoint_and_credentials_do_not(emulator, hf_env, run, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        manifest(
            "sleepy",
            extra="  image: {url: ghcr.io/huggingface/text-generation-inference:3.3.6,"
            " maxTotalTokens: 1000, maxInputTokens: 999}\n",
        )
    )
    creds = tmp_path / "c"
    assert run("apply", str(path), "--yes", "--credentials-dir", str(creds)).code == 0
    emulator.advance(16 * 60)  # idle past the default 15-minute scale-to-zero timeout
    assert emulator.endpoint_raw("acme", "sleepy")["status"]["state"] == "scaledToZero"

    (creds / "sleepy.json").unlink()
    emulator.clear_requests()
    rewritten = run("credentials", str(path), "--credentials-dir", str(creds))
    assert rewritten.code == 0, rewritten.output
    assert json.loads((creds / "sleepy.json").read_text())["context_window"] == 1000  # image.maxTotalTokens
    assert not [r for r in emulator.requests() if r["path"].startswith("/endpoints/")]  # not woken
    assert emulator.endpoint_raw("acme", "sleepy")["status"]["state"] == "scaledToZero"

    verified = run("verify", str(path), "--credentials-dir", str(creds))
    assert verified.code == 0, verified.output
    assert "acme/sleepy: ok" in verified.stdout
    assert emulator.endpoint_raw("acme", "sleepy")["status"]["state"] == "running"


def test_plan_refuses_a_missing_genstudio_key_as_apply_does(emulator, hf_env, run, tmp_path, monkeypatch):
    # Issue 14 item 5: the same severity in plan and apply (a plan that passes is one apply can do).
    monkeypatch.delenv("GENSTUDIO_KEY", raising=False)
    path = tmp_path / "m.yaml"
    path.write_text(manifest("chat", extra="  genstudio:\n    apiKey: {fromEnv: GENSTUDIO_KEY}\n"))
    planned = run("plan", str(path))
    assert planned.code == 1, planned.output
    assert f"{path}:11: spec.genstudio.apiKey: environment variable GENSTUDIO_KEY is not set" in planned.stderr
    applied = run("apply", str(path), "--yes")
    assert applied.code == 1
    assert f"{path}:11: spec.genstudio.apiKey: environment variable GENSTUDIO_KEY is not set" in applied.stderr
    assert not api_requests(emulator, "POST")


def test_an_existing_credentials_directory_keeps_its_mode_and_is_warned_about(emulator, hf_env, run, tmp_path):
    # hfops never changes the mode of a directory it did not create (a shared one, `.`); it says so.
    path = tmp_path / "m.yaml"
    path.write_text(manifest("chat"))
    creds = tmp_path / "c"
    creds.mkdir(mode=0o755)
    creds.chmod(0o755)
    applied = run("apply", str(path), "--yes", "--credentials-dir", str(creds))
    assert applied.code == 0, applied.output
    assert stat.S_IMODE(creds.stat().st_mode) == 0o755
    assert "can be read by others" in applied.stderr
    assert stat.S_IMODE((creds / "chat.json").stat().st_mode) == 0o600
    assert not (creds / ".gitignore").exists()  # only a directory hfops creates gets one


def test_demo_runs_the_whole_flow_offline(run, tmp_path):
    creds = tmp_path / "demo-creds"
    result = run("demo", "--credentials-dir", str(creds))
    assert result.code == 0, result.output
    assert result.stdout.count("Plan: 3 to add, 0 to change, 0 to destroy.") == 1
    assert "No changes. Your endpoints match the manifests." in result.stdout
    assert result.stdout.count(": ok — chat ok") == 3
    files = sorted(p.name for p in creds.glob("*.json"))
    assert files == ["gpt2-sandbox.json", "llama-2-7b-chat.json", "mistral-7b-instruct.json"]
    for path in creds.glob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        key = json.loads(path.read_text())["api_key"]
        assert key.startswith("hf_demo_") and key not in result.output  # printed redacted only
