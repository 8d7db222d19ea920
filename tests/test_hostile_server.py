"""A hostile or broken API: redirects elsewhere, http endpoint URLs, garbage, huge bodies, escapes.

Each test points the real client (through `hfops` itself, in-process or as a process) at an
emulator started with one of its hostile-server fault modes, and checks what a user sees: the
exit code, a located error naming the operation, nothing sent where it must not go (a second
listener on 127.0.0.2, which is loopback but not one of the hosts hfops lets use plain http),
and nothing printed that a server should not be able to make a terminal do.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hfops.emulator import Emulator, EmulatorConfig

TOKEN = "hf_hostile_deploy_token_0123456789"
SECRET = "hostile-db-password-5e8d1b7c"
HFOPS = str(Path(sys.executable).with_name("hfops"))
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class Listener:
    """A TCP listener on 127.0.0.2 that records whatever arrives (it should be nothing)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.2", 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.2:{self.port}"
        self.received: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(1.0)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                self.received.append(data)
                body = b'{"items": []}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n%s" % (len(body), body)
                )

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(timeout=2)


@pytest.fixture
def listener() -> Iterator[Listener]:
    other = Listener()
    try:
        yield other
    finally:
        other.close()


def manifest(directory: Path, *names: str, secrets: dict[str, str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    secret_lines = "".join(f"    {k}: {{fromEnv: {k}}}\n" for k in (secrets or {"DB_PASSWORD": ""}))
    docs = [
        f"""apiVersion: hfops/v1
kind: Endpoint
metadata: {{name: {name}, namespace: acme}}
spec:
  model:
    repository: gpt2
  compute: {{vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}}
  secrets:
{secret_lines}"""
        for name in names
    ]
    (directory / "fleet.yaml").write_text("---\n".join(docs))
    return directory


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Emulator]]:
    """Start an emulator with the given config options; the environment points hfops at it."""
    started: list[Emulator] = []

    def start(**options: Any) -> Emulator:
        options.setdefault("provision_seconds", 0.2)
        options.setdefault("retry_after_seconds", 0.0)
        emulator = Emulator(EmulatorConfig(**options))
        emulator.start()
        started.append(emulator)
        for key, value in {
            "HF_TOKEN": TOKEN,
            "HF_ENDPOINT": emulator.url,
            "HFOPS_API_URL": emulator.url + "/v2",
            "HFOPS_POLL_INTERVAL": "0.1",
            "DB_PASSWORD": SECRET,
        }.items():
            monkeypatch.setenv(key, value)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] in ("POST", "PUT")]


# ---------------------------------------------------------------- item 2: secrets to elsewhere


def test_a_cross_origin_307_on_create_is_not_followed(
    hostile: Callable[..., Emulator], listener: Listener, run: Any, tmp_path: Path
) -> None:
    emulator = hostile(redirect_writes_to=listener.url)
    result = run("apply", str(manifest(tmp_path / "m", "chat")), "--yes", "--credentials-dir", str(tmp_path / "c"))

    assert result.code == 1, result.output
    assert listener.connections == 0 and listener.received == [], "the body with the secrets went elsewhere"
    assert "create acme/chat" in result.output and "redirects to another origin" in result.output
    assert f"127.0.0.2:{listener.port}" in result.output
    assert "unexpected" not in result.output and SECRET not in result.output
    assert [r["status"] for r in writes(emulator)] == [307], "refused at once, not retried"


