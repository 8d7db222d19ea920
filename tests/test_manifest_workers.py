"""Manifests parsed by a second process (`adapters/manifest_workers.py`) give exactly what one
process gives: the same plan, the same located errors; a failed child changes nothing; no child
outlives hfops. Run through the real console script, as users run it (the parallel path is
only taken in the console process, never in a test process calling `main(argv)`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hfops.emulator import Emulator

HFOPS = str(Path(sys.executable).parent / "hfops")
REPO = Path(__file__).resolve().parents[1]


def _manifest(namespace: str, name: str) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: hfops/v1
        kind: Endpoint
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          model: {{repository: meta-llama/Llama-2-7b-chat-hf}}
          compute: {{accelerator: gpu, instanceType: nvidia-a10g, instanceSize: x1, vendor: aws, region: us-east-1}}
          scaling: {{minReplica: 0, maxReplica: 1, scaleToZeroTimeout: 15}}
        """
    )


def _fleet(
    directory: Path, files: int = 4, per_file: int = 90, broken: dict[int, tuple[int, str, str]] | None = None
) -> Path:
    """`files` manifest files of `per_file` endpoints (well above the parallel threshold);
    `broken[file] = (index, old, new)` replaces text in one document of that file."""
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        docs = [_manifest(f"team-{f}", f"ep-{f}-{i:03d}") for i in range(per_file)]
        if broken and f in broken:
            index, old, new = broken[f]
            docs[index] = docs[index].replace(old, new)
        (directory / f"team-{f}.yaml").write_text("---\n".join(docs), encoding="utf-8")
    assert sum(p.stat().st_size for p in directory.iterdir()) > 64 * 1024
    return directory


def _env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {**os.environ, **base, "HFOPS_DEBUG": "1"}
    env.pop("HFOPS_MANIFEST_WORKERS", None)
    env.update(extra)
    return env


