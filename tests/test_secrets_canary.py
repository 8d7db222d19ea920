"""Canary secrets: the deploy token and secret values must appear nowhere but in credential files.

Every canary contains the marker `CANARY` (and the environment variables holding them do not), so
one substring search over stdout, stderr, the emulator's request log, saved plans, imported
manifests and every other file hfops may touch finds any leak, whole or partial. The emulator
runs with `echo_errors`: every error answer repeats the request (Authorization header and body,
secret values included), the worst a careless server or proxy can do; and with HFOPS_DEBUG=1
tracebacks are printed too. Each command runs as from a fresh process (the redactor is reset).

Also here: the credential directory is 0700 and files 0600, and nothing is ever written through a
symlink at a credential path or directory.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hfops.core.redact import REDACTOR
from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import BOOKKEEPING, create_outside_hfops

MARK = "CANARY"
DEPLOY_TOKEN = "hf_CANARYdeploy7f3a9c2e51d84b60"
GENSTUDIO_KEY = "hf_CANARYgenstudio0b9d4e1f7a2c"
SECRET = "CANARYsecret-5e8d1b7c9a04f2e3"
SECRET_ROTATED = "CANARYrotated-8a7b6c5d4e3f2a1b"
BAD_KEY = "CANARYnot-a-valid-endpoint-key-42"
ENV = {
    "HF_TOKEN": DEPLOY_TOKEN,
    "GS_KEY": GENSTUDIO_KEY,
    "DB_PASSWORD": SECRET,
    "HFOPS_POLL_INTERVAL": "0.1",
}


def manifests(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    common = """  model:
    repository: gpt2
  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}
  secrets:
    DB_PASSWORD: {fromEnv: DB_PASSWORD}
