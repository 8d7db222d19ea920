"""Many credentials at once: written concurrently, recorded in one ledger commit, safe under kill -9.

`hfops credentials` for a fleet used to call each endpoint's /info one after another and rewrite
the whole ledger (and fsync it) once per credential: 500 endpoints took ~30 s. Now the outputs
are written concurrently and the ledger records them in one batch; the ledger's `generation`
(commits ever made to it) shows how many commits a run made. A kill -9 at any moment must leave
every credential file complete (old or new) and the ledger claiming only files that exist.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hfops.adapters.atomic import is_temporary_name
from hfops.adapters.sinks.ledger import LEDGER_NAME, Ledger
from hfops.core.errors import CredentialsError
from hfops.emulator import Emulator, EmulatorConfig
from tests.factories import BOOKKEEPING, GENSTUDIO_KEY_FROM_ENV, endpoint_manifest

TOKEN = "hf_fake_batch_deploy_token_0000"
GENSTUDIO_KEY = "hf_fake_batch_genstudio_key_0000"
HFOPS = str(Path(sys.executable).with_name("hfops"))
CREDENTIAL_KEYS = ["api_key", "context_window", "endpoint", "model_name"]


def fleet(directory: Path, count: int) -> list[str]:
    directory.mkdir(exist_ok=True)
    names = [f"svc-{i:03d}" for i in range(count)]
    docs = [endpoint_manifest(n, extra=GENSTUDIO_KEY_FROM_ENV) for n in names]
    (directory / "fleet.yaml").write_text("---\n".join(docs), encoding="utf-8")
    return names


def ledger_data(creds: Path) -> dict:
    return json.loads((creds / LEDGER_NAME).read_text())


# -- through the CLI ---------------------------------------------------------------------------


def test_hfops_credentials_records_a_fleet_in_one_ledger_commit(emulator, hf_env, run, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_API_KEY", GENSTUDIO_KEY)
    names = fleet(tmp_path / "manifests", 40)
    creds = tmp_path / "creds"
    manifests = str(tmp_path / "manifests")
    assert run("apply", manifests, "--yes", "--no-wait", "--credentials-dir", str(creds)).code == 0
    deadline = time.monotonic() + 30
    while any(emulator.endpoint_raw("acme", n)["status"]["state"] != "running" for n in names):  # type: ignore[index]
        assert time.monotonic() < deadline, "the fleet never ran"
        time.sleep(0.05)
    before = Ledger(creds).generation()

    result = run("credentials", manifests, "--credentials-dir", str(creds))

    assert result.code == 0, result.output
    assert sorted(p.name for p in creds.glob("*.json")) == [f"{n}.json" for n in names]
    for name in names:
        data = json.loads((creds / f"{name}.json").read_text())
        assert data["api_key"] == GENSTUDIO_KEY
        assert data["endpoint"] == emulator.endpoint_raw("acme", name)["status"]["url"]  # type: ignore[index]
    outputs = ledger_data(creds)["outputs"]
    assert sorted(outputs) == [f"file:{n}.json" for n in names]
    assert {v["address"] for v in outputs.values()} == {f"acme/{n}" for n in names}
    commits = Ledger(creds).generation() - before
    # One commit per credential would be 40; the batch commits at its end and every 0.5 s.
    assert 1 <= commits <= 6, f"{commits} ledger commits for {len(names)} credentials"
    assert GENSTUDIO_KEY not in result.output and TOKEN not in result.output
    assert run("plan", manifests, "--detailed-exitcode", "--credentials-dir", str(creds)).code == 0


def test_apply_records_the_credentials_it_writes_in_a_few_ledger_commits(emulator, hf_env, run, tmp_path, monkeypatch):
    monkeypatch.setenv("GENSTUDIO_API_KEY", GENSTUDIO_KEY)
    names = fleet(tmp_path / "manifests", 40)
    creds = tmp_path / "creds"

    result = run("apply", str(tmp_path / "manifests"), "--yes", "--credentials-dir", str(creds))

    assert result.code == 0, result.output
    assert sorted(ledger_data(creds)["outputs"]) == [f"file:{n}.json" for n in names]
    commits = Ledger(creds).generation()
    # One per credential would be 40: written as endpoints become ready, they are recorded every 0.5 s.
    assert 1 <= commits <= 10, f"{commits} ledger commits for {len(names)} credentials"
    assert run("plan", str(tmp_path / "manifests"), "--detailed-exitcode", "--credentials-dir", str(creds)).code == 0


def test_a_credential_written_but_never_recorded_is_recorded_by_the_next_run_and_then_pruned(
    emulator, hf_env, run, tmp_path, monkeypatch
):
    """What a kill between a credential's write and its ledger commit leaves: a complete file the
    ledger does not claim. `hfops credentials`, with nothing to write, records it, so prune removes it.
    (An apply rewrites the credential of every endpoint it waits for, which records it too.)"""
    monkeypatch.setenv("GENSTUDIO_API_KEY", GENSTUDIO_KEY)
    manifests = tmp_path / "manifests"
    fleet(manifests, 2)
    creds = tmp_path / "creds"
    args = ("--yes", "--credentials-dir", str(creds))
    assert run("apply", str(manifests), *args).code == 0
    data = ledger_data(creds)
    del data["outputs"]["file:svc-001.json"]  # as if killed before this entry was committed
    (creds / LEDGER_NAME).write_text(json.dumps(data))
    (creds / "stray.json").write_text((creds / "svc-001.json").read_text())  # the same URL, not declared

    again = run("credentials", str(manifests), "--credentials-dir", str(creds))

    assert again.code == 0, again.output
    assert "No changes" in again.stdout, again.stdout
    outputs = ledger_data(creds)["outputs"]
    assert outputs["file:svc-001.json"]["address"] == "acme/svc-001"
    assert "file:stray.json" not in outputs, "only a declared output of the endpoint is recorded"
    (manifests / "fleet.yaml").write_text(endpoint_manifest("svc-000", extra=GENSTUDIO_KEY_FROM_ENV))
    pruned = run("apply", str(manifests), "--prune", *args)
    assert pruned.code == 0, pruned.output
    assert not (creds / "svc-001.json").exists()
    assert (creds / "svc-000.json").exists() and (creds / "stray.json").exists()


def test_destroy_removes_a_credential_a_killed_run_wrote_but_never_recorded(
    emulator, hf_env, run, tmp_path, monkeypatch
):
    """A complete credential at the endpoint's own output, which the ledger does not claim (a kill
    between its write and its commit): destroy removes it, as its plan says, and says so truly."""
    monkeypatch.setenv("GENSTUDIO_API_KEY", GENSTUDIO_KEY)
    manifests = tmp_path / "manifests"
    fleet(manifests, 2)
    creds = tmp_path / "creds"
    assert run("apply", str(manifests), "--yes", "--credentials-dir", str(creds)).code == 0
    data = ledger_data(creds)
    del data["outputs"]["file:svc-001.json"]  # as if killed before this entry was committed
    (creds / LEDGER_NAME).write_text(json.dumps(data))
    (creds / "stray.json").write_text((creds / "svc-001.json").read_text())  # not an output: never touched

    destroyed = run("destroy", str(manifests), "--yes", "--credentials-dir", str(creds))

    assert destroyed.code == 0, destroyed.output
    assert "svc-001.json" in destroyed.output
    assert not (creds / "svc-001.json").exists(), "reported removed but left, key and all"
    assert not (creds / "svc-000.json").exists()
    assert (creds / "stray.json").exists()


# -- kill -9 in the middle ---------------------------------------------------------------------


def _env(emulator: Emulator, key: str = GENSTUDIO_KEY) -> dict[str, str]:
    return {
        **os.environ,
        "HF_TOKEN": TOKEN,
        "HF_ENDPOINT": emulator.url,
        "HFOPS_API_URL": emulator.url + "/v2",
        "HFOPS_POLL_INTERVAL": "0.1",
        "GENSTUDIO_API_KEY": key,
    }


def _hfops(
    emulator: Emulator, *args: str, key: str = GENSTUDIO_KEY, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HFOPS, *args], env=_env(emulator, key), capture_output=True, text=True, timeout=timeout)


def assert_consistent(creds: Path, keys: tuple[str, ...] = (GENSTUDIO_KEY,)) -> list[str]:
    """Every credential file complete (old or new: holding one of `keys`); the ledger valid and
    claiming only complete files. Returns the names of the complete credential files."""
    complete = []
    for path in creds.iterdir():
        if path.name in BOOKKEEPING or is_temporary_name(path.name):
            continue  # a temporary file a kill left: removed by the next run (test_interrupts)
        data = json.loads(path.read_text())  # never half a file
        assert sorted(data) == CREDENTIAL_KEYS, path.name
        assert data["api_key"] in keys, path.name
        complete.append(path.name)
    if (creds / LEDGER_NAME).exists():
        text = (creds / LEDGER_NAME).read_text()
        if text.strip():  # empty: created by a lock, before the first commit
            for output_id in json.loads(text).get("outputs", {}):
                name = output_id.removeprefix("file:")
                assert name in complete, f"the ledger claims {name}, which is not a complete credential file"
    return complete


def kill_during_credentials(
    emulator: Emulator,
    manifests: Path,
    creds: Path,
    delay: float,
    key: str,
    command: tuple[str, ...] = ("credentials",),
) -> None:
    """Start `hfops credentials` (or `command`), SIGKILL it `delay` seconds after it wrote its first file."""
    before = {p.name: p.stat().st_ino for p in creds.glob("svc-*.json")}
    process = subprocess.Popen(
        [HFOPS, *command, str(manifests), "--credentials-dir", str(creds)],
        env=_env(emulator, key),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(before.get(p.name) != p.stat().st_ino for p in creds.glob("svc-*.json")):
            assert process.poll() is None, "the run ended before writing anything"
            assert time.monotonic() < deadline, "no credential file was written"
            time.sleep(0.001)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)


def test_a_kill_during_a_credentials_run_leaves_complete_files_and_a_truthful_ledger(tmp_path: Path) -> None:
    with Emulator(EmulatorConfig(provision_seconds=0.2, retry_after_seconds=0, latency_ms=15, seed=3)) as emulator:
        manifests = tmp_path / "manifests"
        names = fleet(manifests, 200)
        creds = tmp_path / "creds"
        applied = _hfops(emulator, "apply", str(manifests), "--yes", "--no-wait", "--credentials-dir", str(creds))
        assert applied.returncode == 0, applied.stdout + applied.stderr
        time.sleep(1.0)
        killed_midway = 0
        for delay in (0.0, 0.01, 0.05, 0.2):  # from nothing: files appear, the ledger comes last
            # An existing, empty directory: the credentials of every endpoint are to be written.
            shutil.rmtree(creds, ignore_errors=True)
            creds.mkdir(mode=0o700)
            kill_during_credentials(emulator, manifests, creds, delay, GENSTUDIO_KEY)
            killed_midway += len(assert_consistent(creds)) < len(names)
        done = _hfops(emulator, "credentials", str(manifests), "--credentials-dir", str(creds))
        assert done.returncode == 0, done.stdout + done.stderr
        rotated = 0
        for delay in (0.0, 0.01, 0.05, 0.2):  # a key rotation: every file rewritten over the old one
            key = f"hf_fake_batch_rotated_key_{delay:.2f}"
            previous = {json.loads((creds / f"{n}.json").read_text())["api_key"] for n in names}
            kill_during_credentials(emulator, manifests, creds, delay, key)
            seen = assert_consistent(creds, (*previous, key))
            assert sorted(seen) == [f"{n}.json" for n in names], "a file hfops had written disappeared"
            assert sorted(ledger_data(creds)["outputs"]) == [f"file:{n}.json" for n in names]
            holding = [json.loads((creds / n).read_text())["api_key"] for n in seen]
            rotated += 0 < holding.count(key) < len(names)

        assert killed_midway and rotated, "every kill came after the run had finished: no mid-write state seen"
        # A plain rerun converges: every credential written, the ledger records every one, no change left.
        rerun = _hfops(emulator, "credentials", str(manifests), "--credentials-dir", str(creds))
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert sorted(assert_consistent(creds)) == [f"{n}.json" for n in names]
        assert not [p.name for p in creds.iterdir() if is_temporary_name(p.name)]
        planned = _hfops(emulator, "plan", str(manifests), "--detailed-exitcode", "--credentials-dir", str(creds))
        assert planned.returncode == 0, planned.stdout + planned.stderr


def test_a_kill_during_an_apply_leaves_complete_files_and_a_truthful_ledger(tmp_path: Path) -> None:
    """The same during `hfops apply`, whose credentials are written as endpoints become ready."""
    with Emulator(EmulatorConfig(provision_seconds=0.3, retry_after_seconds=0, latency_ms=10, seed=4)) as emulator:
        manifests = tmp_path / "manifests"
        names = fleet(manifests, 120)
        creds = tmp_path / "creds"
        creds.mkdir(mode=0o700)
        apply = ("apply", "--yes")
        kill_during_credentials(emulator, manifests, creds, 0.0, GENSTUDIO_KEY, apply)
        first = assert_consistent(creds)
        kill_during_credentials(emulator, manifests, creds, 0.05, "hf_fake_batch_rotated_key_0000", apply)
        second = assert_consistent(creds, (GENSTUDIO_KEY, "hf_fake_batch_rotated_key_0000"))
        assert len(first) < len(names) or len(second) < len(names), "no kill came while credentials were written"

        rerun = _hfops(emulator, "apply", str(manifests), "--yes", "--credentials-dir", str(creds))
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert sorted(assert_consistent(creds)) == [f"{n}.json" for n in names]
        assert sorted(ledger_data(creds)["outputs"]) == [f"file:{n}.json" for n in names]
        assert not [p.name for p in creds.iterdir() if is_temporary_name(p.name)]
        posts = [r for r in emulator.requests() if r["method"] == "POST" and r["status"] == 202]
        assert len(posts) == len(names), "an endpoint was created twice"
        planned = _hfops(emulator, "plan", str(manifests), "--detailed-exitcode", "--credentials-dir", str(creds))
        assert planned.returncode == 0, planned.stdout + planned.stderr


# -- the ledger's commits ------------------------------------------------------------------------


def test_a_change_is_in_the_file_when_record_returns_even_when_threads_share_commits(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    ledger = Ledger(root)
    missing: list[str] = []

    def work(thread: int) -> None:
        for index in range(15):
            output_id = f"file:t{thread}-{index}.json"
            ledger.record(output_id, f"ns/t{thread}-{index}", "ci")
            if Ledger(root).get(output_id) is None:  # a fresh reader: what is in the file
                missing.append(output_id)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert missing == []
    assert len(Ledger(root).entries()) == 12 * 15
    assert 1 <= Ledger(root).generation() <= 12 * 15


def test_a_batch_commits_once_at_its_end(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    ledger = Ledger(root)
    ledger.record("file:first.json", "ns/first", "ci")
    assert Ledger(root).generation() == 1
    with ledger.batch(every=3600):
        threads = [
            threading.Thread(target=ledger.record, args=(f"file:b{i}.json", f"ns/b{i}", "ci")) for i in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ledger.forget("file:first.json")
        assert Ledger(root).generation() == 1, "committed before the end of the batch"
        assert Ledger(root).get("file:b0.json") is None
    fresh = Ledger(root)
    assert fresh.generation() == 2
    assert sorted(fresh.entries()) == sorted(f"file:b{i}.json" for i in range(20))


def test_a_long_batch_commits_as_it_goes_even_when_no_other_change_comes(tmp_path: Path) -> None:
    # An apply waiting on slow endpoints records a fast one's credential and then nothing for
    # minutes: that record must reach the file within `every`, not at the end (a kill loses it).
    root = tmp_path / "creds"
    ledger = Ledger(root)
    with ledger.batch(every=0.05):
        ledger.record("file:a.json", "ns/a", "ci")
        deadline = time.monotonic() + 5
        while Ledger(root).get("file:a.json") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Ledger(root).get("file:a.json") is not None, "a lone change waited for the end of the batch"
        ledger.record("file:b.json", "ns/b", "ci")
        ledger.record("file:c.json", "ns/c", "ci")
    assert sorted(Ledger(root).entries()) == ["file:a.json", "file:b.json", "file:c.json"]
    assert Ledger(root).generation() in (2, 3)  # a by the timer; b and c by it or by the end


def test_a_batch_whose_commit_fails_says_so_at_its_end(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    root.mkdir(mode=0o700)
    (root / LEDGER_NAME).mkdir()  # the ledger cannot be written
    ledger = Ledger(root)
    with pytest.raises(CredentialsError, match="cannot update"), ledger.batch():
        assert ledger.record("file:a.json", "ns/a", "ci") == []
    with pytest.raises(CredentialsError, match="cannot update"):
        ledger.record("file:b.json", "ns/b", "ci")


def test_the_ledger_file_is_json_one_output_per_line(tmp_path: Path) -> None:
    root = tmp_path / "creds"
    ledger = Ledger(root)
    ledger.record('command:["vault","kv","put","x"]', "ns/x", "ci", fingerprint_of=b"hf_fake_content_0000")
    ledger.record('file:odd "name"\n\u00e9.json', "ns/y", "ci")
    text = (root / LEDGER_NAME).read_text()
    data = json.loads(text)
    assert set(data) == {"generation", "outputs", "salt", "version"}
    assert data["outputs"]['file:odd "name"\n\u00e9.json'] == {"address": "ns/y", "digest": None, "owner": "ci"}
    assert data["outputs"]['command:["vault","kv","put","x"]']["digest"].startswith("scrypt:")
    assert "hf_fake_content_0000" not in text
    lines = text.splitlines()
    assert sum(1 for line in lines if '"address"' in line) == 2, text


@pytest.mark.parametrize("every", [3600.0, 0.0])
def test_a_batch_keeps_the_order_of_the_changes_to_one_output(tmp_path: Path, every: float) -> None:
    """A write, a removal, then a write of one output: the last one wins, with threads' changes
    committed together at the end (every=3600) or falling due as they come (every=0)."""
    root = tmp_path / "creds"
    ledger = Ledger(root)

    def work(thread: int) -> None:
        for index in range(10):
            output_id = f"file:t{thread}-{index}.json"
            ledger.record(output_id, "ns/old", "ci")
            ledger.forget(output_id)
            ledger.record(output_id, "ns/new", "ci")

    with ledger.batch(every=every):
        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    entries = Ledger(root).entries()
    assert len(entries) == 80
    assert {entry.address for entry in entries.values()} == {"ns/new"}