def _hfops(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HFOPS, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


SECOND = "manifest files parsed by a second process"


def _script(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`code` run as a program of its own (the parallel path is taken only where the process ends
    with the command: never in this test process), with HFOPS_DEBUG and without a worker limit."""
    env = {**os.environ, "HFOPS_DEBUG": "1"}
    env.pop("HFOPS_MANIFEST_WORKERS", None)
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_a_plan_is_the_same_whether_one_or_two_processes_parse(
    emulator: Emulator, hf_env: dict[str, str], tmp_path: Path
) -> None:
    fleet = _fleet(tmp_path / "fleet")
    args = ["plan", str(fleet), "--format", "json", "--credentials-dir", str(tmp_path / "c")]
    both = _hfops(args, _env(hf_env), tmp_path)
    one = _hfops(args, _env(hf_env, HFOPS_MANIFEST_WORKERS="1"), tmp_path)
    assert both.returncode == one.returncode == 0, both.stderr + one.stderr
    assert SECOND in both.stderr and SECOND not in one.stderr
    assert "a second process started" not in one.stderr
    plan, again = json.loads(both.stdout), json.loads(one.stdout)
    assert plan == again
    assert plan["summary"]["add"] == 360
    # In file order, as a single process reads them.
    assert [a["address"] for a in plan["actions"]][:2] == ["team-0/ep-0-000", "team-0/ep-0-001"]
    assert [a["address"] for a in plan["actions"]][-1] == "team-3/ep-3-089"


def test_errors_in_files_either_process_parsed_are_located_the_same(tmp_path: Path) -> None:
    # The first file goes to the child, the last stays here: an error in each, one run.
    fleet = _fleet(
        tmp_path / "fleet",
        broken={0: (5, "minReplica: 0", "minReplica: 0, minReplicas: 1"), 3: (80, "region: us-east-1", "region: [x")},
    )
    base = {
        "HF_TOKEN": "hf_test_workers_0123456789",
        "HFOPS_API_URL": "http://127.0.0.1:9/v2",
        "HF_ENDPOINT": "http://127.0.0.1:9",
    }
    both = _hfops(["plan", str(fleet)], _env(base), tmp_path)
    one = _hfops(["plan", str(fleet)], _env(base, HFOPS_MANIFEST_WORKERS="1"), tmp_path)
    assert both.returncode == one.returncode == 1
    assert SECOND in both.stderr

    def errors(stderr: str) -> list[str]:
        # What is said, up to HFOPS_DEBUG's traceback (whose frames show which process parsed).
        said = stderr.split("Traceback (most recent call last)")[0]
        return [line for line in said.splitlines() if not line.startswith("hfops: ") or "error" in line]

    assert errors(both.stderr) == errors(one.stderr)
    text = both.stderr
    assert "team-0.yaml:" in text and "minReplicas" in text  # the child's file: file, line, field
    assert "team-3.yaml:" in text  # this process's file


_KILLED_CHILD = """
import os, signal, sys
from hfops.core import gc_pause
from hfops.core.manifest import load_manifests
from hfops.adapters.manifest_workers import start_manifest_load
gc_pause.command_ends_process()  # as the console entry point does
with start_manifest_load([sys.argv[1]], default_namespace=None, allow_empty=False) as started:
    assert started.pid is not None, "no second process was started"
    assert started.child_files, "the second process was given no file"
    os.kill(started.pid, signal.SIGKILL)
    loaded = started.result()
serial = load_manifests([sys.argv[1]])
assert loaded.specs == serial.specs and loaded.files == serial.files, "differs"
print(len(loaded.specs), "specs", len(started.child_files), "files from the killed child")
"""


def test_a_killed_second_process_changes_nothing_but_who_parses(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path / "fleet")
    run = _script(_KILLED_CHILD, str(fleet))
    assert run.returncode == 0, run.stderr
    assert "360 specs" in run.stdout
    assert "the second process failed; its manifest files were parsed here" in run.stderr


_SUBREAPER = """
import ctypes, os, subprocess, sys, time
PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(run.stderr)
time.sleep(0.5)  # an orphan would be ours now: reparented to this subreaper
try:
    pid, status = os.waitpid(-1, os.WNOHANG)
    print("LEFTOVER" if pid else "RUNNING-LEFTOVER")
except ChildProcessError:
    print("NO-LEFTOVER")
print("exit", run.returncode)
"""


def test_no_second_process_outlives_a_run_that_fails_before_reading_them(tmp_path: Path) -> None:
    # The token check fails after the child started (it parses while the reconciler is built).
    fleet = _fleet(tmp_path / "fleet", files=6, per_file=150)
    env = {**os.environ, "HFOPS_DEBUG": "1"}
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HFOPS_MANIFEST_WORKERS"):
        env.pop(name, None)
    env["HF_HOME"] = str(tmp_path / "hf-home")  # no stored token either
    run = subprocess.run(
        [sys.executable, "-c", _SUBREAPER, HFOPS, "plan", str(fleet)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "hfops: a second process started for" in run.stdout  # the child did start
    assert "no Hugging Face token" in run.stdout
    assert "exit 1" in run.stdout
    assert "NO-LEFTOVER" in run.stdout, run.stdout


# ------------------------------------------------------- specs built ahead, under the set's Defaults

# The set `fleet` loaded by two processes and by one, compared (specs, where each field was
# written, files), with what the script adds in `extra()`: the end of the scripts below.
_LOAD_AND_COMPARE = """
import json
from hfops.adapters import manifest_workers
from hfops.core import gc_pause
from hfops.core.manifest import load_manifests
gc_pause.command_ends_process()  # as the console entry point does
with manifest_workers.start_manifest_load([fleet], default_namespace="fallback-ns", allow_empty=False) as started:
    assert started.pid is not None, "no second process was started"
    loaded = started.result()
serial = load_manifests([fleet], default_namespace="fallback-ns")
FIELDS = ("spec.env.FROM_DEFAULTS", "spec.scaling.maxReplica", "metadata.tags", "metadata.name")
def located(specs):
    return [[str(s.location_of(f)) for f in FIELDS] for s in specs]
print(json.dumps({
    "same_specs": loaded.specs == serial.specs,
    "same_locations": located(loaded.specs) == located(serial.specs),
    "same_files": loaded.files == serial.files,
    "specs": len(loaded.specs),
    "child_files": len(started.child_files),
    "inherited": sorted({
        s.namespace
        for s in loaded.specs
        if "from-defaults" in s.tags and dict(s.env).get("FROM_DEFAULTS") == s.namespace
    }),
    **extra(),
}))
"""

_SAME_AS_SERIAL = """
import sys
fleet = sys.argv[1]
def extra():
    return {}
""" + _LOAD_AND_COMPARE

_DEFAULTS = """\
apiVersion: hfops/v1
kind: {kind}
metadata: {{name: d-{namespace}, namespace: {namespace}, tags: [from-defaults]}}
spec:
  env: {{FROM_DEFAULTS: "{namespace}"}}
"""


def _defaults(namespace: str, kind: str = "Defaults") -> str:
    return _DEFAULTS.format(kind=kind, namespace=namespace)


def _layout(directory: Path, case: str) -> None:
    """Ten files of 150 endpoints (the child takes the first ones, this process the last ones) and
    Defaults placed where `case` says."""
    _fleet(directory, files=10, per_file=150)
    last = directory / "team-9.yaml"
    first = directory / "team-0.yaml"
    if case == "own-small-file":  # sorted first: the child's share
        (directory / "00-defaults.yaml").write_text(_defaults("team-9") + "---\n" + _defaults("team-1"))
    elif case == "in-the-last-file":  # this process's share only: the child's specs must not be used
        last.write_text(_defaults("team-2") + "---\n" + last.read_text())
    elif case == "escaped-in-the-last-file":  # no "Defaults" in the text: the guess misses, the check must not
        last.write_text(_defaults("team-2", kind='"\\x44efaults"') + "---\n" + last.read_text())
    elif case == "in-first-and-last":
        first.write_text(first.read_text() + "\n---\n" + _defaults("team-9"))
        last.write_text(last.read_text() + "\n---\n" + _defaults("team-0"))
    elif case == "word-in-a-comment":  # may hold Defaults, holds none: costs a parse, changes nothing
        last.write_text("# no Defaults here\n" + last.read_text())
        first.write_text(first.read_text() + "\n---\n" + _defaults("team-3"))
    else:
        raise AssertionError(case)


INHERITED = {
    "own-small-file": ["team-1", "team-9"],
    "in-the-last-file": ["team-2"],
    "escaped-in-the-last-file": ["team-2"],
    "in-first-and-last": ["team-0", "team-9"],
    "word-in-a-comment": ["team-3"],
}


@pytest.mark.parametrize(
    "case", ["own-small-file", "in-the-last-file", "escaped-in-the-last-file", "in-first-and-last", "word-in-a-comment"]
)
def test_specs_built_by_the_second_process_are_those_of_one_build(tmp_path: Path, case: str) -> None:
    fleet = tmp_path / "fleet"
    _layout(fleet, case)
    run = _script(_SAME_AS_SERIAL, str(fleet))
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    files = len(list(fleet.iterdir()))
    assert 0 < result["child_files"] < files, "the layout must give each process a share"
    assert result["same_specs"] and result["same_locations"] and result["same_files"], result
    assert result["specs"] == 1500
    assert result["inherited"] == INHERITED[case], "the Defaults were applied where they belong"


# ------------------------------------------- the child's share as a queue this process takes from too

_RACING_TAKERS = """
import json, os, sys
from hfops.adapters.manifest_workers import ClaimQueue
files = [f"f{i}" for i in range(int(sys.argv[1]))]
queue = ClaimQueue.of(files)
assert queue is not None
read_fd, write_fd = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read_fd)
    mine = list(queue.taken())
    os.write(write_fd, json.dumps(mine).encode())
    os._exit(0)
os.close(write_fd)
mine = list(queue.taken())
with os.fdopen(read_fd) as answer:
    theirs = json.loads(answer.read())
os.waitpid(pid, 0)
print(json.dumps({"mine": mine, "theirs": theirs}))
"""


def test_each_file_of_the_queue_is_taken_by_exactly_one_of_two_racing_processes() -> None:
    run = _script(_RACING_TAKERS, "3000")
    assert run.returncode == 0, run.stderr
    taken = json.loads(run.stdout)
    mine, theirs = taken["mine"], taken["theirs"]
    assert not set(mine) & set(theirs), "a file was taken twice"
    assert sorted(mine + theirs, key=lambda f: int(f[1:])) == [f"f{i}" for i in range(3000)]
    # Each takes in queue order: what one took is increasing.
    assert mine == sorted(mine, key=lambda f: int(f[1:])) and theirs == sorted(theirs, key=lambda f: int(f[1:]))


# The child may take a file only once this process has taken one of its share (a pipe between the
# two, made before the fork): this process takes the files the child has not reached, every run.
# `kill_child_after_taking`: the child dies holding the file it took, never sending it.
_INTERLEAVED = """
import os, signal, sys
from hfops.adapters import manifest_workers
fleet, mode = sys.argv[1], sys.argv[2]
parent = os.getpid()
go_read, go_write = os.pipe()
original_take = manifest_workers.ClaimQueue.take
state = {"waited": False, "stolen": 0}
def take(self):
    if os.getpid() == parent:
        file = original_take(self)
        if file is not None:
            state["stolen"] += 1
            if state["stolen"] == 1:
                os.write(go_write, b"g")  # the child may go on
        return file
    if not state["waited"]:
        state["waited"] = True
        os.read(go_read, 1)
    file = original_take(self)
    if file is not None and mode == "kill_child_after_taking":
        os.kill(os.getpid(), signal.SIGKILL)
    return file
manifest_workers.ClaimQueue.take = take
def extra():
    return {"stolen": state["stolen"]}
""" + _LOAD_AND_COMPARE


def _interleaved(fleet: Path, mode: str) -> tuple[dict[str, object], str]:
    run = _script(_INTERLEAVED, str(fleet), mode, timeout=120)
    assert run.returncode == 0, run.stderr
    result: dict[str, object] = json.loads(run.stdout)
    return result, run.stderr


@pytest.mark.parametrize("case", ["own-small-file", "in-first-and-last", "word-in-a-comment"])
def test_files_of_the_childs_share_it_had_not_reached_are_parsed_here_the_same(tmp_path: Path, case: str) -> None:
    fleet = tmp_path / "fleet"
    _layout(fleet, case)
    result, stderr = _interleaved(fleet, "late_child")
    assert isinstance(result["stolen"], int) and 0 < result["stolen"] <= result["child_files"]  # type: ignore[operator]
    assert "of its share it had not reached parsed here" in stderr
    assert result["same_specs"] and result["same_locations"] and result["same_files"], result
    assert result["specs"] == 1500
    assert result["inherited"] == INHERITED[case]


def test_a_child_killed_holding_a_file_it_took_changes_nothing(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    _layout(fleet, "in-first-and-last")
    result, stderr = _interleaved(fleet, "kill_child_after_taking")
    assert result["same_specs"] and result["same_locations"] and result["same_files"], result
    assert result["specs"] == 1500
    assert result["inherited"] == INHERITED["in-first-and-last"]
    assert "the second process failed; its manifest files were parsed here" in stderr


# Pipes of 4 KiB, as Linux makes them for a user whose pipe buffers are used up
# (`pipe-user-pages-soft`): a queue that does not fit must not be waited for (nobody reads yet).
_SMALL_PIPES = """
import fcntl, json, os, sys
from hfops.adapters.manifest_workers import ClaimQueue
F_SETPIPE_SZ = 1031
real_pipe = os.pipe
def small_pipe():
    read_fd, write_fd = real_pipe()
    fcntl.fcntl(write_fd, F_SETPIPE_SZ, 4096)
    return read_fd, write_fd
os.pipe = small_pipe
fitting = ClaimQueue.of([f"f{i}" for i in range(2000)])  # 4,000 bytes
too_many = ClaimQueue.of([f"f{i}" for i in range(5000)])  # 10,000 bytes
print(json.dumps({"fitting": len(list(fitting.taken())) if fitting else None, "too_many": too_many is None}))
"""


def test_a_queue_larger_than_its_pipe_is_no_queue_not_a_wait() -> None:
    run = _script(_SMALL_PIPES, timeout=30)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"fitting": 2000, "too_many": True}
