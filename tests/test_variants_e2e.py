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
from huggingface_hub import get_session

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


def gpu(instance_type: str, region: str = "us-east-1", vendor: str = "aws") -> str:
    return f"{{vendor: {vendor}, region: {region}, accelerator: gpu, instanceType: {instance_type}, instanceSize: x1}}"


def test_realistic_quotas_a_listed_zero_quota_and_a_fleet_over_quota_are_refused_at_plan(start, run, tmp_path):
    emulator = start(quotas="realistic")
    folder = write(tmp_path, endpoint_manifest("on-gcp", compute=gpu("nvidia-l4", "us-east4", "gcp")), "gcp")
    planned = run("plan", str(folder))
    assert planned.code == 1, planned.output
    assert "nvidia-l4 in gcp us-east4 is listed for acme, but its quota there is 0 accelerators" in planned.stderr
    assert f"{folder / 'gcp.yaml'}:" in planned.stderr

    (folder / "gcp.yaml").unlink()
    for name in ("a", "b", "c"):  # 3 x 1 accelerator against a quota of 2
        write(tmp_path, endpoint_manifest(name, compute=gpu("nvidia-a10g")), name)
    planned = run("plan", str(folder))
    assert planned.code == 1, planned.output
    assert (
        "acme would use 3 nvidia-a10g accelerators, over its quota of 2 in aws us-east-1 "
        "(0 in use; at max replicas: acme/a, acme/b, acme/c)" in planned.stderr
    )
    assert run("apply", str(folder), "--yes").code == 1
    assert [r for r in emulator.requests() if r["method"] == "POST"] == []

    (folder / "c.yaml").unlink()
    assert run("plan", str(folder)).code == 0  # 2 of 2: within the quota


@pytest.mark.parametrize("private", ["lenient", "strict"])
def test_a_private_endpoint_is_refused_before_anything_is_created(start, run, tmp_path, private):
    emulator = start(private_endpoints=private)
    folder = write(tmp_path, endpoint_manifest("svc", extra="  type: private\n"))
    for command in (("validate",), ("plan",), ("apply", "--yes")):
        result = run(*command, str(folder))
        assert result.code == 1, result.output
        assert f"{folder / 'svc.yaml'}:10: spec.type: type private needs AWS PrivateLink settings" in result.stderr
    assert [r for r in emulator.requests() if r["method"] == "POST"] == []


def test_a_namespace_the_token_cannot_use_is_one_clear_error(start, run, tmp_path):
    emulator = start(namespaces="restricted", token_namespaces=((TOKEN, "alice", ("acme",)),))
    folder = write(tmp_path, endpoint_manifest("svc", "acme"))
    write(tmp_path, endpoint_manifest("other", "not-mine"), "other")
    planned = run("plan", str(folder))
    assert planned.code == 1, planned.output
    assert "list endpoints in not-mine" in planned.stderr and "HTTP 401" in planned.stderr
    assert "check HF_TOKEN: it must be a valid token with access to this namespace" in planned.stderr
    assert [r for r in emulator.requests() if r["method"] == "POST"] == []


ALWAYS_ON = "  scaling: {minReplica: 1, maxReplica: 1}\n"


