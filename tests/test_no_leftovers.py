"""What a killed run leaves in the temporary directory, and where `hfops demo` connects.

Real processes (the `hfops` console script), a private TMPDIR and HF_HOME each, SIGKILL at a
point held open by the emulator (a slow config.json) or found on disk (the demo's directory).
The demo runs behind a recording proxy: every request it makes beyond 127.0.0.1 would go there.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import endpoint_manifest

HFOPS = str(Path(sys.executable).with_name("hfops"))
TOKEN = "hf_leftovers_deploy_token_0123456789"


def until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def hfops_leftovers(temp: Path) -> list[str]:
    return sorted(p.name for p in temp.iterdir() if p.name.startswith("hfops-"))


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HFOPS_", "HUGGING"))}
    env.update({"TMPDIR": str(temp), "HF_HOME": str(tmp_path / "hf-home"), "PYTHONUNBUFFERED": "1", **extra})
    return env


def test_kill_9_while_reading_a_model_config_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    with Emulator(EmulatorConfig(provision_seconds=0.2, retry_after_seconds=0)) as emulator:
        manifest = tmp_path / "m.yaml"
        manifest.write_text(endpoint_manifest("svc"))
        env = isolated_env(tmp_path, HF_TOKEN=TOKEN, HF_ENDPOINT=emulator.url, HFOPS_API_URL=emulator.url + "/v2")
        emulator.inject_fault("delay", method="GET", path="/gpt2/resolve/*", ms=20_000)
        process = subprocess.Popen(
            [HFOPS, "plan", str(manifest)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            until(lambda: emulator.pending_faults() == 0, "the config.json download to start")
            time.sleep(0.2)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        finally:
            process.kill()
        assert hfops_leftovers(tmp_path / "tmp") == []


class RecordingProxy:
    """A proxy that records the request line of every connection made through it, and refuses it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self._server.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    self.seen.append(connection.recv(4096).decode("latin-1").split("\r\n", 1)[0])
                    connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    recorder = RecordingProxy()
    try:
        yield recorder
    finally:
        recorder.close()


def proxied_env(tmp_path: Path, proxy: RecordingProxy) -> dict[str, str]:
    """Every request beyond 127.0.0.1 goes through the recording proxy (and fails there)."""
    return isolated_env(
        tmp_path,
        HTTPS_PROXY=proxy.url,
        HTTP_PROXY=proxy.url,
        ALL_PROXY=proxy.url,
        https_proxy=proxy.url,
        http_proxy=proxy.url,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )


def test_demo_makes_no_request_beyond_loopback(tmp_path: Path, proxy: RecordingProxy) -> None:
    """huggingface_hub fetches its agent-harness registry from the Hub on its first request; a
    failed fetch is silent, so the demo succeeding proves nothing: the proxy must see nothing."""
    result = subprocess.run([HFOPS, "demo"], env=proxied_env(tmp_path, proxy), capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
    assert proxy.seen == [], f"the demo went beyond 127.0.0.1: {proxy.seen}"
    assert not (tmp_path / "hf-home" / ".agent_harnesses.json").exists()  # the user's Hub cache is untouched


def test_the_next_demo_removes_what_a_killed_demo_left(tmp_path: Path, proxy: RecordingProxy) -> None:
    env = proxied_env(tmp_path, proxy)
    temp = tmp_path / "tmp"
    killed = subprocess.Popen([HFOPS, "demo"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(lambda: any(temp.glob("hfops-demo-*/credentials/*.json")), "the killed demo's first credential")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
    finally:
        killed.kill()
    (left,) = temp.glob("hfops-demo-*")  # marked as in use by a process that is gone

    result = subprocess.run([HFOPS, "demo"], env=env, capture_output=True, text=True, timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    assert not left.exists()
    (kept,) = temp.glob("hfops-demo-*")  # a finished demo keeps only its credentials
    assert sorted(p.name for p in kept.iterdir()) == ["credentials"]
    assert f"Credentials written to {kept / 'credentials'}" in result.stderr
    assert hfops_leftovers(temp) == [kept.name]
    assert proxy.seen == []
