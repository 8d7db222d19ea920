"""SIGINT and SIGTERM during `hfops apply`, as a CI runner or an operator sends them.

`hfops apply` runs as a real process (the `hfops` console script next to this Python) against an
emulator in the test process; signals are sent at deterministic points, found in the emulator's
request log or held there by a scripted delay. After each interrupt: exit 1, stderr says what state
things are in, no partial or temporary credential file; and a plain rerun converges, with every
endpoint created exactly once and every credential written.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import BOOKKEEPING, GENSTUDIO_KEY_FROM_ENV, endpoint_manifest

TOKEN = "hf_interrupts_deploy_token_0123456789"
GENSTUDIO_KEY = "hf_interrupts_genstudio_key_987654"
HFOPS = str(Path(sys.executable).with_name("hfops"))


def endpoint_doc(name: str, namespace: str = "acme") -> str:
    return endpoint_manifest(name, namespace, extra=GENSTUDIO_KEY_FROM_ENV)


class Run:
    """One `hfops apply` process; its output goes to files so a full pipe never blocks it."""

    def __init__(self, process: subprocess.Popen[str], stdout: Path, stderr: Path) -> None:
        self.process = process
        self._stdout = stdout
        self._stderr = stderr

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"hfops did not exit within {timeout}s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")

    @property
    def stdout(self) -> str:
        return self._stdout.read_text()

    @property
    def stderr(self) -> str:
        return self._stderr.read_text()


class Bench:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.creds = tmp_path / "credentials"
        self.manifests = tmp_path / "manifests"
        self.emulator = Emulator(EmulatorConfig(provision_seconds=0.5, retry_after_seconds=0, seed=5))
        self.emulator.start()
        self.runs = 0
        self.names: list[str] = []

    def fleet(self, count: int) -> list[str]:
        self.manifests.mkdir(exist_ok=True)
        self.names = [f"svc-{i:02d}" for i in range(count)]
        (self.manifests / "fleet.yaml").write_text("---\n".join(endpoint_doc(n) for n in self.names))
        return self.names

    def env(self) -> dict[str, str]:
        url = self.emulator.url
        return {
            **os.environ,
            "HF_TOKEN": TOKEN,
            "HF_ENDPOINT": url,
            "HFOPS_API_URL": url + "/v2",
            "HFOPS_POLL_INTERVAL": "0.1",
            "GENSTUDIO_API_KEY": GENSTUDIO_KEY,
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, *extra: str, parallelism: int = 2, stdout: int | IO[Any] | None = None) -> Run:
        self.runs += 1
        out = self.tmp_path / f"run{self.runs}.stdout"
        err = self.tmp_path / f"run{self.runs}.stderr"
        process = subprocess.Popen(
            [
                HFOPS,
                "apply",
                str(self.manifests),
                "--yes",
                "--parallelism",
                str(parallelism),
                "--credentials-dir",
                str(self.creds),
                *extra,
            ],
            stdout=stdout if stdout is not None else out.open("w"),
            stderr=err.open("w"),
            text=True,
            env=self.env(),
        )
        if stdout is not None:
            out.write_text("")
        return Run(process, out, err)

    def until(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.005)

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.emulator.requests() if r["method"] == "POST" and r["path"] == "/v2/endpoint/acme"]

    def created(self) -> int:
        return sum(1 for r in self.posts() if r["status"] == 202)

    def live(self) -> list[str]:
        return sorted(n for n in self.names if self.emulator.endpoint_raw("acme", n) is not None)

    def assert_no_partial_files(self) -> None:
        if not self.creds.exists():
            return
        assert stat.S_IMODE(self.creds.stat().st_mode) == 0o700
        for path in self.creds.iterdir():
            if path.name in BOOKKEEPING:
                continue
            assert path.suffix == ".json" and not path.name.startswith("."), f"leftover {path.name}"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            data = json.loads(path.read_text())  # complete JSON, not half a file
            assert sorted(data) == ["api_key", "context_window", "endpoint", "model_name"]

    def rerun_converges(self) -> None:
        """A plain rerun: exit 0, every endpoint exactly once, every credential complete."""
        self.emulator.set_faults(fail_rate=0)
        run = self.start()
        code = run.wait()
        assert code == 0, run.stdout + run.stderr
        assert self.live() == sorted(self.names)
        assert self.created() == len(self.names), "an endpoint was created twice"
        assert not [r for r in self.emulator.requests() if r["method"] == "DELETE"]
        self.assert_no_partial_files()
        assert sorted(p.name for p in self.creds.iterdir() if p.name not in BOOKKEEPING) == sorted(
            f"{n}.json" for n in self.names
        )
        for name in self.names:
            data = json.loads((self.creds / f"{name}.json").read_text())
            raw = self.emulator.endpoint_raw("acme", name)
            assert raw is not None
            assert data["endpoint"] == raw["status"]["url"] and data["api_key"] == GENSTUDIO_KEY

    def stop(self) -> None:
        self.emulator.stop()


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = Bench(tmp_path)
    try:
        yield b
    finally:
        b.stop()


SUMMARY = re.compile(r"Apply complete: (\d+) succeeded, (\d+) failed, (\d+) not attempted\.")


def summary(run: Run) -> tuple[int, int, int]:
    match = SUMMARY.search(run.stdout)
    assert match, f"no summary on stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    ok, failed, skipped = (int(g) for g in match.groups())
    return ok, failed, skipped


def assert_reports_interruption(run: Run, sig: signal.Signals) -> None:
    stderr = run.stderr
    assert f"Received {sig.name}" in stderr, stderr
    assert re.search(r"interrupted", stderr, re.IGNORECASE), stderr
    assert re.search(r"(run|rerun) (hfops )?apply again", stderr), "say how to converge"
    assert "Traceback" not in stderr


# --------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_after_the_first_create_stops_new_work_and_a_rerun_converges(bench: Bench, sig: signal.Signals) -> None:
    names = bench.fleet(6)
    # The first create lands at once; every later one is held 1.5 s (a busy API). The signal comes
    # as the first lands, so no response arrives while hfops is still handling it: a signal is
    # asynchronous, and on a loaded machine its handler runs milliseconds after it was sent (two
    # creates held alike used to land together, and the second's worker started a new create in
    # that gap, which the count below took for a create started after the signal).
    bench.emulator.inject_fault("delay", method="POST", path="/v2/endpoint/acme", times=1, ms=0)
    bench.emulator.inject_fault("delay", method="POST", path="/v2/endpoint/acme", times=5, ms=1500)
    run = bench.start(parallelism=2)
    bench.until(lambda: bench.created() >= 1, "the first create")
    run.signal(sig)
    created_at_signal = bench.created()  # read just after sending: creates landed by then are legit
    code = run.wait()

    assert code == 1, run.stdout + run.stderr
    assert_reports_interruption(run, sig)
    ok, failed, skipped = summary(run)
    assert ok + failed + skipped == len(names)
    # Every endpoint whose create had not started is reported as not attempted.
    assert skipped == len(names) - bench.created() and skipped >= 1, (
        "endpoints not yet started must not be started after the signal:\n"
        f"{run.stdout}\n{run.stderr}\nPOSTs: {bench.posts()}"
    )
    # At most the creates already in flight finish: those landed + `parallelism` (2) requests open.
    assert bench.created() <= created_at_signal + 2 and len(bench.live()) == bench.created()
    bench.assert_no_partial_files()

    bench.rerun_converges()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_waiting_for_running(bench: Bench, sig: signal.Signals) -> None:
    bench.fleet(3)
    run = bench.start(parallelism=3)
    bench.until(lambda: bench.created() == 3, "all three creates")
    time.sleep(0.15)  # inside the wait for running (provisioning takes 0.5 s)
    run.signal(sig)
    code = run.wait()

    assert code == 1, run.stdout + run.stderr
    assert_reports_interruption(run, sig)
    ok, failed, skipped = summary(run)
    assert (ok + failed, skipped) == (3, 0)
    bench.assert_no_partial_files()
    assert bench.created() == 3

    bench.rerun_converges()


def test_signal_during_plan_creates_nothing(bench: Bench) -> None:
    bench.fleet(3)
    bench.emulator.inject_fault("delay", method="GET", path="/v2/endpoint/acme", ms=1500)
    run = bench.start()
    bench.until(lambda: bench.emulator.pending_faults() == 0, "the plan's live read")
    run.signal(signal.SIGINT)
    code = run.wait()

    assert code == 1, run.stdout + run.stderr
    assert bench.posts() == [], "nothing may be created after an interrupt during the plan"
    assert not bench.creds.exists() or not [p for p in bench.creds.iterdir() if p.name not in BOOKKEEPING]
    assert "Traceback" not in run.stderr

    bench.rerun_converges()


def test_first_signal_lets_the_call_in_flight_finish(bench: Bench) -> None:
    bench.fleet(3)
    bench.emulator.inject_fault("delay", method="POST", path="/v2/endpoint/acme", ms=1500)
    run = bench.start(parallelism=1)
    bench.until(lambda: bench.emulator.pending_faults() == 0, "the first create to be in flight")
    signalled = time.monotonic()
    run.signal(signal.SIGINT)
    code = run.wait()

    assert code == 1
    assert time.monotonic() - signalled >= 1.2, "the create in flight was abandoned, not finished"
    assert bench.created() == 1 and len(bench.live()) == 1, "the call in flight completed, nothing else"
    ok, failed, skipped = summary(run)
    assert skipped == 2 and ok + failed == 1
    bench.assert_no_partial_files()

    bench.rerun_converges()


def test_second_signal_exits_at_once(bench: Bench) -> None:
    bench.fleet(2)
    bench.emulator.inject_fault("delay", method="POST", path="/v2/endpoint/acme", ms=4000)
    run = bench.start(parallelism=1)
    bench.until(lambda: bench.emulator.pending_faults() == 0, "the first create to be in flight")
    run.signal(signal.SIGINT)
    time.sleep(0.3)
    second = time.monotonic()
    run.signal(signal.SIGTERM)
    code = run.wait(timeout=10)

    assert code == 1
    assert time.monotonic() - second < 2.0, "a second signal must exit at once"
    assert "Second interrupt" in run.stderr or "exiting now" in run.stderr
    bench.assert_no_partial_files()
    # The create held by the service still lands; the rerun must not create it again.
    bench.until(lambda: bench.created() == 1, "the abandoned create to land")

    bench.rerun_converges()


def test_signal_while_the_plan_is_being_written_to_a_full_pipe(bench: Bench) -> None:
    """The main thread is blocked writing the plan (nobody reads stdout yet) when SIGINT comes.

    The signal handler runs on that thread; if it takes the output lock the thread already holds,
    hfops deadlocks and not even a second signal ends it.
    """
    bench.fleet(150)  # a plan text well over a pipe's 64 KiB
    run = bench.start(stdout=subprocess.PIPE)
    bench.until(lambda: any(r["path"] == "/v2/provider/acme" for r in bench.emulator.requests()), "the plan to be made")
    time.sleep(1.0)  # now blocked in write(): the pipe is full
    run.signal(signal.SIGINT)
    time.sleep(0.5)
    assert run.process.stdout is not None
    reader = threading.Thread(target=run.process.stdout.read, daemon=True)  # unblock the write
    reader.start()
    try:
        code = run.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        run.signal(signal.SIGINT)  # the second signal must end it in any case
        try:
            run.process.wait(timeout=5)
            reason = "hung after the first signal (the second one ended it)"
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.wait()
            reason = "deadlocked: neither signal ended it (handler blocked on the output lock)"
        pytest.fail(f"hfops {reason}\nstderr:\n{run.stderr}")
    reader.join(timeout=5)
    assert code == 1
    assert bench.created() == 0, "interrupted before any create: nothing may be created"
    assert f"Received {signal.SIGINT.name}" in run.stderr


def test_second_signal_while_credentials_are_written_leaves_no_temporary_file(bench: Bench) -> None:
    """Exit at once, but not leaving `.hfops-tmp-XXXX.NAME.json` behind in the credentials directory.

    Sixty endpoints become ready together and write their credentials at once; the two signals
    come as the first file appears, so some writes are half done when the second one lands. The
    race is won by the bug most of the time; a few attempts make the test dependable.
    """
    bench.fleet(60)
    leftovers: list[str] = []
    for _attempt in range(4):
        if bench.creds.exists():
            for path in bench.creds.iterdir():
                path.unlink()
        # Endpoints created by an earlier attempt stay; only the credential phase matters here.
        run = bench.start(parallelism=64)
        bench.until(
            lambda: bench.creds.exists() and any(not p.name.startswith(".") for p in bench.creds.glob("*.json")),
            "the first credential file",
        )
        run.signal(signal.SIGINT)
        time.sleep(0.003)
        run.signal(signal.SIGTERM)
        run.wait()
        leftovers = [
            p.name
            for p in bench.creds.iterdir()
            if p.name not in BOOKKEEPING and (not p.name.endswith(".json") or p.name.startswith("."))
        ]
        if leftovers:
            break
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_the_next_apply_removes_temporary_files_a_killed_run_left(bench: Bench) -> None:
    """A run killed mid-write (SIGKILL from a CI timeout, a second signal) leaves a temporary file.

    Rerunning apply must converge to a clean directory: the credentials, and nothing else.
    """
    bench.fleet(2)
    bench.creds.mkdir(mode=0o700)
    stale = bench.creds / ".hfops-tmp-k1ll3d00.svc-00.json"  # the name credential writes give their temporaries
    stale.write_text('{"api_key": "hf_')  # half a credential
    stale.chmod(0o600)

    bench.rerun_converges()

    assert not stale.exists()