def test_a_cross_origin_307_on_update_is_not_followed(
    hostile: Callable[..., Emulator], listener: Listener, run: Any, tmp_path: Path
) -> None:
    emulator = hostile()
    directory = manifest(tmp_path / "m", "chat")
    assert run("apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "c")).code == 0
    (directory / "fleet.yaml").write_text((directory / "fleet.yaml").read_text().replace("x1", "x2"))
    emulator.inject_fault("redirect", method="PUT", location=listener.url, times=10)
    result = run("apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "c"))

    assert result.code == 1, result.output
    assert listener.connections == 0, "the PUT (secrets in its body) was re-sent to another host"
    assert "update acme/chat" in result.output and "redirects to another origin" in result.output
    assert "unexpected" not in result.output


def test_a_cross_origin_redirect_on_a_read_is_not_followed(
    hostile: Callable[..., Emulator], listener: Listener, run: Any, tmp_path: Path
) -> None:
    emulator = hostile()
    emulator.inject_fault("redirect", method="GET", path="/v2/endpoint/acme", location=listener.url, times=10)
    result = run("plan", str(manifest(tmp_path / "m", "chat")))

    assert result.code == 1, result.output
    assert listener.connections == 0, "the list (with the token's answer trusted) was read from another host"
    assert "list endpoints in acme" in result.output and "redirects to another origin" in result.output
    assert "unexpected" not in result.output


def test_an_http_endpoint_url_on_another_host_gets_no_token_and_no_credential(
    hostile: Callable[..., Emulator], listener: Listener, run: Any, tmp_path: Path
) -> None:
    hostile(endpoint_url_base=listener.url)
    creds = tmp_path / "c"
    result = run("apply", str(manifest(tmp_path / "m", "chat")), "--yes", "--credentials-dir", str(creds))

    assert result.code == 1, result.output
    assert listener.connections == 0, "health or /info was sent (with the deploy token) to the http URL"
    assert "acme/chat" in result.output and "not https" in result.output
    assert f"http://127.0.0.2:{listener.port}/endpoints/" in result.output
    assert not creds.exists() or not list(creds.glob("*.json")), "a credential was written for an http URL"
    assert "unexpected" not in result.output

    # Every later read refuses it too, with the same located error (verify never sends the key).
    verify = run("verify", str(tmp_path / "m"), "--credentials-dir", str(creds))
    assert verify.code == 1 and "not https" in verify.output and listener.connections == 0


def test_no_token_over_plain_http_to_a_remote_api(
    listener: Listener, run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", listener.url)
    monkeypatch.setenv("HFOPS_API_URL", listener.url + "/v2")
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    result = run("plan", str(manifest(tmp_path / "m", "chat")))

    assert result.code == 1, result.output
    assert listener.connections == 0, "the token was sent over plain http"
    assert "refusing to send a token over plain http" in result.output and "127.0.0.2" in result.output
    assert "unexpected" not in result.output


# ---------------------------------------------------------------- item 6: 429 storms and signals


class Process:
    def __init__(self, emulator: Emulator, tmp_path: Path, *args: str, launcher: list[str] | None = None) -> None:
        self.err = tmp_path / "stderr"
        self.out = tmp_path / "stdout"
        env = {
            **os.environ,
            "HF_TOKEN": TOKEN,
            "HF_ENDPOINT": emulator.url,
            "HFOPS_API_URL": emulator.url + "/v2",
            "HFOPS_POLL_INTERVAL": "0.1",
            "DB_PASSWORD": SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [*(launcher or []), HFOPS, *args], stdout=self.out.open("w"), stderr=self.err.open("w"), env=env, text=True
        )
        self.started = time.monotonic()

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"hfops did not exit within {timeout}s\n{self.output}")

    @property
    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()


def until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def creates(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] == "POST" and r["path"] == "/v2/endpoint/acme"]


def test_a_retry_after_beyond_the_wait_limit_fails_fast_with_the_reason(tmp_path: Path) -> None:
    with Emulator(EmulatorConfig(provision_seconds=0.2, retry_after_seconds=3600)) as emulator:
        emulator.inject_fault("error", method="POST", path="/v2/endpoint/acme", status=429, times=100)
        directory = manifest(tmp_path / "m", "one", "two")
        run = Process(emulator, tmp_path, "apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "c"))
        code = run.wait(timeout=20)

        assert code == 1, run.output
        assert len(creates(emulator)) == 2, "one POST per endpoint, none retried"
        assert "retry after 3600s, longer than hfops waits" in run.output
        assert "create acme/one" in run.output and "(HTTP 429)" in run.output
        assert "Traceback" not in run.output


def test_sigint_during_a_429_wait_exits_at_once_and_posts_nothing_more(tmp_path: Path) -> None:
    with Emulator(EmulatorConfig(provision_seconds=0.2, retry_after_seconds=30)) as emulator:
        emulator.inject_fault("error", method="POST", path="/v2/endpoint/acme", status=429, times=100)
        directory = manifest(tmp_path / "m", "one", "two", "three")
        run = Process(
            emulator, tmp_path, "apply", str(directory), "--yes", "--parallelism", "1",
            "--credentials-dir", str(tmp_path / "c"),
        )
        until(lambda: len(creates(emulator)) >= 1, "the first create")
        time.sleep(1.5)  # inside the 30 s Retry-After wait
        signalled = time.time()
        run.process.send_signal(signal.SIGINT)
        code = run.wait(timeout=10)
        took = time.time() - signalled

        assert code == 1, run.output
        assert took < 5, f"exited {took:.1f}s after SIGINT"
        assert [r for r in creates(emulator) if r["t"] > signalled] == [], "a POST after the interrupt"
        assert len(creates(emulator)) == 1
        assert "Received SIGINT" in run.output and "interrupted" in run.output
        assert "Traceback" not in run.output


def test_sigint_during_a_429_wait_in_plan_exits_at_once(tmp_path: Path) -> None:
    with Emulator(EmulatorConfig(provision_seconds=0.2, retry_after_seconds=30)) as emulator:
        emulator.inject_fault("error", method="GET", path="/v2/endpoint/acme", status=429, times=100)
        run = Process(emulator, tmp_path, "plan", str(manifest(tmp_path / "m", "one")))

        def lists() -> list[dict[str, Any]]:
            return [r for r in emulator.requests() if r["path"] == "/v2/endpoint/acme"]

        until(lambda: len(lists()) >= 1, "the plan's first read")
        time.sleep(1.5)
        signalled = time.time()
        run.process.send_signal(signal.SIGINT)
        code = run.wait(timeout=10)

        assert code == 1, run.output
        assert time.time() - signalled < 5
        assert [r for r in lists() if r["t"] > signalled] == [], "a request after the interrupt"
        assert "list endpoints in acme: interrupted" in run.output
        assert "Traceback" not in run.output


# ---------------------------------------------------------------- item 9: short secrets echoed


@pytest.mark.parametrize("short", ["k9Z", "a1", "Qx7p"])
def test_short_secrets_echoed_by_the_server_are_redacted_and_words_are_not(
    hostile: Callable[..., Emulator], run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, short: str
) -> None:
    emulator = hostile(echo_errors=True)
    monkeypatch.setenv("PIN", short)
    directory = manifest(tmp_path / "m", "chat", secrets={"PIN": ""})
    # The container echoes its environment in its failure reason (as a crashing launcher would).
    emulator.fail_deploy("acme", "chat", f'launcher: PIN={short} rejected; value "{short}" ({short}), '
                         f"see {short}x and x{short} in the logs of gpt2")
    result = run("apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "c"))

    assert result.code == 1, result.output
    assert "launcher: PIN=(sensitive value) rejected" in result.output
    assert f'value "{short}"' not in result.output and f"({short})" not in result.output
    assert re.search(rf"(?<![A-Za-z0-9_-]){re.escape(short)}(?![A-Za-z0-9_-])", result.output) is None
    # Ordinary words that merely contain the value are left alone.
    assert f"see {short}x and x{short}" in result.output and "gpt2" in result.output


# ---------------------------------------------------------------- item 10: garbage and size


@pytest.mark.parametrize("kind", ["json", "html", "shape", "deep"])
def test_a_malformed_answer_is_a_located_remote_error(
    hostile: Callable[..., Emulator], run: Any, tmp_path: Path, kind: str
) -> None:
    emulator = hostile(malformed_rate=1.0, malformed_kind=kind)
    result = run("plan", str(manifest(tmp_path / "m", "chat")))

    assert result.code == 1, result.output
    assert "list endpoints in acme: the answer is not what the API returns" in result.output
    assert f"the endpoints API at {emulator.url}/v2 did not answer with its JSON" in result.output
    assert "unexpected" not in result.output and "Traceback" not in result.output
    lists = [r for r in emulator.requests() if r["path"] == "/v2/endpoint/acme"]
    assert len(lists) == 6, "a read is retried (6 attempts in all) before giving up"


def test_one_malformed_answer_is_retried_and_the_run_succeeds(
    hostile: Callable[..., Emulator], run: Any, tmp_path: Path
) -> None:
    emulator = hostile()
    emulator.inject_fault("malformed_html", method="GET", path="/v2/endpoint/acme")
    emulator.inject_fault("malformed_json", method="POST", path="/v2/endpoint/acme")
    result = run("apply", str(manifest(tmp_path / "m", "chat")), "--yes", "--credentials-dir", str(tmp_path / "c"))

    assert result.code == 0, result.output
    assert emulator.endpoint_raw("acme", "chat") is not None
    assert (tmp_path / "c" / "chat.json").exists()
    posts = [r["status"] for r in creates(emulator)]
    assert posts == [202, 409], "the garbled create answer is retried; the 409 read back finds it"


def test_an_oversized_answer_is_capped_while_streaming(tmp_path: Path) -> None:
    with Emulator(EmulatorConfig(provision_seconds=0.2, retry_after_seconds=0, oversized_mb=300)) as emulator:
        # hfops runs under a small launcher that reports its child's peak: a child forked straight
        # from this (large, long-lived) pytest process would count pytest's pages in its own peak.
        peak_file = tmp_path / "peak"
        launcher = (
            "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
            "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
            "sys.exit(code)"
        )
        run = Process(
            emulator, tmp_path, "plan", str(manifest(tmp_path / "m", "chat")),
            launcher=[sys.executable, "-c", launcher, str(peak_file)],
        )
        run.wait(120)

        assert run.process.returncode == 1, run.output
        assert "list endpoints in acme" in run.output and "larger than 32 MiB" in run.output
        assert "unexpected" not in run.output
        peak_mb = int(peak_file.read_text()) / 1024  # kilobytes on Linux
        assert peak_mb < 250, f"hfops peaked at {peak_mb:.0f} MB reading a 300 MB answer"


def test_escape_sequences_from_the_server_never_reach_the_terminal(
    hostile: Callable[..., Emulator], run: Any, tmp_path: Path
) -> None:
    emulator = hostile(escape_errors=True)
    # The two are created in parallel, so "the next POST" would be either's: "other" lives in
    # another namespace, and the 422 is scripted on acme's create path only, so it always meets
    # "chat" and "other" always gets created and crashes.
    emulator.inject_fault("error", method="POST", path="/v2/endpoint/acme", status=422)
    emulator.fail_deploy("beta", "other", "\x1b]0;owned\x07crashed\x1b[2K\r\x9b1A: exit 137")
    directory = manifest(tmp_path / "m", "chat", "other")
    fleet = directory / "fleet.yaml"
    fleet.write_text(fleet.read_text().replace("{name: other, namespace: acme}", "{name: other, namespace: beta}"))
    result = run("apply", str(directory), "--yes", "--credentials-dir", str(tmp_path / "c"))

    assert result.code == 1, result.output
    assert "Unprocessable Entity" in result.output, "the server's message itself is kept"
    assert "crashed: exit 137" in result.output
    posts = sorted((r["path"], r["status"]) for r in emulator.requests() if r["method"] == "POST")
    assert posts == [("/v2/endpoint/acme", 422), ("/v2/endpoint/beta", 202)], "the 422 met chat's create"
    assert "owned" not in result.output and "pwned" not in result.output, "an OSC payload was printed"
    assert CONTROL.findall(result.output.replace("\n", "").replace("\t", "")) == []


def test_emulator_help_lists_the_hostile_server_modes(run: Any) -> None:
    result = run("emulator", "--help")
    for flag in (
        "--redirect-writes-to", "--endpoint-url-base", "--malformed-rate", "--malformed-kind",
        "--oversized-mb", "--escape-errors",
    ):
        assert flag in result.stdout, flag
    default = EmulatorConfig()
    assert (default.redirect_writes_to, default.endpoint_url_base, default.malformed_rate) == (None, None, 0.0)
    assert (default.oversized_mb, default.escape_errors) == (0.0, False)
    assert json.loads(json.dumps(default.malformed_kind)) == "json"
