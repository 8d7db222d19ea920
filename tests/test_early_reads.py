"""Reads sent before the manifests are parsed (`core/read_guess.py`, `workflows/early_reads.py`).

A guess from the raw text; the parsed manifests decide. Whatever the guess (right, too much, too
little, pointing at a namespace that fails or hangs), the plan is the one made without it, the
errors are the ones said without it, and the requests are those of a plan without it plus one per
wrong guess. In-process runs of the Reconciler against the emulator over real HTTP, and runs of
the real console script (the only place a plan reads early: with a second process parsing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hfops.adapters.settings import settings_from_env
from hfops.core.errors import HfopsError, Interrupted
from hfops.core.read_guess import LikelyReads, likely_reads
from hfops.emulator import Emulator
from hfops.workflows.early_reads import EarlyReads
from hfops.workflows.reconcile import Reconciler

HFOPS = str(Path(sys.executable).parent / "hfops")
LLAMA = "meta-llama/Llama-2-7b-chat-hf"


# ------------------------------------------------------------------------------ the guess


def test_the_guess_reads_metadata_and_model_mappings_in_flow_and_block_style() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: hfops/v1
        kind: Endpoint
        metadata:
          name: a
          # namespace: commented-out
          namespace: acme   # the organisation
          labels:
            namespace: a-label-not-the-namespace
        spec:
          model:
            repository: "meta-llama/Llama-2-7b-chat-hf"
            revision: 0123abc
          genstudio:
            outputs:
              - kubernetesSecret: {name: s, namespace: a-kubernetes-namespace}
        ---
        kind: Endpoint
        metadata: {name: b, namespace: 'beta'}
        spec:
          model: {repository: gpt2}
        """
    )
    guess = likely_reads([text], default_namespace="fallback")
    assert guess == LikelyReads(namespaces=("acme", "beta"), models=(("gpt2", "main"), (LLAMA, "0123abc")))


def test_the_default_namespace_is_guessed_only_for_a_document_without_one() -> None:
    named = "metadata: {name: a, namespace: acme}\nspec:\n  model: {repository: gpt2}\n"
    unnamed = "metadata: {name: b}\nspec:\n  model: {repository: gpt2}\n"
    assert likely_reads([named], default_namespace="mine").namespaces == ("acme",)
    assert likely_reads([named, unnamed], default_namespace="mine").namespaces == ("acme", "mine")
    assert likely_reads([unnamed], default_namespace=None).namespaces == ()


def test_yaml_a_scan_cannot_follow_gives_no_guess() -> None:
    for odd in (
        "x: &base {namespace: acme}\nmetadata: *base\n",  # an alias
        "metadata: {name: a, namespace: \"ac\\u006de\"}\n",  # an escape spelling another name
        "%YAML 1.1\n---\nmetadata: {name: a, namespace: acme}\n",  # a directive
        "metadata: !!map {name: a, namespace: acme}\n",  # a tag
    ):
        assert not likely_reads([odd], default_namespace=None), odd


def test_the_scan_reads_whole_first_documents_of_each_file_within_its_budget() -> None:
    from hfops.core import read_guess

    late = "---\nmetadata: {name: z, namespace: late}\n"
    for shift in range(48):  # the budget's end falls at every place of a document in turn
        head = "#" * shift + "\n" + "---\n".join(
            f"metadata:\n  name: a{i:04d}\n  namespace: early\n" for i in range(2000)
        )
        assert len(head) > read_guess.SCAN_BYTES_PER_FILE
        # Only what the budget covers is guessed (`late` is read after the parse), and no document
        # is cut in half (a namespace cut short, or none: the default's guess).
        assert likely_reads([head + late], default_namespace="fallback").namespaces == ("early",), shift
    assert likely_reads([late, head], default_namespace=None).namespaces == ("early", "late")


# ------------------------------------------------------------------- in-process, real HTTP


def _manifest(namespace: str, name: str, model: str = "gpt2") -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: hfops/v1
        kind: Endpoint
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          model: {{repository: {model}}}
          compute: {{accelerator: gpu, instanceType: nvidia-a10g, instanceSize: x1, vendor: aws, region: us-east-1}}
          scaling: {{minReplica: 0, maxReplica: 1, scaleToZeroTimeout: 15}}
        """
    )


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text("---\n".join([_manifest("acme", "a1"), _manifest("beta", "b1", LLAMA)]), encoding="utf-8")
    return path


def _plan(manifests: Path, tmp_path: Path, guess: LikelyReads | None) -> tuple[dict[str, object], str]:
    """The plan's JSON and what early reads said of themselves ("" without them)."""
    settings = settings_from_env(credentials_dir=str(tmp_path / "credentials"))
    early = EarlyReads(settings, guess) if guess is not None else None
    if early is not None:
        early.start()
    try:
        reconciler = Reconciler(settings, warn=lambda _message: None, early=early)
        _context, plan = reconciler.plan([str(manifests)])
    finally:
        if early is not None:
            early.close()
    return plan.to_json(), early.describe() if early is not None else ""