"""
    (directory / "fleet.yaml").write_text(
        "apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {name: keyed, namespace: acme}\nspec:\n"
        + common
        + "  genstudio:\n    apiKey: {fromEnv: GS_KEY}\n"
        + "---\n"
        + "apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {name: fallback, namespace: acme}\nspec:\n"
        + common  # no genstudio.apiKey: the credential falls back to HF_TOKEN (allowed there only)
    )
    return directory


class Recorder:
    """Runs hfops commands in-process, each as from a fresh process, and keeps all they printed."""

    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run
        self.transcript: list[tuple[str, str]] = []

    def __call__(self, *args: str) -> Any:
        REDACTOR.clear()  # a new process knows no secrets until it reads them
        result = self._run(*args)
        self.transcript.append((" ".join(args), result.stdout + result.stderr))
        return result

    def leaks(self) -> list[str]:
        return [f"hfops {command}:\n{output}" for command, output in self.transcript if MARK in output]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    log = tmp_path / "emulator-requests.jsonl"
    emulator = Emulator(
        EmulatorConfig(provision_seconds=0.2, retry_after_seconds=0, echo_errors=True, request_log=str(log), seed=3)
    )
    emulator.start()
    for key, value in {**ENV, "HF_ENDPOINT": emulator.url, "HFOPS_API_URL": emulator.url + "/v2"}.items():
        monkeypatch.setenv(key, value)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # anything written to the working directory is scanned too
    try:
        yield {"emulator": emulator, "log": log, "tmp": tmp_path, "creds": tmp_path / "credentials"}
    finally:
        emulator.stop()


def files_with_canaries(root: Path, allowed: set[Path]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in allowed:
            if MARK.encode() in path.read_bytes():
                found.append(str(path))
    return found


def credential_files(creds: Path) -> set[Path]:
    return {p for p in creds.rglob("*.json")} if creds.exists() else set()


# ------------------------------------------------------------------------ every command


def test_canaries_never_leave_the_credential_files(
    world: dict[str, Any], run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator: Emulator = world["emulator"]
    tmp: Path = world["tmp"]
    creds = str(world["creds"])
    m = str(manifests(tmp / "manifests"))
    hfops = Recorder(run)

    # The happy path, every command and format.
    for fmt in ("text", "json"):
        assert hfops("validate", m, "--format", fmt).code == 0
        assert hfops("plan", m, "--format", fmt, "--credentials-dir", creds).code == 0
    assert hfops("plan", m, "--out", str(tmp / "saved-plan.json"), "--credentials-dir", creds).code == 0
    assert hfops("apply", str(tmp / "saved-plan.json"), "--credentials-dir", creds).code == 0
    assert hfops("plan", m, "--detailed-exitcode", "--credentials-dir", creds).code == 0
    for fmt in ("text", "json"):
        assert hfops("status", m, "--format", fmt).code == 0
        assert hfops("credentials", m, "--credentials-dir", creds, "--format", fmt).code == 0
        assert hfops("verify", m, "--credentials-dir", creds, "--format", fmt).code == 0
    assert json.loads((world["creds"] / "keyed.json").read_text())["api_key"] == GENSTUDIO_KEY
    assert json.loads((world["creds"] / "fallback.json").read_text())["api_key"] == DEPLOY_TOKEN

    # A rotated secret: the plan shows a change without the value; apply sends it in a PUT.
    monkeypatch.setenv("DB_PASSWORD", SECRET_ROTATED)
    changed = hfops("plan", m, "--detailed-exitcode", "--credentials-dir", creds)
    assert changed.code == 2 and "sensitive value" in changed.stdout
    assert (
        hfops("plan", m, "--format", "json", "--out", str(tmp / "rotated-plan.json"), "--credentials-dir", creds).code
        == 0
    )
    monkeypatch.setenv("HFOPS_DEBUG", "1")
    assert hfops("apply", m, "--yes", "--format", "json", "--credentials-dir", creds).code == 0
    assert hfops("plan", m, "--detailed-exitcode", "--credentials-dir", creds).code == 0

    # Import prints and writes manifests of live endpoints (secret keys only, never values).
    assert hfops("import", "acme/keyed", "--no-adopt").code == 0
    assert hfops("import", "acme/fallback", "--out", str(tmp / "imported.yaml")).code == 0

    # Failure paths: every API write answered 500, echoing the request (token and secrets).
    emulator.inject_fault("error", method="PUT", status=500, times=100)
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    failed = hfops("apply", m, "--yes", "--credentials-dir", creds)
    assert failed.code == 1 and "Internal Server Error" in failed.output
    failed = hfops("apply", m, "--yes", "--format", "json", "--credentials-dir", creds)
    assert failed.code == 1
    # ... every call answered 500 (reads too), with and without debug output.
    emulator.set_faults(fail_rate=1.0)
    for env_debug in ("1", ""):
        monkeypatch.setenv("HFOPS_DEBUG", env_debug)
        for args in (
            ("plan", m),
            ("plan", m, "--format", "json"),
            ("status", m),
            ("credentials", m, "--credentials-dir", creds),
            ("verify", m, "--credentials-dir", creds),
            ("destroy", m, "--yes"),
            ("import", "acme/keyed", "--no-adopt"),
        ):
            assert hfops(*args).code == 1, args
    emulator.set_faults(fail_rate=0.0)

    # The endpoint proxy rejects a wrong key, and a chat completion fails, both echoing the key.
    keyed = world["creds"] / "keyed.json"
    data = json.loads(keyed.read_text())
    keyed.write_text(json.dumps({**data, "api_key": BAD_KEY}))
    monkeypatch.setenv("HFOPS_DEBUG", "1")
    assert hfops("verify", m, "--credentials-dir", creds).code == 1
    keyed.write_text(json.dumps(data))
    emulator.inject_fault("error", path="/endpoints/*/v1/chat/completions", status=500, times=4)
    assert hfops("verify", m, "--credentials-dir", creds, "--format", "json").code == 1

    # A creation refused by the service (500 on every POST, echoing the body with the secret).
    for fmt in ("text", "json"):
        assert hfops("destroy", m, "--yes", "--format", fmt).code == 0
    emulator.inject_fault("error", method="POST", status=500, times=100)
    assert hfops("apply", m, "--yes", "--credentials-dir", creds).code == 1
    monkeypatch.setenv("HFOPS_DEBUG", "")

    assert emulator.pending_faults() >= 0
    leaks = hfops.leaks()
    assert not leaks, "canary printed:\n\n" + "\n\n".join(leaks)
    assert MARK not in world["log"].read_text()
    assert MARK not in (tmp / "saved-plan.json").read_text()
    assert MARK not in (tmp / "rotated-plan.json").read_text()
    assert MARK not in (tmp / "imported.yaml").read_text()
    allowed = credential_files(world["creds"])
    assert files_with_canaries(tmp, allowed) == []
    assert files_with_canaries(Path(os.environ["HF_HOME"]), set()) == []


def test_unauthorized_token_echoed_back_is_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Any
) -> None:
    """A wrong deploy token: the API and the Hub answer 401 and repeat the request, token included."""
    emulator = Emulator(
        EmulatorConfig(tokens=("hf_the_only_valid_token",), echo_errors=True, request_log=str(tmp_path / "log.jsonl"))
    )
    emulator.start()
    try:
        for key, value in {**ENV, "HF_ENDPOINT": emulator.url, "HFOPS_API_URL": emulator.url + "/v2"}.items():
            monkeypatch.setenv(key, value)
        m = str(manifests(tmp_path / "m"))
        hfops = Recorder(run)
        for debug in ("", "1"):
            monkeypatch.setenv("HFOPS_DEBUG", debug)
            for args in (
                ("plan", m),
                ("apply", m, "--yes", "--credentials-dir", str(tmp_path / "c")),
                ("status", m, "--format", "json"),
                ("destroy", m, "--yes"),
                ("import", "acme/keyed"),
            ):
                result = hfops(*args)
                assert result.code == 1, args
        assert any("401" in output or "token" in output.lower() for _, output in hfops.transcript)
        assert not hfops.leaks(), "\n\n".join(hfops.leaks())
        assert MARK not in (tmp_path / "log.jsonl").read_text()
        assert not (tmp_path / "c").exists() or not [p for p in (tmp_path / "c").iterdir() if p.name not in BOOKKEEPING]
    finally:
        emulator.stop()


def test_secret_with_json_special_characters_echoed_in_a_request_body(
    world: dict[str, Any], run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret holding a quote and a backslash appears JSON-escaped in an echoed request body.

    The redactor must know the forms a value takes on the wire, not only its raw text.
    """
    emulator: Emulator = world["emulator"]
    tricky = 'CANARY"quoted\\back-slashed-7d6c5b'
    monkeypatch.setenv("DB_PASSWORD", tricky)
    m = str(manifests(world["tmp"] / "manifests"))
    emulator.inject_fault("error", method="POST", status=500, times=100)
    hfops = Recorder(run)
    for fmt in ("text", "json"):
        result = hfops("apply", m, "--yes", "--format", fmt, "--credentials-dir", str(world["creds"]))
        assert result.code == 1
    assert not hfops.leaks(), "\n\n".join(hfops.leaks())