@pytest.mark.parametrize("nulls", ["clear", "keep", "reject"])
def test_going_always_on_clears_the_timeout_or_says_how(start, run, tmp_path, nulls):
    emulator = start(null_on_put=nulls)
    folder = write(tmp_path, endpoint_manifest("svc"))
    creds = str(tmp_path / "creds")
    assert run("apply", str(folder), "--yes", "--credentials-dir", creds).code == 0
    write(tmp_path, endpoint_manifest("svc", extra=ALWAYS_ON))
    planned = run("plan", str(folder), "--credentials-dir", creds)
    assert "- scaling.scaleToZeroTimeout: 15" in planned.stdout, planned.output
    applied = run("apply", str(folder), "--yes", "--credentials-dir", creds)
    scaling = emulator.endpoint_raw("acme", "svc")["compute"]["scaling"]
    if nulls == "clear":
        assert applied.code == 0, applied.output
        assert scaling["minReplica"] == 1 and scaling.get("scaleToZeroTimeout") is None
    else:
        assert applied.code == 1, applied.output
        assert "the update clears scaling.scaleToZeroTimeout" in applied.output
        assert "hfops apply --replace acme/svc" in applied.output
        assert scaling["minReplica"] == 0 and scaling["scaleToZeroTimeout"] == 15  # left as it was
        assert "Apply complete" not in applied.stdout or "1 failed" in applied.stdout
        # The remedy it names works whatever null means: planned, saved, applied from the saved plan.
        saved = tmp_path / "replace.plan"
        planned = run("plan", str(folder), "--replace", "acme/svc", "--out", str(saved), "--credentials-dir", creds)
        assert planned.code == 0, planned.output
        assert "-/+ acme/svc must be replaced (deleted, then created)  # replacement requested (--replace)" in (
            planned.stdout
        )
        replaced = run("apply", str(saved), "--credentials-dir", creds)
        assert replaced.code == 0, replaced.output
        scaling = emulator.endpoint_raw("acme", "svc")["compute"]["scaling"]
        assert scaling["minReplica"] == 1 and scaling.get("scaleToZeroTimeout") is None
        credential = json.loads((tmp_path / "creds" / "svc.json").read_text())
        assert credential["endpoint"] == emulator.endpoint_raw("acme", "svc")["status"]["url"]
    assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", creds).code == 0


@pytest.mark.parametrize("type_on_put", ["applied", "ignored"])
def test_a_type_change_is_applied_or_reported_never_claimed(start, run, tmp_path, type_on_put, monkeypatch):
    emulator = start(type_on_put=type_on_put)
    # An ignored field shows no rollout: hfops waits the grace (60 s by default) before it looks.
    monkeypatch.setenv("HFOPS_ROLLOUT_GRACE", "1.5")
    folder = write(tmp_path, endpoint_manifest("svc"))
    creds = str(tmp_path / "creds")
    assert run("apply", str(folder), "--yes", "--credentials-dir", creds).code == 0
    write(tmp_path, endpoint_manifest("svc", extra="  type: public\n"))
    applied = run("apply", str(folder), "--yes", "--credentials-dir", creds)
    if type_on_put == "applied":
        assert applied.code == 0, applied.output
        assert emulator.endpoint_raw("acme", "svc")["type"] == "public"
        assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", creds).code == 0
    else:
        assert applied.code == 1, applied.output
        assert "no rollout seen in 1.5s; taken as updated" in applied.output
        assert "the service accepted the update but kept type" in applied.output
        assert "hfops apply --replace acme/svc" in applied.output
        assert emulator.endpoint_raw("acme", "svc")["type"] == "authenticated"
        replaced = run("apply", str(folder), "--yes", "--replace", "acme/svc", "--credentials-dir", creds)
        assert replaced.code == 0, replaced.output
        assert emulator.endpoint_raw("acme", "svc")["type"] == "public"
        assert run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", creds).code == 0


def test_replace_names_only_declared_existing_endpoints(start, run, tmp_path):
    start()
    folder = write(tmp_path, endpoint_manifest("svc"))
    undeclared = run("plan", str(folder), "--replace", "acme/other")
    assert undeclared.code == 1 and "--replace names endpoints no manifest declares: acme/other" in undeclared.stderr
    missing = run("plan", str(folder), "--replace", "acme/svc")
    assert missing.code == 1 and "--replace names endpoints that do not exist yet: acme/svc" in missing.stderr


