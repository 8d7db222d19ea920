"""GenStudio credentials as planned, managed outputs, end to end: CLI -> huggingface_hub -> emulator.

Each test is one bullet of the credentials issue: a key rotation or a window change is a plan change
(exit 2 under --detailed-exitcode); prune, destroy and a renamed output remove what hfops wrote;
a scaled-to-zero endpoint keeps the window it served; a command output gets the JSON on stdin only.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

from tests.conftest import point_at
from tests.factories import GENSTUDIO_KEY_FROM_ENV, endpoint_manifest

TOKEN = "hf_test_deploy_token_0123456789"
KEY = "hf_genstudio_key_aaaaaaaaaaaaaaaa"
ROTATED = "hf_genstudio_key_bbbbbbbbbbbbbbbb"


def manifest(name: str, *, extra_genstudio: str = "", env: str = "", scaling: str = "") -> str:
    return endpoint_manifest(name, extra=scaling + env + GENSTUDIO_KEY_FROM_ENV + extra_genstudio)


def setup(tmp_path: Path, monkeypatch, *docs: tuple[str, str]) -> tuple[Path, Path]:
    monkeypatch.setenv("GENSTUDIO_API_KEY", KEY)
    folder = tmp_path / "manifests"
    folder.mkdir()
    for name, text in docs:
        (folder / f"{name}.yaml").write_text(text)
    return folder, tmp_path / "creds"


def test_key_rotation_is_a_planned_change_and_rewrites_the_file(emulator, hf_env, run, tmp_path, monkeypatch):
    folder, creds = setup(tmp_path, monkeypatch, ("alpha", manifest("alpha")))
    assert run("apply", str(folder), "--yes", "--credentials-dir", str(creds)).code == 0
    file = creds / "alpha.json"
    assert json.loads(file.read_text())["api_key"] == KEY
    assert run("plan", str(folder), "--credentials-dir", str(creds), "--detailed-exitcode").code == 0

    monkeypatch.setenv("GENSTUDIO_API_KEY", ROTATED)
    planned = run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", str(creds))
    assert planned.code == 2, planned.output
    assert "~ credential acme/alpha -> file alpha.json will be updated" in planned.stdout
    assert "~ api_key: (sensitive value changed)" in planned.stdout
    assert "Credentials: 0 to write, 1 to change, 0 to remove." in planned.stdout
    assert ROTATED not in planned.output and KEY not in planned.output
    doc = json.loads(run("plan", str(folder), "--format", "json", "--credentials-dir", str(creds)).stdout)
    assert doc["has_changes"] is True and doc["credential_summary"] == {"write": 0, "update": 1, "remove": 0}
    assert ROTATED not in json.dumps(doc)

    applied = run("apply", str(folder), "--yes", "--credentials-dir", str(creds))
    assert applied.code == 0, applied.output
    assert "give GenStudio the new credential" in applied.stdout and "acme/alpha" in applied.stdout
    assert json.loads(file.read_text())["api_key"] == ROTATED
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", str(creds)).code == 0


def test_context_window_change_and_renamed_output(emulator, hf_env, run, tmp_path, monkeypatch):
    folder, creds = setup(
        tmp_path, monkeypatch, ("alpha", manifest("alpha", extra_genstudio="    contextWindow: 1000\n"))
    )
    assert run("apply", str(folder), "--yes", "--credentials-dir", str(creds)).code == 0
    (folder / "alpha.yaml").write_text(
        manifest("alpha", extra_genstudio="    contextWindow: 800\n    file: team/alpha.json\n")
    )
    planned = run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", str(creds))
    assert planned.code == 2, planned.output
    assert "+ credential acme/alpha -> file team/alpha.json will be written" in planned.stdout
    assert "- credential acme/alpha -> file alpha.json will be removed" in planned.stdout
    assert run("apply", str(folder), "--yes", "--credentials-dir", str(creds)).code == 0
    assert not (creds / "alpha.json").exists()
    assert json.loads((creds / "team" / "alpha.json").read_text())["context_window"] == 800


def test_prune_removes_the_credential_and_destroy_after_ui_delete_too(emulator, hf_env, run, tmp_path, monkeypatch):
    folder, creds = setup(tmp_path, monkeypatch, ("alpha", manifest("alpha")), ("beta", manifest("beta")))
    assert run("apply", str(folder), "--yes", "--credentials-dir", str(creds)).code == 0
    assert (creds / "alpha.json").exists() and (creds / "beta.json").exists()
    (creds / "notes.txt").write_text("mine")  # not hfops': never touched

    (folder / "beta.yaml").unlink()
    planned = run("plan", str(folder), "--prune", "--credentials-dir", str(creds))
    assert "- credential acme/beta -> file beta.json will be removed  # endpoint pruned" in planned.stdout
    pruned = run("apply", str(folder), "--prune", "--yes", "--credentials-dir", str(creds))
    assert pruned.code == 0, pruned.output
    assert not (creds / "beta.json").exists()
    assert (creds / "alpha.json").exists() and (creds / "notes.txt").read_text() == "mine"

    # Deleted in the UI, then destroyed: the credential still goes.
    emulator_delete(emulator, "acme", "alpha")
    destroyed = run("destroy", str(folder), "--yes", "--credentials-dir", str(creds))
    assert destroyed.code == 0, destroyed.output
    assert "Nothing to destroy" not in destroyed.stdout
    assert not (creds / "alpha.json").exists() and (creds / "notes.txt").exists()


def emulator_delete(emulator, namespace: str, name: str) -> None:
    from huggingface_hub import HfApi, constants

    old = constants.INFERENCE_ENDPOINTS_ENDPOINT
    constants.INFERENCE_ENDPOINTS_ENDPOINT = emulator.url + "/v2"
    try:
        HfApi(endpoint=emulator.url, token=TOKEN).delete_inference_endpoint(name, namespace=namespace, token=TOKEN)
    finally:
        constants.INFERENCE_ENDPOINTS_ENDPOINT = old


def test_scaled_to_zero_endpoint_keeps_the_window_it_served(emulator, hf_env, run, tmp_path, monkeypatch):
    # MAX_TOTAL_TOKENS in env: TGI serves 512, not the model's 1024.
    env = "  env: {MAX_TOTAL_TOKENS: '512', MAX_INPUT_TOKENS: '256'}\n"
    folder, creds = setup(tmp_path, monkeypatch, ("alpha", manifest("alpha", env=env)))
    assert run("apply", str(folder), "--yes", "--credentials-dir", str(creds)).code == 0
    file = creds / "alpha.json"
    assert json.loads(file.read_text())["context_window"] == 512
    emulator.advance(16 * 60)  # idle past the 15 minute timeout: scaled to zero
    status = run("status", str(folder))
    assert "scaledToZero" in status.stdout, status.output
    again = run("credentials", str(folder), "--credentials-dir", str(creds))
    assert again.code == 0, again.output
    assert json.loads(file.read_text())["context_window"] == 512
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", str(creds)).code == 0


def test_reveal_prints_exactly_one_credential(emulator, hf_env, run, tmp_path, monkeypatch):
    folder, creds = setup(tmp_path, monkeypatch, ("alpha", manifest("alpha")), ("beta", manifest("beta")))
    assert run("apply", str(folder), "--yes", "--credentials-dir", str(creds)).code == 0
    shown = run("credentials", str(folder), "--reveal", "acme/beta", "--credentials-dir", str(creds))
    assert shown.code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data == json.loads((creds / "beta.json").read_text())
    assert data["api_key"] == KEY


def test_foreign_file_is_never_overwritten(emulator, hf_env, run, tmp_path, monkeypatch):
    folder, creds = setup(tmp_path, monkeypatch, ("alpha", manifest("alpha")))
    creds.mkdir()
    (creds / "alpha.json").write_text('{"something": "else"}\n')
    planned = run("plan", str(folder), "--credentials-dir", str(creds))
    assert planned.code == 1
    assert "not written by hfops" in planned.stdout
    applied = run("apply", str(folder), "--yes", "--credentials-dir", str(creds))
    assert applied.code == 1
    assert (creds / "alpha.json").read_text() == '{"something": "else"}\n'
    assert [r for r in emulator.requests() if r["method"] == "POST"] == []


def test_command_output_gets_json_on_stdin_and_nothing_secret(emulator, hf_env, run, tmp_path, monkeypatch):
    record = tmp_path / "received.jsonl"
    script = tmp_path / "store.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import json, os, sys
            entry = {{"argv": sys.argv[1:], "stdin": sys.stdin.read(), "env": dict(os.environ)}}
            with open({str(record)!r}, "a") as f:
                f.write(json.dumps(entry) + "\\n")
            sys.exit(int(os.environ.get("FAIL_STORE", "0")))
            """
        )
    )
    outputs = f"    outputs:\n      - command: [{sys.executable}, {script}, '{{namespace}}/{{name}}']\n"
    monkeypatch.setenv("SOME_SECRET_VAR", "hf_secret_value_zzzzzzzz")
    text = manifest("alpha", extra_genstudio=outputs) + "  secrets: {SOME_KEY: {fromEnv: SOME_SECRET_VAR}}\n"
    folder, creds = setup(tmp_path, monkeypatch, ("alpha", text))
    applied = run("apply", str(folder), "--yes", "--credentials-dir", str(creds))
    assert applied.code == 0, applied.output
    (entry,) = [json.loads(line) for line in record.read_text().splitlines()]
    assert entry["argv"] == ["acme/alpha"]
    assert json.loads(entry["stdin"])["api_key"] == KEY
    env = entry["env"]
    assert env["HFOPS_CREDENTIAL_ACTION"] == "write"
    assert env["HFOPS_ENDPOINT_NAMESPACE"] == "acme" and env["HFOPS_ENDPOINT_NAME"] == "alpha"
    for name in ("HF_TOKEN", "GENSTUDIO_API_KEY", "SOME_SECRET_VAR"):
        assert name not in env
    assert KEY not in json.dumps(entry["argv"]) and KEY not in json.dumps(env)
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", str(creds)).code == 0

    # Rotation: the write-only output shows a change, and a failing command fails that credential.
    monkeypatch.setenv("GENSTUDIO_API_KEY", ROTATED)
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", str(creds)).code == 2
    monkeypatch.setenv("FAIL_STORE", "3")
    failed = run("apply", str(folder), "--yes", "--credentials-dir", str(creds))
    assert failed.code == 1
    assert "acme/alpha" in failed.output and ROTATED not in failed.output
    monkeypatch.delenv("FAIL_STORE")

    # Prune: the command is told to delete, with nothing on stdin.
    (folder / "alpha.yaml").unlink()
    (folder / "other.yaml").write_text(manifest("other"))
    pruned = run("apply", str(folder), "--prune", "--yes", "--credentials-dir", str(creds))
    assert pruned.code == 0, pruned.output
    last = json.loads(record.read_text().splitlines()[-1])
    assert last["env"]["HFOPS_CREDENTIAL_ACTION"] == "delete" and last["stdin"] == ""
    assert os.environ.get("FAIL_STORE") is None