def test_import_of_credentials_kept_in_env_leaks_them_nowhere(
    world: dict[str, Any], run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint created outside hfops with tokens in `env` (a gated model's read token): import
    to stdout and to a file, plan it to a saved plan (text and json), apply that plan, plan again.
    No canary reaches a manifest, a plan, the output or any file."""
    from huggingface_hub import HfApi, constants

    emulator: Emulator = world["emulator"]
    tmp: Path = world["tmp"]
    creds = str(world["creds"])
    gated_token, other_token = "hf_fake_canary_gated_read_0000", "hf_fake_canary_other_00000000"
    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", emulator.url + "/v2")
    create_outside_hfops(
        HfApi(endpoint=emulator.url, token=DEPLOY_TOKEN),
        "gated",
        env={"HF_TOKEN": gated_token, "OTHER_TOKEN": other_token, "DB_PASSWORD": SECRET, "LOG_LEVEL": "info"},
        custom_image={"tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6"}},
        namespace="acme",
    )
    hfops = Recorder(run)
    printed = hfops("import", "acme/gated", "--no-adopt")
    assert printed.code == 0 and "GATED_HF_TOKEN" in printed.stderr
    assert "(sensitive value)" not in printed.stdout  # nothing redacted that could be applied back
    imported = tmp / "imported" / "gated.yaml"
    imported.parent.mkdir()
    assert hfops("import", "acme/gated", "--no-adopt", "--out", str(imported)).code == 0
    # The variables the notes name, holding the same canaries (the deploy token stays hfops' own).
    monkeypatch.setenv("GATED_HF_TOKEN", gated_token)
    monkeypatch.setenv("OTHER_TOKEN", other_token)
    for fmt in ("text", "json"):
        assert (
            hfops("plan", str(imported), "--adopt", "acme/gated", "--format", fmt, "--credentials-dir", creds).code == 0
        )
    saved = tmp / "imported-plan.json"
    assert (
        hfops("plan", str(imported), "--adopt", "acme/gated", "--out", str(saved), "--credentials-dir", creds).code == 0
    )
    monkeypatch.setenv("HFOPS_DEBUG", "1")
    assert hfops("apply", str(saved), "--credentials-dir", creds).code == 0
    assert hfops("plan", str(imported), "--detailed-exitcode", "--credentials-dir", creds).code == 0
    assert hfops("import", "acme/gated", "--no-adopt").code == 0  # now secrets: keys only
    monkeypatch.setenv("HFOPS_DEBUG", "")

    leaks = hfops.leaks()
    assert not leaks, "canary printed:\n\n" + "\n\n".join(leaks)
    assert MARK not in imported.read_text() and MARK not in saved.read_text()
    assert MARK not in world["log"].read_text()
    assert files_with_canaries(tmp, credential_files(world["creds"])) == []


# -------------------------------------------------------------- short secrets, echoed

SHORT_PIN, SHORT_KEY = "k9Z", "a1x"  # shorter than the redactor's substring minimum (6)
_TOKEN_CHAR = r"A-Za-z0-9_\-"


def whole(value: str) -> re.Pattern[str]:
    """`value` standing as a token of its own: how a server quotes it (the redactor masks a value
    this short only there, so that ordinary words containing it stay readable)."""
    return re.compile(rf"(?<![{_TOKEN_CHAR}]){re.escape(value)}(?![{_TOKEN_CHAR}])")


def test_short_secrets_echoed_by_the_server_are_masked_and_words_containing_them_are_not(
    world: dict[str, Any], run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3-character secret and a 3-character GenStudio key, quoted by the server in the message
    of its answer to the create (where the shown error keeps them: its first 300 characters) and
    in a failed deployment's status message. No whole occurrence of either reaches stdout, stderr,
    the JSON output, the saved plan or any file; "k9Zeta", "xa1x" and "a1x-b" are left alone.

    The echoed request alone would prove nothing here: the request headers fill the first 300
    characters of the shown error, so its body (with the secret) never gets that far.
    """
    emulator: Emulator = world["emulator"]
    tmp: Path = world["tmp"]
    creds = str(world["creds"])
    monkeypatch.setenv("PIN", SHORT_PIN)
    monkeypatch.setenv("SHORT_KEY", SHORT_KEY)
    directory = tmp / "short"
    directory.mkdir()
    (directory / "fleet.yaml").write_text(
        "apiVersion: hfops/v1\nkind: Endpoint\nmetadata: {name: shorty, namespace: acme}\nspec:\n"
        "  model: {repository: gpt2}\n"
        "  compute: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}\n"
        "  secrets:\n    PIN: {fromEnv: PIN}\n"
        "  genstudio:\n    apiKey: {fromEnv: SHORT_KEY}\n"
    )
    quoted = (
        f'invalid secrets: PIN="{SHORT_PIN}" is too short (PIN={SHORT_PIN}), key {SHORT_KEY}: '
        f"({SHORT_KEY}) unknown; see k9Zeta, xa1x and a1x-b for gpt2"
    )
    m = str(directory)
    hfops = Recorder(run)

    saved = tmp / "short-plan.json"
    assert hfops("plan", m, "--out", str(saved), "--credentials-dir", creds).code == 0
    assert hfops("plan", m, "--format", "json", "--credentials-dir", creds).code == 0
    refused = []
    for args, debug in (
        ((str(saved),), ""),
        ((m, "--yes"), "1"),
        ((m, "--yes", "--format", "json"), ""),
    ):
        emulator.inject_fault("error", method="POST", path="/v2/endpoint/acme", status=422, message=quoted)
        monkeypatch.setenv("HFOPS_DEBUG", debug)
        result = hfops("apply", *args, "--credentials-dir", creds)
        assert result.code == 1, result.output
        refused.append(result.output)
    monkeypatch.setenv("HFOPS_DEBUG", "")
    # The deployment then fails, its status message repeating the container's environment.
    emulator.fail_deploy("acme", "shorty", f"launcher: PIN={SHORT_PIN} KEY='{SHORT_KEY}' rejected; xa1x k9Zeta")
    crashed = hfops("apply", m, "--yes", "--credentials-dir", creds)
    assert crashed.code == 1, crashed.output

    # The quoted message did reach the user, at the places where the values stood.
    for output in refused:
        assert "invalid secrets: PIN=" in output, output
        assert "see k9Zeta, xa1x and a1x-b for gpt2" in output, "ordinary words are not masked"
    assert 'PIN="(sensitive value)" is too short (PIN=(sensitive value)), key (sensitive value):' in refused[0]
    assert "launcher: PIN=(sensitive value) KEY='(sensitive value)' rejected; xa1x k9Zeta" in crashed.output
    for value in (SHORT_PIN, SHORT_KEY):
        printed = [f"hfops {command}:\n{output}" for command, output in hfops.transcript if whole(value).search(output)]
        assert not printed, f"{value} printed:\n\n" + "\n\n".join(printed)
        assert not whole(value).search(saved.read_text())
        for path in tmp.rglob("*"):  # the request log, hfops' bookkeeping, anything written
            if path.is_file() and not path.is_symlink() and path not in credential_files(world["creds"]):
                assert not whole(value).search(path.read_text(errors="replace")), path


# -------------------------------------------------------------- permissions and symlinks


def test_credential_directory_0700_and_files_0600_whatever_the_umask(world: dict[str, Any], run: Any) -> None:
    tmp: Path = world["tmp"]
    creds = world["creds"]
    m = manifests(tmp / "manifests")
    text = (m / "fleet.yaml").read_text()
    (m / "fleet.yaml").write_text(
        text.replace("apiKey: {fromEnv: GS_KEY}\n", "apiKey: {fromEnv: GS_KEY}\n    file: team/keyed.json\n")
    )
    creds.mkdir(mode=0o700)
    old = {"api_key": "hf_old", "endpoint": "https://old", "model_name": "gpt2", "context_window": 1}
    (creds / "fallback.json").write_text(json.dumps(old))  # written by an older hfops, world-readable
    (creds / "fallback.json").chmod(0o644)
    previous = os.umask(0)
    try:
        result = run("apply", str(m), "--yes", "--credentials-dir", str(creds))
    finally:
        os.umask(previous)
    assert result.code == 0, result.output
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    assert stat.S_IMODE((creds / "team").stat().st_mode) == 0o700
    for path in (creds / "team" / "keyed.json", creds / "fallback.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert sorted(json.loads(path.read_text())) == ["api_key", "context_window", "endpoint", "model_name"]
    assert sorted(p.name for p in creds.rglob("*") if p.name not in BOOKKEEPING) == [
        "fallback.json",
        "keyed.json",
        "team",
    ]


def _secret_target(tmp: Path) -> Path:
    target = tmp / "elsewhere" / "precious.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text('{"keep": "me"}\n')
    target.chmod(0o644)
    return target


def _assert_untouched(target: Path) -> None:
    assert target.read_text() == '{"keep": "me"}\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir() if p.name not in BOOKKEEPING) == [target.name]


@pytest.mark.parametrize("command", ["apply", "credentials"])
def test_symlink_at_a_credential_file_is_refused_and_its_target_untouched(
    world: dict[str, Any], run: Any, command: str
) -> None:
    tmp: Path = world["tmp"]
    creds = world["creds"]
    m = str(manifests(tmp / "manifests"))
    target = _secret_target(tmp)
    if command == "credentials":
        assert run("apply", m, "--yes", "--credentials-dir", str(tmp / "first")).code == 0
    creds.mkdir(mode=0o700)
    (creds / "keyed.json").symlink_to(target)

    args = ["--yes"] if command == "apply" else []
    result = run(command, m, *args, "--credentials-dir", str(creds))

    assert result.code == 1
    assert "symlink" in result.stderr + result.stdout
    assert MARK not in result.output
    _assert_untouched(target)
    assert (creds / "keyed.json").is_symlink()
    assert [p.name for p in creds.iterdir() if p.name.startswith(".")] == []  # no temporary left over


def test_dangling_symlink_at_a_credential_file_is_not_followed(world: dict[str, Any], run: Any) -> None:
    tmp: Path = world["tmp"]
    creds = world["creds"]
    m = str(manifests(tmp / "manifests"))
    creds.mkdir(mode=0o700)
    planted = tmp / "planted" / "stolen.json"
    planted.parent.mkdir()
    (creds / "keyed.json").symlink_to(planted)

    result = run("apply", m, "--yes", "--credentials-dir", str(creds))

    assert result.code == 1 and "symlink" in result.output
    assert not planted.exists()
    assert list(planted.parent.iterdir()) == []


def test_symlinked_credentials_directory_is_refused(world: dict[str, Any], run: Any) -> None:
    tmp: Path = world["tmp"]
    m = str(manifests(tmp / "manifests"))
    real = tmp / "elsewhere"
    real.mkdir()
    link = tmp / "credentials-link"
    link.symlink_to(real, target_is_directory=True)

    result = run("apply", m, "--yes", "--credentials-dir", str(link))

    assert result.code == 1
    assert "symlink" in result.output
    assert list(real.iterdir()) == []


def test_symlinked_subdirectory_on_the_credential_path_is_refused(world: dict[str, Any], run: Any) -> None:
    tmp: Path = world["tmp"]
    creds = world["creds"]
    m = manifests(tmp / "manifests")
    text = (m / "fleet.yaml").read_text()
    (m / "fleet.yaml").write_text(
        text.replace("apiKey: {fromEnv: GS_KEY}\n", "apiKey: {fromEnv: GS_KEY}\n    file: team/keyed.json\n")
    )
    outside = tmp / "outside"
    outside.mkdir()
    creds.mkdir(mode=0o700)
    (creds / "team").symlink_to(outside, target_is_directory=True)

    result = run("apply", str(m), "--yes", "--credentials-dir", str(creds))

    assert result.code == 1 and "symlink" in result.output
    assert list(outside.iterdir()) == []


def test_destroy_never_deletes_through_a_symlink(world: dict[str, Any], run: Any) -> None:
    tmp: Path = world["tmp"]
    creds = world["creds"]
    m = str(manifests(tmp / "manifests"))
    assert run("apply", m, "--yes", "--credentials-dir", str(creds)).code == 0
    target = _secret_target(tmp)
    (creds / "keyed.json").unlink()
    (creds / "keyed.json").symlink_to(target)

    result = run("destroy", m, "--yes", "--credentials-dir", str(creds))

    assert result.code == 0, result.output
    _assert_untouched(target)
    assert not (creds / "fallback.json").exists()
