"""Connection-level fault modes: dropped connections, lost answers, stalls, slow bodies, echoed errors.

These are the faults a client meets on a real network between it and the Inference Endpoints API:
a request that never got an answer (was it carried out?), an answer that arrives slowly, and a
careless server that repeats the request, Authorization header included, in its error message.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import subprocess
import sys
import time
import urllib.error
from http.client import HTTPException, RemoteDisconnected
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from hfops.emulator import Emulator, EmulatorConfig

from ._kit import NS, TOKEN, create_body, create_tgi, http, start_emulator


def unanswered(method: str, url: str, **kwargs: object) -> BaseException:
    """Make a request that must get no answer at all; return what the client raised."""
    with pytest.raises((RemoteDisconnected, ConnectionError, urllib.error.URLError)) as caught:
        http(method, url, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_drop_rate_one_closes_every_api_and_hub_connection_unanswered(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, drop_rate=1.0)
    try:
        unanswered("GET", f"{emulator.url}/v2/endpoint/{NS}")
        unanswered("GET", f"{emulator.url}/api/models/gpt2")
        unanswered("POST", f"{emulator.url}/v2/endpoint/{NS}", payload=create_body())
        # A dropped request is not carried out.
        assert emulator.endpoint_raw(NS, "raw-endpoint") is None
        log = emulator.requests()
        assert [(r["method"], r["status"], r["fault"]) for r in log] == [
            ("GET", 0, "drop"),
            ("GET", 0, "drop"),
            ("POST", 0, "drop"),
        ]
    finally:
        emulator.stop()


def test_lost_response_carries_out_the_write_then_a_retry_gets_409(emu: Emulator, api: HfApi) -> None:
    emu.inject_fault("lost_response", method="POST", path=f"/v2/endpoint/{NS}")
    assert emu.pending_faults() == 1
    with pytest.raises(httpx2.TransportError):
        create_tgi(api, "lost-answer")
    assert emu.pending_faults() == 0
    raw = emu.endpoint_raw(NS, "lost-answer")
    assert raw is not None, "the create was carried out even though its answer was lost"
    with pytest.raises(HfHubHTTPError) as caught:
        create_tgi(api, "lost-answer")
    assert caught.value.response.status_code == 409
    posts = [r for r in emu.requests() if r["method"] == "POST"]
    assert [(r["status"], r.get("fault")) for r in posts] == [(202, "lost_response"), (409, None)]


def test_lost_response_never_applies_to_reads(emu: Emulator) -> None:
    emu.inject_fault("lost_response", path="/v2/*")
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}").status == 200
    assert emu.pending_faults() == 1  # still waiting for a write
    unanswered("DELETE", f"{emu.url}/v2/endpoint/{NS}/nothing-here")  # even a 404 can be lost
    assert emu.pending_faults() == 0
    assert [(r["method"], r["status"], r.get("fault")) for r in emu.requests()] == [
        ("GET", 200, None),
        ("DELETE", 404, "lost_response"),
    ]


def test_lost_response_rate_applies_to_writes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, lost_response_rate=1.0)
    try:
        for _ in range(5):
            assert http("GET", f"{emulator.url}/v2/endpoint/{NS}").status == 200
        unanswered("POST", f"{emulator.url}/v2/endpoint/{NS}", payload=create_body("made"))
        assert emulator.endpoint_raw(NS, "made") is not None
        unanswered("PUT", f"{emulator.url}/v2/endpoint/{NS}/made", payload={"type": "public"})
        assert emulator.endpoint_raw(NS, "made")["type"] == "public"  # type: ignore[index]
        unanswered("DELETE", f"{emulator.url}/v2/endpoint/{NS}/made")
        assert emulator.endpoint_raw(NS, "made") is None
    finally:
        emulator.stop()


def test_scripted_error_and_matching(emu: Emulator) -> None:
    emu.inject_fault("error", method="GET", path=f"/v2/endpoint/{NS}/*", status=502, times=2)
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}").status == 200  # the pattern needs a name
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}/x").status == 502
    reply = http("GET", f"{emu.url}/v2/endpoint/{NS}/y")
    assert reply.status == 502 and reply.headers["retry-after"] == "0"
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}/z").status == 404
    assert [r.get("fault") for r in emu.requests()] == [None, "error", "error", None]
    emu.inject_fault("error", status=418)
    assert http("GET", f"{emu.url}/api/models/gpt2").status == 418


def test_scripted_faults_never_touch_tgi_routes(emu: Emulator, api: HfApi) -> None:
    endpoint = create_tgi(api, "tgi-untouched", min_replica=1, scale_to_zero_timeout=None)
    endpoint.wait(timeout=10, refresh_every=0.05)
    assert endpoint.url is not None
    emu.inject_fault("drop", times=3)
    assert http("GET", endpoint.url + "/health").status == 200
    assert emu.pending_faults() == 3


def test_inject_fault_validates(emu: Emulator) -> None:
    for kwargs in ({"kind": "explode"}, {"kind": "drop", "times": 0}, {"kind": "error", "status": 200},
                   {"kind": "drop", "ms": -1}, {"kind": "delay"}):
        with pytest.raises(ValueError):
            emu.inject_fault(**kwargs)  # type: ignore[arg-type]
    assert emu.pending_faults() == 0


def test_stall_holds_the_connection_so_a_client_timeout_fires(emu: Emulator) -> None:
    emu.inject_fault("drop", ms=3000)
    started = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        http("GET", f"{emu.url}/v2/endpoint/{NS}", timeout=0.5)
    assert 0.4 <= time.monotonic() - started < 2.5
    # Without a scripted stall, the emulator-wide stall_ms applies.
    emu.set_faults(stall_ms=300)
    emu.inject_fault("drop")
    started = time.monotonic()
    unanswered("GET", f"{emu.url}/v2/endpoint/{NS}")
    assert time.monotonic() - started >= 0.28


def test_stalled_connections_do_not_delay_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, drop_rate=1.0, stall_ms=60_000)
    with socket.create_connection((emulator.url.split("//")[1].split(":")[0],
                                   int(emulator.url.rsplit(":", 1)[1])), timeout=5) as conn:
        conn.sendall(f"GET /v2/endpoint/{NS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        deadline = time.monotonic() + 5
        while not emulator.requests() and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        emulator.stop()
        assert time.monotonic() - started < 3
        assert conn.recv(100) == b""


def test_scripted_delay_and_slow_body(emu: Emulator) -> None:
    emu.inject_fault("delay", method="GET", ms=300)
    emu.inject_fault("slow_body", method="GET", ms=300)
    for _ in range(2):
        started = time.monotonic()
        assert http("GET", f"{emu.url}/v2/endpoint/{NS}").json() == {"items": []}
        assert time.monotonic() - started >= 0.28
    started = time.monotonic()
    http("GET", f"{emu.url}/v2/endpoint/{NS}")
    assert time.monotonic() - started < 0.25
    assert [r.get("fault") for r in emu.requests()] == ["delay", "slow_body", None]


def test_a_delayed_write_lands_after_the_delay(emu: Emulator, api: HfApi) -> None:
    emu.inject_fault("delay", method="POST", ms=400)
    started = time.monotonic()
    create_tgi(api, "late")
    assert time.monotonic() - started >= 0.38
    assert emu.endpoint_raw(NS, "late") is not None


def test_slow_body_arrives_slowly_and_intact(emu: Emulator, api: HfApi) -> None:
    create_tgi(api, "slow-one")
    fast = http("GET", f"{emu.url}/v2/endpoint/{NS}/slow-one")
    emu.set_faults(slow_body_ms=400)
    started = time.monotonic()
    slow = http("GET", f"{emu.url}/v2/endpoint/{NS}/slow-one")
    assert time.monotonic() - started >= 0.35
    assert slow.status == 200 and slow.json()["name"] == fast.json()["name"] == "slow-one"
    # huggingface_hub reads a slow body as any other.
    assert api.get_inference_endpoint("slow-one", namespace=NS, token=TOKEN).name == "slow-one"
    emu.set_faults(slow_body_ms=0)
    started = time.monotonic()
    http("GET", f"{emu.url}/v2/endpoint/{NS}/slow-one")
    assert time.monotonic() - started < 0.3


def test_echo_errors_repeats_the_request_in_the_error(emu: Emulator, api: HfApi) -> None:
    secret = "s3cr3t-canary-value"
    emu.set_faults(echo_errors=True)
    emu.inject_fault("error", method="POST", status=500)
    with pytest.raises(HfHubHTTPError) as caught:
        create_tgi(api, "echoed", secrets={"API_KEY": secret})
    message = caught.value.server_message or ""
    assert TOKEN in message and secret in message and "Internal Server Error" in message
    assert "\n" not in message.strip()
    # Real errors echo too (a 404 here), on the Hub routes as well, header included.
    reply = http("GET", f"{emu.url}/api/models/nobody/nothing")
    assert reply.status == 404
    assert TOKEN in reply.json()["error"] and TOKEN in reply.headers["x-error-message"]
    assert reply.headers["x-error-code"] == "RepoNotFound"
    emu.set_faults(echo_errors=False)
    assert TOKEN not in http("GET", f"{emu.url}/api/models/nobody/nothing").body.decode()


def test_request_log_file_marks_faults_and_never_holds_echoed_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "requests.jsonl"
    emulator = start_emulator(monkeypatch, request_log=str(log), echo_errors=True)
    try:
        emulator.inject_fault("error", status=503)
        emulator.inject_fault("drop")
        http("GET", f"{emulator.url}/v2/endpoint/{NS}")
        unanswered("GET", f"{emulator.url}/v2/endpoint/{NS}")
        http("GET", f"{emulator.url}/v2/endpoint/{NS}")
        http("POST", f"{emulator.url}/v2/endpoint/{NS}", payload=create_body(model__secrets={"K": "v4lue-x"}),
             token="hf_" + "z" * 12)
    finally:
        emulator.stop()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["status"], e.get("fault")) for e in entries] == [(503, "error"), (0, "drop"), (200, None),
                                                               (202, None)]
    assert set(entries[0]) == {"t", "method", "path", "status", "fault"}
    assert set(entries[2]) == {"t", "method", "path", "status"}
    assert TOKEN not in log.read_text() and "v4lue-x" not in log.read_text()


def test_set_faults_validates_new_settings(emu: Emulator) -> None:
    for kwargs in ({"drop_rate": 2.0}, {"lost_response_rate": -0.1}, {"stall_ms": -1}, {"slow_body_ms": -5}):
        with pytest.raises(ValueError):
            emu.set_faults(**kwargs)  # type: ignore[arg-type]
    emu.set_faults(drop_rate=0.0, lost_response_rate=0.0, stall_ms=0, slow_body_ms=0, echo_errors=False)


def test_config_validates_new_settings() -> None:
    for bad in ({"drop_rate": 1.5}, {"lost_response_rate": -1}, {"stall_ms": -1}, {"slow_body_ms": float("nan")}):
        with pytest.raises(ValueError):
            EmulatorConfig(**bad)  # type: ignore[arg-type]


def test_seeded_drops_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    def outcomes(seed: int) -> list[int]:
        emulator = start_emulator(monkeypatch, fail_rate=0.2, drop_rate=0.2, seed=seed)
        try:
            for _ in range(40):
                try:
                    http("GET", f"{emulator.url}/v2/endpoint/{NS}")
                except (ConnectionError, urllib.error.URLError, HTTPException):
                    pass
            return [r["status"] for r in emulator.requests()]
        finally:
            emulator.stop()

    first = outcomes(5)
    assert first == outcomes(5)
    assert 0 in first and 200 in first and set(first) - {0, 200}


def test_command_flags_reach_the_emulator(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "hfops.emulator", "--port", "0", "--drop-rate", "1", "--stall-ms", "0",
         "--slow-body-ms", "0", "--lost-response-rate", "0", "--echo-errors", "--request-log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        unanswered("GET", f"{url}/v2/endpoint/{NS}")
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert process.returncode == 0
    assert json.loads(log.read_text().splitlines()[0])["fault"] == "drop"


@pytest.mark.parametrize(
    "args", [["--drop-rate", "1.5"], ["--lost-response-rate", "-1"], ["--stall-ms", "nan"], ["--slow-body-ms", "-1"]]
)
def test_command_rejects_bad_fault_flags(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hfops.emulator", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert args[0] in result.stderr


def test_scripted_faults_naming_tgi_routes_apply_to_them(emu: Emulator, api: HfApi) -> None:
    endpoint = create_tgi(api, "tgi-faulted", min_replica=1, scale_to_zero_timeout=None)
    endpoint.wait(timeout=10, refresh_every=0.05)
    assert endpoint.url is not None
    emu.inject_fault("delay", method="GET", path="/endpoints/*/info", ms=300)
    emu.inject_fault("error", path="/endpoints/*/health", status=502)
    started = time.monotonic()
    assert http("GET", endpoint.url + "/info").status == 200
    assert time.monotonic() - started >= 0.28
    assert http("GET", endpoint.url + "/health").status == 502
    assert http("GET", endpoint.url + "/health").status == 200
    emu.inject_fault("drop", path="/endpoints/*")
    unanswered("GET", endpoint.url + "/health")
    assert emu.pending_faults() == 0


def test_echo_errors_on_tgi_routes(emu: Emulator, api: HfApi) -> None:
    endpoint = create_tgi(api, "tgi-echo", min_replica=1, scale_to_zero_timeout=None)
    endpoint.wait(timeout=10, refresh_every=0.05)
    assert endpoint.url is not None
    emu.set_faults(echo_errors=True)
    reply = http("GET", endpoint.url + "/info", token="bad-token-value")
    assert reply.status == 401 and "bad-token-value" in reply.json()["error"]


def test_fail_deploy_fails_that_endpoint_only(emu: Emulator, api: HfApi) -> None:
    emu.fail_deploy(NS, "doomed", "CUDA out of memory")
    doomed = create_tgi(api, "doomed")
    fine = create_tgi(api, "fine")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        states = {e.name: e for e in (doomed.fetch(), fine.fetch())}
        if states["doomed"].status == "failed" and states["fine"].status == "running":
            break
        time.sleep(0.05)
    raw = emu.endpoint_raw(NS, "doomed")
    assert raw is not None and raw["status"]["state"] == "failed"
    assert "CUDA out of memory" in raw["status"]["message"]
    assert emu.endpoint_raw(NS, "fine")["status"]["state"] == "running"  # type: ignore[index]


def test_a_client_resetting_its_connection_prints_nothing(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    printed = io.StringIO()
    monkeypatch.setattr(sys, "stderr", printed)  # where socketserver reports handler errors
    host, port = emu.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(f"GET /v2/endpoint/{NS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        conn.recv(65536)
        # Close with a reset (SO_LINGER 0) while the server waits for the next keep-alive request.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.2)
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}").status == 200
    assert printed.getvalue() == ""
