"""Fault injection, CI-sized: apply converges through rate limits, server errors, dropped connections,
lost answers, slow bodies and stale reads, and one endpoint's failure never stops the others.

Every test runs the real `hfops` entry point against the emulator over real HTTP and judges the
result the way an operator would: what exists on the service (exactly once), which credential files
are on disk (complete, 0600, nothing half-written next to them), what the summary and exit code say,
and what the emulator's request log shows hfops did (faults injected, retries, creates, 409s).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import BOOKKEEPING, GENSTUDIO_KEY_FROM_ENV, endpoint_manifest

TOKEN = "hf_faults_deploy_token_0123456789"
GENSTUDIO_KEY = "hf_faults_genstudio_key_9876543210"
SECRET = "faults-fleet-secret-value-31337"
NAMESPACES = ("acme", "beta", "gamma")
HFOPS = str(Path(sys.executable).with_name("hfops"))
SERVER_FAULTS = {429, 500, 502, 503, 504}


FLEET_SECRET = "  secrets:\n    FLEET_SECRET: {fromEnv: FLEET_SECRET}\n"


def endpoint_doc(name: str, namespace: str, *, repository: str = "gpt2") -> str:
    return endpoint_manifest(name, namespace, repository=repository, extra=FLEET_SECRET + GENSTUDIO_KEY_FROM_ENV)


def write_fleet(directory: Path, count: int, namespaces: tuple[str, ...] = NAMESPACES) -> dict[str, list[str]]:
    """`count` endpoints spread over `namespaces`, one file per namespace; returns names by namespace."""
    directory.mkdir(parents=True, exist_ok=True)
    names: dict[str, list[str]] = {ns: [] for ns in namespaces}
    for index in range(count):
        namespace = namespaces[index % len(namespaces)]
        names[namespace].append(f"fleet-{index:03d}")
    for namespace, members in names.items():
        text = "---\n".join(endpoint_doc(name, namespace) for name in members)
        (directory / f"{namespace}.yaml").write_text(text)
    return names


class Harness:
    """An emulator plus the environment that points hfops at it."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.log = tmp_path / "requests.jsonl"
        self.creds = tmp_path / "credentials"
        self.emulator: Emulator | None = None

    def start(self, **config: Any) -> Emulator:
        settings: dict[str, Any] = {
            "provision_seconds": 0.2,
            "retry_after_seconds": 0,
            "seed": 20240611,
            "request_log": str(self.log),
        }
        settings.update(config)
        self.emulator = Emulator(EmulatorConfig(**settings))
        url = self.emulator.start()
        for key, value in self.env(url).items():
            self.monkeypatch.setenv(key, value)
        return self.emulator

    @staticmethod
    def env(url: str) -> dict[str, str]:
        return {
            "HF_TOKEN": TOKEN,
            "HF_ENDPOINT": url,
            "HFOPS_API_URL": url + "/v2",
            "HFOPS_POLL_INTERVAL": "0.1",
            "GENSTUDIO_API_KEY": GENSTUDIO_KEY,
            "FLEET_SECRET": SECRET,
        }

    def stop(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    h = Harness(tmp_path, monkeypatch)
    try:
        yield h
    finally:
        h.stop()


def calm(emulator: Emulator) -> None:
    """Faults off, so the checks below read the truth."""
    emulator.set_faults(fail_rate=0, drop_rate=0, lost_response_rate=0, slow_body_ms=0, latency_ms=0)


def live_names(emulator: Emulator, namespace: str) -> list[str]:
    request = urllib.request.Request(
        f"{emulator.url}/v2/endpoint/{namespace}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return sorted(item["name"] for item in json.load(response)["items"])


def creates_landed(emulator: Emulator, namespace: str) -> int:
    """Creates the service carried out, including those whose answer was lost on the way back."""
    return sum(
        1
        for r in emulator.requests()
        if r["method"] == "POST" and r["path"] == f"/v2/endpoint/{namespace}" and r["status"] == 202
    )


def assert_credentials(creds: Path, emulator: Emulator, names: dict[str, list[str]]) -> None:
    expected = sorted(f"{name}.json" for members in names.values() for name in members)
    assert sorted(p.name for p in creds.iterdir() if p.name not in BOOKKEEPING) == expected, (
        "missing, extra or temporary files"
    )
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    for namespace, members in names.items():
        for name in members:
            path = creds / f"{name}.json"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            data = json.loads(path.read_text())
            raw = emulator.endpoint_raw(namespace, name)
            assert raw is not None
            assert data == {
                "api_key": GENSTUDIO_KEY,
                "endpoint": raw["status"]["url"],
                "model_name": "gpt2",
                "context_window": 1024,
            }


def assert_converged(emulator: Emulator, creds: Path, names: dict[str, list[str]]) -> None:
    calm(emulator)
    for namespace, members in names.items():
        assert live_names(emulator, namespace) == sorted(members)
        assert creates_landed(emulator, namespace) == len(members), f"duplicate creates in {namespace}"
    assert not [r for r in emulator.requests() if r["method"] == "DELETE"]
    assert_credentials(creds, emulator, names)


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def retried(entries: list[dict[str, Any]]) -> int:
    """Faulted requests that hfops sent again (the same method and path, later)."""
    count = 0
    for index, entry in enumerate(entries):
        if "fault" in entry and any(
            later["method"] == entry["method"] and later["path"] == entry["path"] for later in entries[index + 1 :]
        ):
            count += 1
    return count


RunFn = Callable[..., Any]


# ----------------------------------------------------------------------------- the fleet


def test_fleet_converges_with_a_fifth_of_api_and_hub_calls_failing(harness: Harness, run: RunFn) -> None:
    emulator = harness.start(fail_rate=0.2)
    emulator.inject_fault("error", method="GET", path="/api/models/*", status=500)  # the Hub fails too
    names = write_fleet(harness.tmp_path / "fleet", 30)

    started = time.monotonic()
    result = run(
        "apply", str(harness.tmp_path / "fleet"), "--yes", "--parallelism", "8", "--credentials-dir", str(harness.creds)
    )
    elapsed = time.monotonic() - started

    assert result.code == 0, result.output
    assert "Apply complete: 30 succeeded, 0 failed, 0 not attempted." in result.stdout
    assert "Traceback" not in result.output
    entries = logged(harness.log)
    faults = [e for e in entries if e.get("fault") == "error"]
    assert {e["status"] for e in faults} <= SERVER_FAULTS
    faultable = [e for e in entries if not e["path"].startswith("/endpoints/")]  # TGI is never faulted
    share = len(faults) / len(faultable)
    assert len(faults) >= 6 and 0.08 <= share <= 0.4, f"{len(faults)} faults in {len(faultable)} calls"
    assert retried(entries) >= len(faults) - 2, "every injected fault is retried"
    assert any(e["path"].startswith(("/api/", "/gpt2/")) for e in faults), "Hub calls failed too"
    assert elapsed < 45, f"apply took {elapsed:.1f}s"

    # Still faulty: plan must read through the faults as well, and see nothing to do.
    again = run("plan", str(harness.tmp_path / "fleet"), "--detailed-exitcode", "--credentials-dir", str(harness.creds))
    assert again.code == 0, again.output
    assert "No changes." in again.stdout

    assert_converged(emulator, harness.creds, names)


def test_fleet_converges_through_dropped_connections_and_lost_answers(harness: Harness, run: RunFn) -> None:
    emulator = harness.start(fail_rate=0.05, drop_rate=0.05, lost_response_rate=0.15, seed=77)
    emulator.inject_fault("lost_response", method="POST", path="/v2/endpoint/beta")  # at least one
    emulator.inject_fault("drop", method="GET", path="/v2/endpoint/gamma")  # at least one
    names = write_fleet(harness.tmp_path / "fleet", 18)

    result = run(
        "apply", str(harness.tmp_path / "fleet"), "--yes", "--parallelism", "6", "--credentials-dir", str(harness.creds)
    )

    assert result.code == 0, result.output
    kinds = Counter(e.get("fault") for e in logged(harness.log))
    assert kinds["drop"] >= 1 and kinds["lost_response"] >= 1, kinds
    lost_creates = [e for e in emulator.requests() if e.get("fault") == "lost_response" and e["method"] == "POST"]
    assert lost_creates, "some create answers were lost"
    assert_converged(emulator, harness.creds, names)


# ------------------------------------------------------------------- lost answers and 409


def one_endpoint(harness: Harness, name: str = "solo", namespace: str = "acme") -> Path:
    path = harness.tmp_path / "m" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(endpoint_doc(name, namespace))
    return path


def post_statuses(emulator: Emulator, namespace: str = "acme") -> list[tuple[int, str | None]]:
    return [
        (r["status"], r.get("fault"))
        for r in emulator.requests()
        if r["method"] == "POST" and r["path"] == f"/v2/endpoint/{namespace}"
    ]


@pytest.mark.parametrize("stall_ms", [0, 1500], ids=["reset", "stalled-then-reset"])
def test_a_create_whose_answer_is_lost_is_not_created_twice(harness: Harness, run: RunFn, stall_ms: int) -> None:
    emulator = harness.start()
    emulator.inject_fault("lost_response", method="POST", path="/v2/endpoint/acme", ms=stall_ms)
    manifest = one_endpoint(harness)

    result = run("apply", str(manifest), "--yes", "--credentials-dir", str(harness.creds))

    assert result.code == 0, result.output
    # The create landed (202) but its answer was lost; the retry got 409 and hfops read back.
    assert post_statuses(emulator) == [(202, "lost_response"), (409, None)]
    assert any(r["method"] == "GET" and r["path"] == "/v2/endpoint/acme/solo" for r in emulator.requests())
    assert_converged(emulator, harness.creds, {"acme": ["solo"]})


def test_create_answer_lost_twice_still_one_endpoint(harness: Harness, run: RunFn) -> None:
    emulator = harness.start()
    emulator.inject_fault("lost_response", method="POST", path="/v2/endpoint/acme", times=2)
    manifest = one_endpoint(harness)

    result = run("apply", str(manifest), "--yes", "--credentials-dir", str(harness.creds))

    assert result.code == 0, result.output
    assert post_statuses(emulator) == [(202, "lost_response"), (409, "lost_response"), (409, None)]
    assert_converged(emulator, harness.creds, {"acme": ["solo"]})


def test_a_409_for_an_endpoint_that_is_not_ours_is_not_taken_over(harness: Harness, run: RunFn) -> None:
    """Someone else creates the name between plan and create: hfops must fail it, not adopt it."""
    emulator = harness.start()
    emulator.inject_fault("delay", method="POST", path="/v2/endpoint/acme", ms=800)
    manifest = one_endpoint(harness)

    def competitor() -> None:
        while emulator.pending_faults():  # hfops' create is now held by the emulator
            time.sleep(0.005)
        body = json.dumps(
            {
                "name": "solo",
                "type": "public",
                "provider": {"vendor": "aws", "region": "us-east-1"},
                "compute": {
                    "accelerator": "cpu",
                    "instanceType": "intel-icl",
                    "instanceSize": "x1",
                    "scaling": {"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 15},
                },
                "model": {
                    "repository": "gpt2",
                    "framework": "pytorch",
                    "task": "text-generation",
                    "image": {"huggingface": {}},
                },
                "tags": ["someone-else"],
            }
        ).encode()
        request = urllib.request.Request(
            f"{emulator.url}/v2/endpoint/acme",
            data=body,
            method="POST",
            headers={"Authorization": "Bearer hf_someone_else_1234", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()

    thread = threading.Thread(target=competitor, daemon=True)
    thread.start()
    result = run("apply", str(manifest), "--yes", "--credentials-dir", str(harness.creds))
    thread.join(timeout=10)

    assert result.code == 1, result.output
    assert "acme/solo: failed" in result.stdout
    assert "Apply complete: 0 succeeded, 1 failed, 0 not attempted." in result.stdout
    raw = emulator.endpoint_raw("acme", "solo")
    assert raw is not None and raw["tags"] == ["someone-else"] and raw["type"] == "public"
    assert not [r for r in emulator.requests() if r["method"] in ("PUT", "DELETE")]
    assert not harness.creds.exists() or not [p for p in harness.creds.iterdir() if p.name not in BOOKKEEPING]


# ------------------------------------------------------------------------ partial failure


def test_one_endpoint_failing_to_deploy_does_not_stop_the_others(harness: Harness, run: RunFn) -> None:
    emulator = harness.start(fail_rate=0.2)
    names = write_fleet(harness.tmp_path / "fleet", 6, ("acme", "beta"))
    emulator.fail_deploy("beta", "fleet-003", "the container exited with code 137 (out of memory)")

    result = run(
        "apply", str(harness.tmp_path / "fleet"), "--yes", "--parallelism", "3", "--credentials-dir", str(harness.creds)
    )

    assert result.code == 1, result.output
    assert "Apply complete: 5 succeeded, 1 failed, 0 not attempted." in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("beta/fleet-003:")]
    assert failed and "failed" in failed[0] and "out of memory" in failed[0], result.stdout
    for namespace, members in names.items():
        for name in members:
            if name != "fleet-003":
                assert f"{namespace}/{name}: created" in result.stdout
    ok = {ns: [n for n in members if n != "fleet-003"] for ns, members in names.items()}
    calm(emulator)
    assert_credentials(harness.creds, emulator, ok)
    for namespace, members in names.items():
        assert creates_landed(emulator, namespace) == len(members)


def test_partial_failure_summary_in_json(harness: Harness, run: RunFn) -> None:
    emulator = harness.start()
    write_fleet(harness.tmp_path / "fleet", 3, ("acme",))
    emulator.fail_deploy("acme", "fleet-001", "CUDA error: out of memory")

    result = run(
        "apply", str(harness.tmp_path / "fleet"), "--yes", "--format", "json", "--credentials-dir", str(harness.creds)
    )

    assert result.code == 1, result.output
    document = json.loads(result.stdout)
    assert (document["succeeded"], document["failed"], document["not_attempted"]) == (2, 1, 0)
    by_address = {o["address"]: o for o in document["outcomes"]}
    assert by_address["acme/fleet-001"]["ok"] is False
    assert "out of memory" in by_address["acme/fleet-001"]["message"]
    assert by_address["acme/fleet-001"]["credential_file"] is None
    for address in ("acme/fleet-000", "acme/fleet-002"):
        assert by_address[address]["ok"] is True
        assert Path(by_address[address]["credential_file"]).is_file()


def test_one_endpoint_losing_its_network_does_not_abort_the_run(harness: Harness, run: RunFn) -> None:
    """Retries exhausted on connection errors (not HTTP errors) fail that endpoint, not the run."""
    emulator = harness.start()
    names = write_fleet(harness.tmp_path / "fleet", 4, ("acme",))
    (harness.tmp_path / "fleet" / "solo.yaml").write_text(endpoint_doc("solo", "solo"))
    # Server errors first (fast: Retry-After 0), then the connection drops for good.
    emulator.inject_fault("error", method="POST", path="/v2/endpoint/solo", status=503, times=5)
    emulator.inject_fault("drop", method="POST", path="/v2/endpoint/solo", times=10)

    result = run("apply", str(harness.tmp_path / "fleet"), "--yes", "--credentials-dir", str(harness.creds))

    assert result.code == 1, result.output
    assert "unexpected" not in result.stderr and "Traceback" not in result.output
    assert "Apply complete: 4 succeeded, 1 failed, 0 not attempted." in result.stdout, result.output
    solo = [line for line in result.stdout.splitlines() if line.startswith("solo/solo:")]
    assert solo and "failed" in solo[0]
    assert emulator.endpoint_raw("solo", "solo") is None
    calm(emulator)
    assert_credentials(harness.creds, emulator, names)


# --------------------------------------------------------------------- reads under faults


def test_waiting_does_not_mistake_a_stale_list_for_a_deleted_endpoint(harness: Harness, run: RunFn) -> None:
    """A status list read before an endpoint's create landed must not make it 'disappear'.

    alpha's create lands at once, bravo's is held 600 ms. alpha's first status poll reads the
    namespace list before bravo exists, and that answer's body takes a second to arrive; bravo's
    waiter must not conclude from it that bravo is gone.
    """
    emulator = harness.start(provision_seconds=0.3)
    manifest = harness.tmp_path / "pair.yaml"
    manifest.write_text(endpoint_doc("alpha", "acme") + "---\n" + endpoint_doc("bravo", "acme"))
    emulator.inject_fault("delay", method="POST", path="/v2/endpoint/acme", ms=600)

    def slow_the_next_list() -> None:
        deadline = time.monotonic() + 20
        while not any(r["method"] == "POST" for r in emulator.requests()) and time.monotonic() < deadline:
            time.sleep(0.002)
        emulator.inject_fault("slow_body", method="GET", path="/v2/endpoint/acme", ms=1000)

    thread = threading.Thread(target=slow_the_next_list, daemon=True)
    thread.start()
    result = run("apply", str(manifest), "--yes", "--parallelism", "2", "--credentials-dir", str(harness.creds))
    thread.join(timeout=5)

    assert [r.get("fault") for r in emulator.requests() if r["method"] == "POST"] == [None, "delay"]
    assert result.code == 0, result.output
    assert "disappeared" not in result.output
    assert_converged(emulator, harness.creds, {"acme": ["alpha", "bravo"]})


def test_rate_limit_retry_after_is_honoured(harness: Harness, run: RunFn) -> None:
    emulator = harness.start(retry_after_seconds=1)
    emulator.inject_fault("error", method="GET", path="/v2/endpoint/acme", status=429)
    manifest = one_endpoint(harness)

    result = run("plan", str(manifest))

    assert result.code == 0, result.output
    lists = [r for r in emulator.requests() if r["method"] == "GET" and r["path"] == "/v2/endpoint/acme"]
    assert [r["status"] for r in lists] == [429, 200]
    assert lists[1]["t"] - lists[0]["t"] >= 0.95, "the retry came before Retry-After had passed"


def test_slow_bodies_everywhere_still_converge(harness: Harness, run: RunFn) -> None:
    emulator = harness.start(slow_body_ms=120, fail_rate=0.1)
    names = write_fleet(harness.tmp_path / "fleet", 4, ("acme", "beta"))

    result = run("apply", str(harness.tmp_path / "fleet"), "--yes", "--credentials-dir", str(harness.creds))

    assert result.code == 0, result.output
    assert_converged(emulator, harness.creds, names)


def test_a_request_that_never_gets_an_answer_times_out_and_is_retried(harness: Harness) -> None:
    """The service accepts the create and then says nothing: hfops must not wait forever.

    Run as a process with a deadline: without a client-side timeout on API calls, hfops would
    sit on the socket until the connection closes (here: two minutes).
    """
    emulator = harness.start()
    emulator.inject_fault("lost_response", method="POST", path="/v2/endpoint/acme", ms=120_000)
    manifest = one_endpoint(harness)
    # A short client timeout keeps the test quick; the default (20 s) is exercised the same way.
    env = {**os.environ, **Harness.env(emulator.url), "HFOPS_HTTP_TIMEOUT": "4"}

    started = time.monotonic()
    try:
        result = subprocess.run(
            [HFOPS, "apply", str(manifest), "--yes", "--credentials-dir", str(harness.creds)],
            env=env,
            capture_output=True,
            text=True,
            timeout=40,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("hfops apply was still waiting for an answer after 40s: API calls have no timeout")
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stdout + result.stderr
    assert post_statuses(emulator)[:1] == [(202, "lost_response")]
    assert (409, None) in post_statuses(emulator)
    assert elapsed < 40
    assert_converged(emulator, harness.creds, {"acme": ["solo"]})
