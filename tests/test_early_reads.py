"""A plan's reads sent once its manifests are valid, before the planner is imported
(`workflows/early_reads.py`): the same plan, the same errors, the same requests; and nothing sent
before the manifests are valid, nor when the run is refused (owner, secret variables). In-process
runs of the Reconciler against the emulator over real HTTP, and runs of the real console script
(the only place a plan reads early: with a second process parsing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hfops.adapters.settings import settings_from_env
from hfops.core.errors import HfopsError, Interrupted
from hfops.emulator import Emulator
from hfops.workflows.early_reads import EarlyReads
from hfops.workflows.reconcile import Reconciler
from tests.factories import endpoint_manifest

HFOPS = str(Path(sys.executable).parent / "hfops")
LLAMA = "meta-llama/Llama-2-7b-chat-hf"


# ------------------------------------------------------------------- in-process, real HTTP


GPU = "{accelerator: gpu, instanceType: nvidia-a10g, instanceSize: x1, vendor: aws, region: us-east-1}"
SCALING = "  scaling: {minReplica: 0, maxReplica: 1, scaleToZeroTimeout: 15}\n"


def _manifest(namespace: str, name: str, model: str = "gpt2") -> str:
    return endpoint_manifest(name, namespace, repository=model, compute=GPU, extra=SCALING)


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text("---\n".join([_manifest("acme", "a1"), _manifest("beta", "b1", LLAMA)]), encoding="utf-8")
    return path


def _plan(manifests: Path, tmp_path: Path, early_reads: bool) -> dict[str, object]:
    """The plan's JSON, made with its reads sent early or not."""
    from hfops.core.manifest import load_manifests

    settings = settings_from_env(credentials_dir=str(tmp_path / "credentials"))
    early = EarlyReads(settings) if early_reads else None
    if early is not None:
        assert early.start(load_manifests([str(manifests)]).specs, os.environ)
    try:
        reconciler = Reconciler(settings, warn=lambda _message: None, early=early)
        _context, plan = reconciler.plan([str(manifests)])
    finally:
        if early is not None:
            early.close()
    return plan.to_json()


def _reads(emulator: Emulator) -> list[str]:
    return sorted(f"{r['method']} {r['path']}" for r in emulator.requests() if r["method"] == "GET")


def test_reads_sent_early_give_the_same_plan_with_the_same_requests(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path
) -> None:
    without = _plan(manifests, tmp_path, early_reads=False)
    reads_without = _reads(emulator)
    emulator.clear_requests()
    assert _plan(manifests, tmp_path, early_reads=True) == without
    assert _reads(emulator) == reads_without  # one list per namespace, one resolution per model


def test_an_early_read_that_fails_fails_the_plan_as_the_plan_s_own_read_would(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path
) -> None:
    def failure(early_reads: bool) -> str:
        emulator.inject_fault("error", method="GET", path="/v2/endpoint/beta", status=403, times=1)
        with pytest.raises(HfopsError) as raised:
            _plan(manifests, tmp_path, early_reads)
        return re.sub(r"emu-[0-9a-f]+", "<request id>", str(raised.value))  # one per answer

    assert failure(True) == failure(False)
    assert "beta" in failure(False)


def test_nothing_is_read_early_for_a_run_the_reconciler_refuses(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path
) -> None:
    from hfops.core.manifest import load_manifests

    specs = load_manifests([str(manifests)]).specs
    refused_owner = EarlyReads(settings_from_env(owner="not an owner!"))
    assert not refused_owner.may_start() and not refused_owner.start(specs, os.environ)
    secret = "  secrets: {HF_API_KEY: {fromEnv: UNSET_SECRET_VARIABLE}}\n  scaling:"
    manifests.write_text(manifests.read_text().replace("  scaling:", secret, 1), encoding="utf-8")
    unset = load_manifests([str(manifests)]).specs
    assert not EarlyReads(settings_from_env()).start(unset, {})
    assert emulator.requests() == []


def test_early_reads_use_the_plan_s_bounded_threads_however_many_namespaces(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path
) -> None:
    import threading

    from hfops.core.manifest import load_manifests

    path = tmp_path / "wide.yaml"
    documents = [_manifest(f"ns-{i:02d}", f"e{i:02d}", f"org/model-{i:02d}") for i in range(40)]
    path.write_text("---\n".join(documents), encoding="utf-8")
    emulator.inject_fault("delay", method="GET", path="/v2/endpoint/*", ms=300, times=40)
    settings = settings_from_env()
    early = EarlyReads(settings)
    assert early.start(load_manifests([str(path)]).specs, os.environ)
    threads = [t for t in threading.enumerate() if t.name == "hfops-early"]
    # A list pool, a model-read pool, the resolution's own thread: each bounded by --parallelism.
    assert len(threads) <= 2 * settings.parallelism + 1
    lists = [early.take_list(ns) for ns in sorted(early.namespaces)]
    assert len(lists) == 40 and all(f is not None and f.result(timeout=30) == [] for f in lists)
    early.close()