def test_the_window_is_what_a_memory_limited_gpu_serves_not_the_models_context(run, tmp_path, monkeypatch):
    """TGI >= 2.4 caps its default window at the KV-cache a T4's memory holds: Mistral's 32768-token
    context is not what the endpoint serves, and GenStudio must be told what it does serve."""
    from hfops.emulator import Emulator, EmulatorConfig

    t4 = "{vendor: aws, region: us-east-1, accelerator: gpu, instanceType: nvidia-t4, instanceSize: x1}"
    doc = endpoint_manifest(
        "mistral", repository="mistralai/Mistral-7B-Instruct-v0.2", compute=t4, extra=GENSTUDIO_KEY_FROM_ENV
    )
    folder, creds = setup(tmp_path, monkeypatch, ("mistral", doc))
    config = EmulatorConfig(provision_seconds=0.3, retry_after_seconds=0.0, served_window="kv-cache")
    with Emulator(config) as emulator:
        point_at(emulator, monkeypatch)
        applied = run("apply", str(folder), "--yes", "--credentials-dir", str(creds))
        assert applied.code == 0, applied.output
        url = emulator.endpoint_raw("acme", "mistral")["status"]["url"]
        served = tgi_info(url)["max_total_tokens"]
        assert 1024 < served < 32768  # the GPU, not the model, sets it
        file = creds / "mistral.json"
        assert json.loads(file.read_text())["context_window"] == served

        emulator.advance(16 * 60)  # scaled to zero: /info cannot be read, the remembered window stays
        assert emulator.endpoint_raw("acme", "mistral")["status"]["state"] == "scaledToZero"
        again = run("credentials", str(folder), "--credentials-dir", str(creds))
        assert again.code == 0, again.output
        assert json.loads(file.read_text())["context_window"] == served
        assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", str(creds)).code == 0
        verified = run("verify", str(folder), "--credentials-dir", str(creds))
        assert verified.code == 0, verified.output


def tgi_info(url: str) -> dict[str, int]:
    import urllib.request

    request = urllib.request.Request(url + "/info", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())
