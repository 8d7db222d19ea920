"""`command:` credential outputs, with real child processes (a script that records what it got)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from hfops.adapters.sinks.command import CommandSink, clean_stderr
from hfops.adapters.sinks.ledger import LEDGER_NAME, Ledger, content_fingerprint
from hfops.core.credentials import Target
from hfops.core.errors import CredentialsError
from hfops.core.redact import MASK, REDACTOR

KEY = "hf_genstudio_key_0123456789abcdef"
TOKEN = "hf_deploy_token_abcdefghijklmnop"
CREDENTIAL = json.dumps(
    {"api_key": KEY, "endpoint": "https://x.endpoints.huggingface.cloud", "model_name": "m/m", "context_window": 4096}
).encode()
TARGET = Target("team", "llama", "ci")

RECORDER = """#!{python}
import json, os, sys
record = {{"argv": sys.argv[1:], "stdin": sys.stdin.read(), "env": dict(os.environ)}}
with open(os.environ["RECORD_TO"], "a") as out:
    out.write(json.dumps(record) + "\\n")
"""

FAILING = """#!/bin/sh
cat >/dev/null
printf 'vault: \\033[31mpermission denied\\033[0m for %s\\n' "$LEAK" >&2
printf 'echoing what I got: ' >&2
printf '{"api_key": "hf_genstudio_key_0123\\033[0m456789abcdef"}\\n' >&2
exit 3
"""


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HF_TOKEN": TOKEN,
        "GENSTUDIO_KEY": KEY,
        "DB_PASSWORD": "s3cr3t-value",
        "KEEP_ME": "yes",
        "RECORD_TO": str(tmp_path / "records.jsonl"),
        "LEAK": "no leak",
    }


SECRETS = ("HF_TOKEN", "GENSTUDIO_KEY", "DB_PASSWORD")


def test_write_gives_the_json_on_stdin_and_nothing_secret_in_argv_or_env(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    program = script(tmp_path, "store", RECORDER.format(python=sys.executable))
    ledger = Ledger(tmp_path / "creds")
    output = CommandSink(
        (str(program), "kv", "put", "secret/llama", "credential=-"), ledger, env=environment, secret_env_names=SECRETS
    )
    assert output.check() == []
    assert output.read().state == "absent"
    output.write(CREDENTIAL, TARGET)

    [got] = records(tmp_path / "records.jsonl")
    assert got["stdin"] == CREDENTIAL.decode()
    assert got["argv"] == ["kv", "put", "secret/llama", "credential=-"]
    env = got["env"]
    assert isinstance(env, dict)
    assert not set(SECRETS) & set(env)
    assert env["KEEP_ME"] == "yes"
    assert (env["HFOPS_CREDENTIAL_ACTION"], env["HFOPS_ENDPOINT_NAMESPACE"], env["HFOPS_ENDPOINT_NAME"]) == (
        "write",
        "team",
        "llama",
    )
    assert KEY not in json.dumps(got["argv"]) + json.dumps(env)
    assert TOKEN not in json.dumps(env)

    held = output.read()
    assert (held.state, held.address, held.owner, held.content) == ("ours", "team/llama", "ci", None)
    assert held.digest == content_fingerprint(CREDENTIAL, ledger.salt())
    assert KEY not in (tmp_path / "creds" / LEDGER_NAME).read_text()

    output.remove(Target("team", "other", "ci"))  # recorded for another endpoint: not run
    assert len(records(tmp_path / "records.jsonl")) == 1
    output.remove(TARGET)
    deleted = records(tmp_path / "records.jsonl")[-1]
    assert deleted["stdin"] == ""
    assert deleted["env"]["HFOPS_CREDENTIAL_ACTION"] == "delete"  # type: ignore[index]
    assert output.read().state == "absent"
    output.remove(TARGET)  # nothing recorded: not run again
    assert len(records(tmp_path / "records.jsonl")) == 2


def test_a_program_on_path_is_found_by_name(tmp_path: Path, environment: dict[str, str]) -> None:
    script(tmp_path, "store-credential", RECORDER.format(python=sys.executable))
    environment["PATH"] = f"{tmp_path}{os.pathsep}{environment['PATH']}"
    output = CommandSink(("store-credential",), Ledger(tmp_path / "c"), env=environment, secret_env_names=SECRETS)
    assert output.check() == []
    output.write(CREDENTIAL, TARGET)
    assert records(tmp_path / "records.jsonl")[0]["stdin"] == CREDENTIAL.decode()


def test_a_failing_command_fails_the_credential_with_its_stderr_redacted(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    program = script(tmp_path, "vault", FAILING)
    environment["LEAK"] = "s3cr3t-token-value"
    REDACTOR.add("s3cr3t-token-value")
    try:
        ledger = Ledger(tmp_path / "creds")
        output = CommandSink((str(program), "kv", "put"), ledger, env=environment, secret_env_names=SECRETS)
        with pytest.raises(CredentialsError) as caught:
            output.write(CREDENTIAL, TARGET)
    finally:
        REDACTOR.clear()
    message = caught.value.message
    assert str(program) in message and "exited with code 3" in message
    assert "permission denied" in message
    assert "s3cr3t-token-value" not in message and KEY not in message and "456789abcdef" not in message
    assert MASK in message
    assert "\x1b" not in message
    assert output.read().state == "absent", "a failed write is not recorded"


def test_a_missing_program_is_reported_by_check_and_fails_the_write(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    for argv in (("no-such-program-hfops",), (str(tmp_path / "missing"),)):
        output = CommandSink(argv, Ledger(tmp_path / "c"), env=environment, secret_env_names=SECRETS)
        [problem] = output.check()
        assert argv[0] in problem
        with pytest.raises(CredentialsError, match="not found"):
            output.write(CREDENTIAL, TARGET)


def test_a_command_that_hangs_is_stopped(tmp_path: Path, environment: dict[str, str]) -> None:
    program = script(tmp_path, "hang", "#!/bin/sh\nsleep 30 &\nsleep 30\n")
    output = CommandSink(
        (str(program),), Ledger(tmp_path / "c"), env=environment, secret_env_names=SECRETS, timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(CredentialsError, match=r"did not finish within 0\.5s"):
        output.write(CREDENTIAL, TARGET)
    assert time.monotonic() - started < 5, "the whole process group is stopped, pipes and all"


def test_describe_is_one_short_line_without_content(tmp_path: Path) -> None:
    output = CommandSink(("vault", "kv", "put", "x" * 200), Ledger(tmp_path), env={}, secret_env_names=())
    assert output.describe().startswith("command vault kv put ")
    assert len(output.describe()) <= 90
    assert output.output_id == 'command:["vault","kv","put","' + "x" * 200 + '"]'


def test_clean_stderr_strips_control_sequences_before_redacting_and_keeps_the_tail() -> None:
    text = "\x1b]0;title\x07ok \x1b[1mhf_" + "a" * 5 + "\x1b[0m" + "b" * 20 + "\r\nend" + "z" * 600
    cleaned = clean_stderr(text)
    assert "\x1b" not in cleaned and "\x07" not in cleaned
    assert len(cleaned) <= 503 and cleaned.endswith("z" * 10)
    assert "hf_aaaaa" not in clean_stderr("x hf_aaaaa\x1b[0mbbbbbbbbbbbbb y")