def test_no_early_read_for_specs_that_wait_for_the_token_s_user(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path
) -> None:
    from hfops.core.manifest import load_manifests

    path = tmp_path / "mixed.yaml"
    unnamed = endpoint_manifest("b", None, extra=SCALING)
    path.write_text("---\n".join([_manifest("acme", "a"), unnamed]), encoding="utf-8")
    assert not EarlyReads(settings_from_env()).start(load_manifests([str(path)]).specs, os.environ)
    assert emulator.requests() == []  # the reconciler asks whoami before any read


def test_without_threads_to_spare_the_reads_are_the_plan_s_own_once_each(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from hfops.core.manifest import load_manifests

    without = _plan(manifests, tmp_path, early_reads=False)
    reads_without = _reads(emulator)
    emulator.clear_requests()
    settings = settings_from_env(credentials_dir=str(tmp_path / "credentials"))
    early = EarlyReads(settings)
    started = threading.Thread.start

    def refused(thread: threading.Thread) -> None:
        if thread.name == "hfops-early":
            raise RuntimeError("can't start new thread")  # as under a pids limit
        started(thread)

    monkeypatch.setattr(threading.Thread, "start", refused)
    assert early.start(load_manifests([str(manifests)]).specs, os.environ)
    monkeypatch.setattr(threading.Thread, "start", started)
    assert early.sent == (0, 0)
    plan = Reconciler(settings, warn=lambda _message: None, early=early).plan([str(manifests)])[1]
    assert plan.to_json() == without
    assert _reads(emulator) == reads_without


def test_an_interrupt_while_the_manifests_load_stops_the_plan_though_its_reads_are_out(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path
) -> None:
    from hfops.core.manifest import load_manifests

    settings = settings_from_env(credentials_dir=str(tmp_path / "credentials"))
    early = EarlyReads(settings)
    assert early.start(load_manifests([str(manifests)]).specs, os.environ)
    early.retry.stop.set()  # what SignalGuard does on SIGINT
    with pytest.raises(Interrupted, match="nothing was planned"):
        Reconciler(settings, warn=lambda _message: None, early=early).plan([str(manifests)])
    early.close()


# ------------------------------------------------------------------- the console script


def _fleet(directory: Path, files: int = 4, per_file: int = 90) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        docs = [_manifest(f"team-{f}", f"ep-{f}-{i:03d}") for i in range(per_file)]
        (directory / f"team-{f}.yaml").write_text("---\n".join(docs), encoding="utf-8")
    assert sum(p.stat().st_size for p in directory.iterdir()) > 64 * 1024  # parsed by a second process
    return directory


def _hfops(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "HFOPS_DEBUG": "1"}
    full.pop("HFOPS_MANIFEST_WORKERS", None)
    return subprocess.run([HFOPS, *args], env=full, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_console_plan_reads_early_and_sends_each_read_once(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path
) -> None:
    fleet = _fleet(tmp_path / "fleet")
    args = ["plan", str(fleet), "--format", "json", "--credentials-dir", str(tmp_path / "c")]
    run = _hfops(args, hf_env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "4 namespace lists and 1 models read once the manifests were valid" in run.stderr
    assert json.loads(run.stdout)["summary"]["add"] == 360
    lists = [r["path"] for r in emulator.requests() if r["path"].startswith("/v2/endpoint/")]
    assert sorted(lists) == [f"/v2/endpoint/team-{f}" for f in range(4)]
    assert [r["path"] for r in emulator.requests()].count("/api/models/gpt2/revision/main") == 1


@pytest.mark.parametrize("refusal", ["manifest", "owner", "secret"])
def test_a_refused_console_plan_sends_nothing_and_says_what_one_process_says(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path, refusal: str
) -> None:
    fleet = _fleet(tmp_path / "fleet")
    env = dict(hf_env)
    if refusal == "manifest":
        (fleet / "zz.yaml").write_text(_manifest("team-0", "Not_A_Valid_Name"), encoding="utf-8")
    elif refusal == "owner":
        env["HFOPS_OWNER"] = "not an owner!"
    else:
        (fleet / "zz.yaml").write_text(
            _manifest("team-0", "secretive").replace(
                "  scaling:", "  secrets: {HF_API_KEY: {fromEnv: UNSET_SECRET_VARIABLE}}\n  scaling:"
            ),
            encoding="utf-8",
        )
    args = ["plan", str(fleet), "--credentials-dir", str(tmp_path / "c")]
    two = _hfops(args, env, tmp_path)
    assert emulator.requests() == []  # not one request, though a second process parsed them
    one = _hfops(args, {**env, "HFOPS_MANIFEST_WORKERS": "1"}, tmp_path)
    assert two.returncode == one.returncode == 1
    said = [line for line in two.stderr.splitlines() if not line.startswith("hfops: ")]
    assert said == [line for line in one.stderr.splitlines() if not line.startswith("hfops: ")]
    assert "manifest files parsed by a second process" in two.stderr or refusal == "owner"