def _reads(emulator: Emulator) -> list[str]:
    return sorted(f"{r['method']} {r['path']}" for r in emulator.requests() if r["method"] == "GET")


def test_a_right_guess_gives_the_same_plan_with_the_same_requests(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path
) -> None:
    without, _ = _plan(manifests, tmp_path, None)
    reads_without = _reads(emulator)
    emulator.clear_requests()
    guess = likely_reads([manifests.read_text()], default_namespace=None)
    assert guess.namespaces == ("acme", "beta")
    with_early, said = _plan(manifests, tmp_path, guess)
    assert with_early == without
    assert _reads(emulator) == reads_without  # one list per namespace, one resolution per model
    assert "the plan used 4 of those 4 reads" in said


def test_a_wrong_guess_costs_its_own_reads_and_changes_nothing_else(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path
) -> None:
    without, _ = _plan(manifests, tmp_path, None)
    reads_without = _reads(emulator)
    emulator.clear_requests()
    # A namespace the manifests do not use (refused by the API), one they use missed, a model no
    # manifest names (unknown to the Hub): none of it shows, the missed one is read by the plan.
    emulator.inject_fault("error", method="GET", path="/v2/endpoint/ghost", status=403, times=5)
    guess = LikelyReads(namespaces=("acme", "ghost"), models=(("gpt2", "main"), ("nobody/nothing", "main")))
    with_early, said = _plan(manifests, tmp_path, guess)
    assert with_early == without
    extra = ["GET /api/models/nobody/nothing/revision/main", "GET /nobody/nothing/resolve/main/config.json",
             "GET /v2/endpoint/ghost"]
    assert _reads(emulator) == sorted(reads_without + extra)
    assert "the plan used 2 of those 4 reads" in said


def test_an_early_read_that_fails_fails_the_plan_as_the_plan_s_own_read_would(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path
) -> None:
    def failure(guess: LikelyReads | None) -> str:
        emulator.inject_fault("error", method="GET", path="/v2/endpoint/beta", status=403, times=1)
        with pytest.raises(HfopsError) as raised:
            _plan(manifests, tmp_path, guess)
        return re.sub(r"emu-[0-9a-f]+", "<request id>", str(raised.value))  # one per answer

    assert failure(LikelyReads(namespaces=("acme", "beta"))) == failure(None)
    assert "beta" in failure(None)


def test_an_interrupt_while_the_manifests_load_stops_the_plan_though_its_reads_are_out(
    emulator: Emulator, hf_env: dict[str, str], manifests: Path, tmp_path: Path
) -> None:
    settings = settings_from_env(credentials_dir=str(tmp_path / "credentials"))
    early = EarlyReads(settings, likely_reads([manifests.read_text()], default_namespace=None))
    early.start()
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


def test_the_console_plan_reads_ahead_and_sends_each_read_once(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path
) -> None:
    fleet = _fleet(tmp_path / "fleet")
    args = ["plan", str(fleet), "--format", "json", "--credentials-dir", str(tmp_path / "c")]
    run = _hfops(args, hf_env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "read ahead 4 namespace lists and 1 models; the plan used 5 of those 5 reads" in run.stderr
    assert json.loads(run.stdout)["summary"]["add"] == 360
    lists = [r["path"] for r in emulator.requests() if r["path"].startswith("/v2/endpoint/")]
    assert sorted(lists) == [f"/v2/endpoint/team-{f}" for f in range(4)]
    assert [r["path"] for r in emulator.requests()].count("/api/models/gpt2/revision/main") == 1


def test_a_refused_set_ends_at_once_though_a_read_it_guessed_hangs(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path
) -> None:
    fleet = _fleet(tmp_path / "fleet")
    # Text that looks like a namespace to the scan (inside a block string) and a broken document:
    # the set is refused while the list of `ghost`, which the server holds for 20 s, is out.
    (fleet / "notes.yaml").write_text(
        _manifest("team-0", "noted").replace(
            "  scaling:", "  env:\n    NOTE: |\n      metadata: {name: x, namespace: ghost}\n  scaling:"
        )
        + "---\n"
        + _manifest("team-0", "Not_A_Valid_Name"),
        encoding="utf-8",
    )
    emulator.inject_fault("delay", method="GET", path="/v2/endpoint/ghost", ms=20_000)
    started = time.monotonic()
    run = _hfops(["plan", str(fleet), "--credentials-dir", str(tmp_path / "c")], hf_env, tmp_path)
    took = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    assert "reading ahead 5 namespace lists and 1 models" in run.stderr  # the ghost's list was out
    said = [line for line in run.stderr.splitlines() if not line.startswith("hfops: ")]
    assert "Not_A_Valid_Name" in "\n".join(said) and "ghost" not in "\n".join(said) + run.stdout
    assert took < 10, f"the run waited {took:.1f} s for a read it did not need"