def test_an_endpoint_reporting_protected_is_authenticated_for_plan_and_import(start, run, tmp_path, api_for):
    """U11: `protected` is the old name of `authenticated`; older endpoints may still report it."""
    emulator = start(protected_type="accepted", type_on_put="applied")
    folder = write(tmp_path, endpoint_manifest("svc"))
    creds = str(tmp_path / "creds")
    assert run("apply", str(folder), "--yes", "--credentials-dir", creds).code == 0
    api = api_for(emulator)  # huggingface_hub cannot send `type` on update: through its own session
    answer = get_session().put(
        f"{emulator.url}/v2/endpoint/acme/svc", json={"type": "protected"}, headers=api._build_hf_headers()
    )
    assert answer.status_code == 200
    assert emulator.endpoint_raw("acme", "svc")["type"] == "protected"
    planned = run("plan", str(folder), "--detailed-exitcode", "--credentials-dir", creds)
    assert planned.code == 0, planned.output
    imported = run("import", "acme/svc", "--no-adopt")
    assert imported.code == 0, imported.output
    assert "type: authenticated" in imported.stdout and "protected" not in imported.stdout


@pytest.mark.parametrize("preset", ["optimistic", "likely"])
def test_the_core_flows_hold_under_the_optimistic_and_the_likely_service(start, run, tmp_path, monkeypatch, preset):
    """Create, env change, secret rotation, pause and resume, import and verify, once per preset."""
    from hfops.emulator.variants import OPTIMISTIC, PESSIMISTIC

    emulator = start(**(OPTIMISTIC if preset == "optimistic" else PESSIMISTIC))
    monkeypatch.setenv("DB_PASSWORD", "first-password-value")
    secrets = "  secrets: {DB_PASSWORD: {fromEnv: DB_PASSWORD}}\n"
    env = "  env: {{MAX_TOTAL_TOKENS: '{total}', MAX_INPUT_TOKENS: '256'}}\n"

    def manifest(total: int, paused: bool = False) -> str:
        extra = env.format(total=total) + secrets + GENSTUDIO_KEY_FROM_ENV + ("  paused: true\n" if paused else "")
        return endpoint_manifest("svc", extra=extra)

    folder = write(tmp_path, manifest(512))
    creds = tmp_path / "creds"
    c = ("--credentials-dir", str(creds))

    def window() -> int:
        return int(json.loads((creds / "svc.json").read_text())["context_window"])

    def settled() -> None:
        assert run("plan", str(folder), "--detailed-exitcode", *c).code == 0

    assert run("apply", str(folder), "--yes", *c).code == 0 and window() == 512
    settled()
    write(tmp_path, manifest(768))  # env change: rolled out before the window is read
    assert run("apply", str(folder), "--yes", *c).code == 0 and window() == 768
    settled()
    monkeypatch.setenv("DB_PASSWORD", "second-password-value")  # secret rotation
    assert run("plan", str(folder), "--detailed-exitcode", *c).code == 2
    assert run("apply", str(folder), "--yes", *c).code == 0
    settled()
    write(tmp_path, manifest(768, paused=True))
    assert run("apply", str(folder), "--yes", *c).code == 0
    assert emulator.endpoint_raw("acme", "svc")["status"]["state"] == "paused"
    settled()
    write(tmp_path, manifest(768))
    assert run("apply", str(folder), "--yes", *c).code == 0
    assert emulator.endpoint_raw("acme", "svc")["status"]["state"] == "running"
    settled()
    verified = run("verify", str(folder), *c)
    assert verified.code == 0 and "acme/svc: ok" in verified.stdout, verified.output

    imported = tmp_path / "imported"
    imported.mkdir()
    out = run("import", "acme/svc", "--no-adopt", "--out", str(imported / "svc.yaml"))
    assert out.code == 0, out.output
    assert "password-value" not in (imported / "svc.yaml").read_text()
    planned = run("plan", str(imported), "--format", "json", *c)
    assert planned.code == 0, planned.output
    (action,) = json.loads(planned.stdout)["actions"]
    assert action["action"] == "no-op"  # the imported manifest is the endpoint, secrets included
