"""Fault injection (fail_rate, seed, latency), the request log, and the hardware catalogue."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from hfops.emulator import Emulator

from ._kit import NS, TOKEN, create_body, create_tgi, http, start_emulator, wait_running

FAULTS = {429, 500, 502, 503}


def test_fail_rate_one_fails_every_api_and_hub_request(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, fail_rate=1.0, retry_after_seconds=3)
    try:
        seen = set()
        for _ in range(25):
            reply = http("GET", f"{emulator.url}/v2/endpoint/{NS}")
            assert reply.status in FAULTS
            assert reply.headers["retry-after"] == "3"
            assert set(reply.json()) == {"error"}
            assert "x-error-code" not in reply.headers
            seen.add(reply.status)
        assert seen == FAULTS
        for path in ("/api/whoami-v2", "/api/models/gpt2", "/gpt2/resolve/main/config.json"):
            assert http("GET", emulator.url + path).status in FAULTS
        # Faults come before any state change: a failed create creates nothing.
        for _ in range(5):
            assert http("POST", f"{emulator.url}/v2/endpoint/{NS}", payload=create_body()).status in FAULTS
        assert emulator.endpoint_raw(NS, "raw-endpoint") is None
        # Even unauthenticated requests get the injected fault first (the rate limiter answers before auth).
        assert http("GET", f"{emulator.url}/v2/endpoint/{NS}", token=None).status in FAULTS
    finally:
        emulator.stop()


def test_huggingface_hub_surfaces_injected_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, fail_rate=1.0)
    try:
        api = HfApi(endpoint=emulator.url, token=TOKEN)
        statuses = set()
        for _ in range(12):
            with pytest.raises(HfHubHTTPError) as caught:
                api.get_inference_endpoint("x", namespace=NS, token=TOKEN)
            statuses.add(caught.value.response.status_code)
            assert caught.value.response.headers["Retry-After"] == "0"
        assert statuses <= FAULTS
    finally:
        emulator.stop()


def test_default_retry_after_is_one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = start_emulator(monkeypatch, fail_rate=1.0, retry_after_seconds=1.0)
    try:
        assert http("GET", f"{emulator.url}/v2/endpoint/{NS}").headers["retry-after"] == "1"
    finally:
        emulator.stop()


def _statuses(monkeypatch: pytest.MonkeyPatch, seed: int) -> list[int]:
    emulator = start_emulator(monkeypatch, fail_rate=0.5, seed=seed)
    try:
        return [http("GET", f"{emulator.url}/v2/endpoint/{NS}").status for _ in range(40)]
    finally:
        emulator.stop()


def test_seeded_faults_are_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _statuses(monkeypatch, 42)
    assert first == _statuses(monkeypatch, 42)
    assert 200 in first and set(first) - {200}
    assert first != _statuses(monkeypatch, 43)


def test_tgi_routes_are_never_failed(emu: Emulator, api: HfApi) -> None:
    endpoint = wait_running(create_tgi(api))
    assert endpoint.url is not None
    emu.set_faults(fail_rate=1.0)
    for _ in range(10):
        assert http("GET", endpoint.url + "/info").status == 200
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}").status in FAULTS
    emu.set_faults(fail_rate=0.0)
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}").status == 200


def test_latency(emu: Emulator) -> None:
    emu.set_faults(latency_ms=400)
    started = time.monotonic()
    assert http("GET", f"{emu.url}/v2/endpoint/{NS}").status == 200
    assert time.monotonic() - started >= 0.4
    emu.set_faults(latency_ms=0)
    started = time.monotonic()
    http("GET", f"{emu.url}/v2/endpoint/{NS}")
    assert time.monotonic() - started < 0.3


def test_set_faults_validates(emu: Emulator) -> None:
    with pytest.raises(ValueError):
        emu.set_faults(fail_rate=1.5)
    with pytest.raises(ValueError):
        emu.set_faults(latency_ms=-1)


def test_request_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    log.write_text('{"earlier": "line"}\n')  # appended to, never truncated
    emulator = start_emulator(monkeypatch, request_log=str(log))
    try:
        http("GET", f"{emulator.url}/v2/endpoint/{NS}?tags=x")
        http("GET", f"{emulator.url}/v2/endpoint/{NS}/missing")
        http("GET", f"{emulator.url}/v2/endpoint/{NS}", token=None)
        http("POST", f"{emulator.url}/v2/endpoint/{NS}", payload=create_body(model__secrets={"K": "v4lue"}))
        memory = emulator.requests()
        assert [(r["method"], r["path"], r["status"]) for r in memory] == [
            ("GET", f"/v2/endpoint/{NS}", 200),
            ("GET", f"/v2/endpoint/{NS}/missing", 404),
            ("GET", f"/v2/endpoint/{NS}", 401),
            ("POST", f"/v2/endpoint/{NS}", 202),
        ]
        assert memory[0]["query"] == "tags=x"
        assert all(isinstance(r["t"], float) for r in memory)
        emulator.clear_requests()
        assert emulator.requests() == []
    finally:
        emulator.stop()
    lines = log.read_text().splitlines()
    assert lines[0] == '{"earlier": "line"}'
    entries = [json.loads(line) for line in lines[1:]]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        (r["method"], r["path"], r["status"]) for r in memory
    ]
    assert all(set(e) == {"t", "method", "path", "status"} for e in entries)
    assert TOKEN not in log.read_text()
    assert "v4lue" not in log.read_text()


def test_provider_catalogue(emu: Emulator, api: HfApi) -> None:
    hardware = api.list_inference_endpoints_hardware(namespace=NS, token=TOKEN)
    by_id = {h.id: h for h in hardware}
    for gpu in ("nvidia-a10g", "nvidia-l4", "nvidia-t4"):
        for size in ("x1", "x4"):
            entry = by_id[f"aws-us-east-1-{gpu}-{size}"]
            assert (entry.vendor, entry.region, entry.accelerator) == ("aws", "us-east-1", "gpu")
            assert entry.status == "available"
            assert entry.price_per_hour > 0
            assert entry.num_accelerators == (1 if size == "x1" else 4)
            assert entry.gpu_memory_gb is not None
            assert (entry.max_accelerators, entry.used_accelerators) == (1000, 0)
    for size in ("x1", "x2", "x4"):
        cpu = by_id[f"aws-us-east-1-intel-icl-{size}"]
        assert (cpu.accelerator, cpu.instance_type, cpu.gpu_memory_gb) == ("cpu", "intel-icl", None)
    assert {h.vendor for h in hardware} == {"aws", "gcp"}
    assert any(h.status != "available" for h in hardware)

    raw = http("GET", f"{emu.url}/v2/provider/{NS}").json()
    region = raw["vendors"][0]["regions"][0]
    assert (raw["vendors"][0]["name"], region["name"], region["label"]) == (
        "aws",
        "us-east-1",
        "US East (N. Virginia)",
    )


def test_quota_usage_is_reported(emu: Emulator, api: HfApi) -> None:
    create_tgi(api, "four-gpus", instance_size="x4", max_replica=2)
    create_tgi(api, "one-gpu")

    def used(namespace: str = NS) -> dict[str, int]:
        return {
            h.id: h.used_accelerators
            for h in api.list_inference_endpoints_hardware(namespace=namespace, token=TOKEN)
        }

    usage = used()
    # Per instance type: 2 replicas x 4 GPUs + 1 x 1 GPU of nvidia-a10g, whatever the size of the entry.
    assert usage["aws-us-east-1-nvidia-a10g-x1"] == usage["aws-us-east-1-nvidia-a10g-x4"] == 9
    assert usage["aws-us-east-1-nvidia-l4-x1"] == 0
    assert used("other-org")["aws-us-east-1-nvidia-a10g-x1"] == 0
    api.pause_inference_endpoint("four-gpus", namespace=NS, token=TOKEN)
    assert used()["aws-us-east-1-nvidia-a10g-x1"] == 1
