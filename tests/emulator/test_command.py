"""`python -m hfops.emulator` as a real process, its flags, the models file, and the Python lifecycle."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from hfops.emulator import Emulator, EmulatorConfig, ModelEntry, load_models_file
from hfops.emulator.command import emulator as emulator_command

from ._kit import http

SHA = "0123456789abcdef0123456789abcdef01234567"


@contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hfops.emulator", "--port", "0", "--provision-seconds", "0.1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        yield process, first
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_process_prints_url_first_and_stops_cleanly(sig: signal.Signals) -> None:
    with running() as (process, first):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", first)
        assert http("GET", f"{first}/v2/endpoint/acme").json() == {"items": []}
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        assert stdout == ""  # nothing after the URL line
        assert "Traceback" not in stderr


def test_process_models_file_and_tokens(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    models.write_text(
        json.dumps(
            [
                {
                    "id": "acme/house-model",
                    "pipeline_tag": "text-generation",
                    "sha": SHA,
                    "config": {"max_position_embeddings": 8192},
                    "gated": False,
                },
            ]
        )
    )
    log = tmp_path / "log.jsonl"
    with running(
        "--models", str(models), "--token", "hf_only", "--token", "hf_second", "--request-log", str(log)
    ) as (process, url):
        info = http("GET", f"{url}/api/models/acme/house-model", token="hf_only")
        assert info.status == 200
        assert (info.json()["sha"], info.json()["pipeline_tag"]) == (SHA, "text-generation")
        assert http("GET", f"{url}/api/models/gpt2", token="hf_second").status == 200
        assert http("GET", f"{url}/v2/endpoint/acme", token="hf_other").status == 401
        assert http("GET", f"{url}/v2/endpoint/acme", token="hf_only").status == 200
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        for secret in ("hf_only", "hf_second"):
            assert secret not in stdout + stderr
            assert secret not in log.read_text()
    assert len(log.read_text().splitlines()) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provision-seconds", "-1"], "--provision-seconds"),
        (["--fail-rate", "2"], "--fail-rate"),
        (["--time-scale", "0"], "--time-scale"),
        (["--port", "70000"], "--port"),
        (["--latency-ms", "nan"], "--latency-ms"),
        (["--token", " "], "--token"),
        (["--models", "/nonexistent/models.json"], "--models"),
        (["--no-such-flag"], "No such option"),
    ],
)
def test_process_bad_flags_exit_1(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hfops.emulator", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert message in result.stderr


def test_command_usage_errors_without_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x", "pipeline_tag": null, "sha": "nothex", "config": {}}]')
    result = CliRunner().invoke(emulator_command, ["--models", str(bad)])
    assert result.exit_code == 2  # click's usage error (the hfops CLI maps it to 1)
    assert "sha must be 40 lowercase hexadecimal characters" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"id": "x"}', "expected a JSON list"),
        ("[1]", "model #1: expected an object"),
        ('[{"id": "x", "sha": "' + SHA + '", "config": {}}]', "missing key(s) pipeline_tag"),
        (
            '[{"id": "x", "pipeline_tag": "t", "sha": "' + SHA + '", "config": {}, "colour": 1}]',
            "unknown key(s) colour",
        ),
        ('[{"id": "bad id!", "pipeline_tag": "t", "sha": "' + SHA + '", "config": {}}]', "invalid model id"),
        (
            '[{"id": "x", "pipeline_tag": "t", "sha": "' + SHA + '", "config": []}]',
            "config must be an object",
        ),
        (
            '[{"id": "x", "pipeline_tag": "t", "sha": "' + SHA + '", "config": {}, "gated": "yes"}]',
            "gated must be",
        ),
        (
            '[{"id": "x", "pipeline_tag": "t", "sha": "'
            + SHA
            + '", "config": {}, "revisions": {"v1": "main"}}]',
            "revision 'v1'",
        ),
        (
            '[{"id": "x", "pipeline_tag": "t", "sha": "' + SHA + '", "config": {}},'
            ' {"id": "x", "pipeline_tag": "t", "sha": "' + SHA + '", "config": {}}]',
            "duplicate model id",
        ),
    ],
)
def test_load_models_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "models.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        load_models_file(str(path))
    assert str(path) in str(caught.value)


def test_load_models_file(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "org/gated-one",
                    "pipeline_tag": "text-generation",
                    "sha": SHA,
                    "config": {"n_positions": 2048},
                    "gated": True,
                    "revisions": {"v1.0": SHA},
                },
                {"id": "plain", "pipeline_tag": None, "sha": SHA, "config": {}},
            ]
        )
    )
    gated, plain = load_models_file(str(path))
    assert gated == ModelEntry(
        id="org/gated-one",
        pipeline_tag="text-generation",
        sha=SHA,
        config={"n_positions": 2048},
        gated="manual",
        revisions={"v1.0": SHA},
    )
    assert gated.context_length == 2048
    assert (plain.gated, plain.pipeline_tag, plain.context_length) == (False, None, None)
    with pytest.raises(ValueError, match="cannot read"):
        load_models_file(str(tmp_path / "missing.json"))


def test_config_validation_and_token_privacy() -> None:
    for bad in (
        {"port": -1},
        {"provision_seconds": -0.5},
        {"time_scale": 0},
        {"fail_rate": 1.1},
        {"latency_ms": -1},
        {"retry_after_seconds": -1},
        {"tokens": ("",)},
    ):
        with pytest.raises(ValueError):
            EmulatorConfig(**bad)  # type: ignore[arg-type]
    config = EmulatorConfig(tokens=("hf_private_value",))
    assert "hf_private_value" not in repr(config)


def test_emulator_lifecycle() -> None:
    emulator = Emulator(EmulatorConfig(provision_seconds=0))
    with pytest.raises(RuntimeError):
        _ = emulator.url
    with emulator:
        url = emulator.url
        assert emulator.start() == url
        assert http("GET", f"{url}/v2/endpoint/acme").status == 200
        # provision_seconds=0: running as soon as created.
        created = http(
            "POST",
            f"{url}/v2/endpoint/acme",
            payload={
                "name": "instant",
                "type": "public",
                "provider": {"vendor": "aws", "region": "us-east-1"},
                "compute": {
                    "accelerator": "cpu",
                    "instanceType": "intel-icl",
                    "instanceSize": "x1",
                    "scaling": {"minReplica": 1, "maxReplica": 1},
                },
                "model": {"repository": "gpt2", "framework": "pytorch", "image": {"huggingface": {}}},
            },
        )
        assert created.status == 202
        assert created.json()["status"]["state"] == "running"
        assert created.json()["model"]["task"] == "text-generation"
    emulator.stop()  # idempotent
    with pytest.raises(OSError):
        http("GET", f"{url}/v2/endpoint/acme", timeout=2)
    with pytest.raises(RuntimeError):
        emulator.start()
