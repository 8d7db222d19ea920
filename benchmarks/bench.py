#!/usr/bin/env python3
"""hfops against a per-endpoint huggingface_hub loop and against the physical limit, in one run.

    .venv/bin/python benchmarks/bench.py            # every goal of issue 16, ~6-8 minutes
    .venv/bin/python benchmarks/bench.py --only a   # just the no-op plans (see --help)

It starts `python -m hfops.emulator --port 0 --latency-ms 50 --provision-seconds 2 --request-log FILE`
as a subprocess on 127.0.0.1 (and a second one with `--rate-limit` for (d)), always stops them, and
measures, each goal in one run:

  (a) no-op `hfops plan` of 500 and of 5,000 existing endpoints in 5 namespaces: against the loop a
      user would write (`get_inference_endpoint` + `model_info` per endpoint, run on a subset and
      extrapolated: it is strictly sequential) and against the physical limit (limit_probe.py: an
      interpreter, a plain libyaml load of the same files, one concurrent wave of raw requests for
      the lists, model infos and configs); cost per endpoint at 5,000 against 500; peak memory.
  (b) `hfops apply --yes` of 100 and of 500 creates with 2 s provisioning, against the probe's raw
      concurrent POSTs, a list poll every 0.1 s until all run, then each endpoint's /health and /info.
  (d) the same apply of 500 against an emulator with a token bucket (`--rate-limit RPS:BURST`):
      its 429 answers, and its wall against the probe pacing its POSTs through the same bucket.
  (c) start-up: `--help` against `python -c "import click, yaml"`, `--version` against `--help`,
      `validate` of 10 manifests (and that it imports neither huggingface_hub, httpx nor jsonschema).

hfops and the probe run as subprocesses, interleaved (hfops, probe, probe, hfops, ...), and the
table shows medians: other processes share the machine, so both see the same load, which the header
records (`uptime` before and after). Prints a table of ratios; exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_bench_token_0123456789"
MODELS = (
    "meta-llama/Llama-2-7b-chat-hf",
    "mistralai/Mistral-7B-Instruct-v0.2",
    "gpt2",
)
# One spec for every benchmark endpoint, so that hfops and the loop create the same thing.
COMPUTE = {"vendor": "aws", "region": "us-east-1", "accelerator": "gpu",
           "instanceType": "nvidia-a10g", "instanceSize": "x1"}
IMAGE = {"url": "ghcr.io/huggingface/text-generation-inference:3.3.6",
         "maxInputTokens": 1023, "maxTotalTokens": 1024}  # within gpt2's 1024

# Isolate huggingface_hub (imported lazily, for the loop) from the user's cache and token.
_HOME = tempfile.mkdtemp(prefix="hfops-bench-home-")
os.environ["HF_HOME"] = _HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HFOPS_NAMESPACE", "HF_HUB_OFFLINE"):
    os.environ.pop(_name, None)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------- emulator


# `--emulator-nodelay`: run the same emulator with TCP_NODELAY on its sockets. Its handler writes
# the status line + headers and the body in two send()s; on a kept-alive connection Nagle's
# algorithm then holds the body until the client's delayed ACK (~40 ms on Linux), so every request
# costs ~40 ms more than --latency-ms says. That inflates a request-per-endpoint loop far more than
# hfops; the calibration row of the table shows the effective per-request time either way.
NODELAY_SHIM = (
    "import sys; import hfops.emulator.server as s; s._Handler.disable_nagle_algorithm = True; "
    "from hfops.emulator.__main__ import main; sys.argv[0] = 'hfops.emulator'; sys.exit(main())"
)


class EmulatorProcess:
    """`python -m hfops.emulator` as a subprocess; its request log read back as JSON lines."""

    def __init__(self, workdir: Path, *, latency_ms: float, provision_seconds: float, nodelay: bool = False,
                 extra: Sequence[str] = (), name: str = "emulator") -> None:
        self.log_path = workdir / f"{name}-requests.jsonl"
        self.stderr_path = workdir / f"{name}.stderr"
        launcher = ["-m", "hfops.emulator"] if not nodelay else ["-c", NODELAY_SHIM]
        self.args = [
            sys.executable, *launcher, "--host", "127.0.0.1", "--port", "0",
            "--latency-ms", f"{latency_ms:g}", "--provision-seconds", f"{provision_seconds:g}",
            "--request-log", str(self.log_path), "--seed", "7", *extra,
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> str:
        stderr = open(self.stderr_path, "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                     cwd=ROOT, env=dict(os.environ))
        stderr.close()
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        url = line[0].strip() if line else ""
        if not url.startswith("http://127.0.0.1:"):
            self.stop()
            tail = self.stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the emulator did not print its URL (got {url!r}):\n{tail}")
        self.url = url
        return url

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def mark(self) -> int:
        """The number of requests logged so far (a position to read from later)."""
        if not self.log_path.exists():
            return 0
        with open(self.log_path, encoding="utf-8") as handle:
            return sum(1 for _ in handle)

    def requests_since(self, mark: int) -> list[dict[str, Any]]:
        with open(self.log_path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        return [json.loads(line) for line in lines[mark:] if line.strip()]


# ------------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class Ep:
    namespace: str
    name: str
    repository: str


def fleet(prefix: str, namespaces: Sequence[str], per_namespace: int) -> list[Ep]:
    # Names are unique across namespaces too: each endpoint's credential file is named after it.
    eps = []
    for n, ns in enumerate(namespaces):
        for i in range(per_namespace):
            eps.append(Ep(ns, f"{prefix}-{n}-{i:04d}", MODELS[i % len(MODELS)]))
    return eps


def manifest_text(eps: Sequence[Ep]) -> str:
    docs = []
    for ep in eps:
        docs.append(
            "apiVersion: hfops/v1\n"
            "kind: Endpoint\n"
            f"metadata: {{name: {ep.name}, namespace: {ep.namespace}}}\n"
            "spec:\n"
            f"  model: {{repository: {ep.repository}}}\n"
            f"  compute: {json.dumps(COMPUTE)}\n"
            "  scaling: {minReplica: 0, maxReplica: 1, scaleToZeroTimeout: 15}\n"
            f"  image: {json.dumps(IMAGE)}\n"
        )
    return "---\n".join(docs)


def write_manifests(directory: Path, eps: Sequence[Ep]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    by_ns: dict[str, list[Ep]] = {}
    for ep in eps:
        by_ns.setdefault(ep.namespace, []).append(ep)
    for ns, group in by_ns.items():
        (directory / f"{ns}.yaml").write_text(manifest_text(group), encoding="utf-8")
    return directory


# ---------------------------------------------------------------------------------- running


# `--source DIR`: run hfops from another source tree (an earlier commit, for a before/after table),
# with this interpreter and its packages, past the editable install's import hook.
SOURCE = os.environ.get("HFOPS_BENCH_SOURCE", "")


def hfops_command() -> list[str]:
    if SOURCE:
        code = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
                f"sys.path.insert(0, {SOURCE!r}); from hfops.cli import main; main()")
        return [sys.executable, "-c", code]
    script = Path(sys.executable).parent / "hfops"
    if script.exists():
        return [str(script)]
    found = shutil.which("hfops")
    if found:
        return [found]
    return [sys.executable, "-c", "from hfops.cli import main; main()"]


# hfops subprocesses run with a bytecode cache (in a temporary directory, so the checkout is not
# touched), as an installed hfops does: PYTHONDONTWRITEBYTECODE=1 in the environment would make
# every run recompile hfops' own modules, which is not what users see.
PYCACHE = tempfile.mkdtemp(prefix="hfops-bench-pycache-")


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def hfops_env(url: str, poll: float) -> dict[str, str]:
    env = base_env()
    env.update({"HF_TOKEN": TOKEN, "HF_ENDPOINT": url, "HFOPS_API_URL": url + "/v2",
                "HFOPS_POLL_INTERVAL": f"{poll:g}"})
    return env


@dataclass
class Run:
    seconds: float
    code: int
    stdout: str
    stderr: str
    max_rss_mb: float = 0.0


def run_process(argv: Sequence[str], env: dict[str, str] | None, *, cwd: Path = ROOT, timeout: float = 600) -> Run:
    """Run `argv`; wall time, exit code, output and peak resident memory (os.wait4's ru_maxrss)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(seconds, proc.returncode, out.read(), err.read(), usage.ru_maxrss / 1024)


def run_hfops(args: Sequence[str], env: dict[str, str] | None, *, cwd: Path = ROOT, timeout: float = 600) -> Run:
    return run_process([*hfops_command(), *args], env, cwd=cwd, timeout=timeout)


def must(run: Run, what: str, codes: Sequence[int] = (0,)) -> Run:
    if run.code not in codes:
        tail = "\n".join((run.stderr or run.stdout).splitlines()[-15:])
        raise RuntimeError(f"{what} exited {run.code}:\n{tail}")
    return run


def api_calls(requests: Sequence[dict[str, Any]]) -> int:
    return sum(1 for r in requests if r["path"].startswith("/v2/"))


def peak_in_flight(requests: Sequence[dict[str, Any]], latency_s: float) -> int:
    """A lower bound on the most requests in flight at once (see the module docstring)."""
    starts = [float(r["t"]) for r in requests]
    n = len(starts)
    if n == 0:
        return 0
    # suffix sorted lists would be O(n log n); n is a few thousand here, so keep it plain.
    best = 0
    latest = float("-inf")
    for k in range(n):
        latest = max(latest, starts[k])
        done_by = latest + latency_s  # request k completed no earlier than this
        count = sum(1 for j in range(k, n) if starts[j] <= done_by)
        best = max(best, count)
    return best


# ------------------------------------------------------------------------- the naive loop


def hub_api(url: str) -> Any:
    from huggingface_hub import HfApi, constants

    constants.INFERENCE_ENDPOINTS_ENDPOINT = url + "/v2"
    return HfApi(endpoint=url, token=TOKEN)


def loop_noop(api: Any, eps: Sequence[Ep]) -> None:
    """What a user's script does to check a fleet: read each endpoint, look its model up."""
    for ep in eps:
        api.get_inference_endpoint(ep.name, namespace=ep.namespace, token=TOKEN)
        api.model_info(ep.repository, token=TOKEN)


def loop_create(api: Any, eps: Sequence[Ep], *, refresh_every: float) -> None:
    """What a user's script does to deploy: get (404) -> create -> wait, one endpoint at a time."""
    from huggingface_hub.errors import HfHubHTTPError

    for ep in eps:
        try:
            api.get_inference_endpoint(ep.name, namespace=ep.namespace, token=TOKEN)
            continue  # exists already
        except HfHubHTTPError as error:
            if error.response is None or error.response.status_code != 404:
                raise
        endpoint = api.create_inference_endpoint(
            ep.name, repository=ep.repository, framework="pytorch", task="text-generation",
            accelerator=COMPUTE["accelerator"], instance_size=COMPUTE["instanceSize"],
            instance_type=COMPUTE["instanceType"], region=COMPUTE["region"], vendor=COMPUTE["vendor"],
            min_replica=0, max_replica=1, scale_to_zero_timeout=15,
            custom_image={"tgi": {"url": IMAGE["url"], "healthRoute": "/health", "port": 80,
                                  "maxInputLength": IMAGE["maxInputTokens"],
                                  "maxTotalTokens": IMAGE["maxTotalTokens"]}},
            namespace=ep.namespace, token=TOKEN,
        )
        endpoint.wait(timeout=120, refresh_every=refresh_every)


def calibrate(url: str, count: int = 12) -> float:
    """Median milliseconds of one Hub request on a kept-alive connection (huggingface_hub's session)."""
    from huggingface_hub import get_session

    session = get_session()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    times = []
    for _ in range(count):
        started = time.perf_counter()
        session.get(url + "/api/whoami-v2", headers=headers).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[2:])


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started




def describe(requests: Sequence[dict[str, Any]]) -> str:
    kinds: dict[str, int] = {}
    for r in requests:
        path = r["path"]
        if path.startswith("/v2/"):
            parts = path.split("/")[2:]  # ["endpoint", ns, name?, action?] or ["provider", ns]
            shape = ["{ns}", "{name}", "{action}"][: len(parts) - 1]
            key = f"{r['method']} /v2/{'/'.join([parts[0], *shape])}"
        elif path.startswith("/api/models/"):
            key = "GET /api/models"
        elif "/resolve/" in path:
            key = f"{r['method']} resolve"
        elif path.startswith("/api/whoami"):
            key = "whoami"
        elif path.startswith("/endpoints/"):
            key = "TGI"
        else:
            key = path
        kinds[key] = kinds.get(key, 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------------------- the limit probe

PROBE = Path(__file__).resolve().parent / "limit_probe.py"


def create_body_template() -> dict[str, Any]:
    """The POST body the probe sends (the same endpoint the loop and hfops create; name added per call)."""
    return {
        "compute": {"accelerator": COMPUTE["accelerator"], "instanceSize": COMPUTE["instanceSize"],
                    "instanceType": COMPUTE["instanceType"],
                    "scaling": {"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 15}},
        "model": {"framework": "pytorch", "repository": MODELS[2], "task": "text-generation",
                  "image": {"tgi": {"url": IMAGE["url"], "healthRoute": "/health", "port": 80,
                                    "maxInputLength": IMAGE["maxInputTokens"],
                                    "maxTotalTokens": IMAGE["maxTotalTokens"]}}},
        "provider": {"region": COMPUTE["region"], "vendor": COMPUTE["vendor"]},
        "type": "protected",
    }


def run_probe(args: Sequence[str], url: str) -> Run:
    # No PYTHONPYCACHEPREFIX games needed: the probe imports only the standard library and yaml.
    return must(run_process([sys.executable, str(PROBE), *args, "--url", url, "--token", TOKEN], base_env()),
                "limit probe")


# ------------------------------------------------------------------------------- the table


@dataclass
class Row:
    goal: str
    case: str
    hfops: str
    other: str
    ratio: str
    target: str
    met: bool | None
    note: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, goal: str, case: str, hfops: str, other: str, ratio: str, target: str, met: bool | None,
            note: str = "") -> None:
        self.rows.append(Row(goal, case, hfops, other, ratio, target, met, note))
        log(f"{case}: hfops {hfops}, {other}, {ratio} (target {target})")


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load: " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def render(results: Results, header: str) -> str:
    lines = [header, "", "| goal | case | hfops | compared with | ratio | target | met | note |",
             "|---|---|---:|---|---:|---|---|---|"]
    for r in results.rows:
        met = "-" if r.met is None else ("yes" if r.met else "**NO**")
        lines.append(f"| {r.goal} | {r.case} | {r.hfops} | {r.other} | {r.ratio} | {r.target} | {met} | {r.note} |")
    return "\n".join(lines)


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    return f"n={len(values)}, {min(values):.2f}-{max(values):.2f} s"


# ------------------------------------------------------------------------------ scenarios


def setup_fleet(
    emu: EmulatorProcess, work: Path, args: argparse.Namespace, total: int, tag: str
) -> tuple[Path, list[Ep]]:
    namespaces = [f"{tag}-ns{i}" for i in range(args.namespaces)]
    eps = fleet(tag, namespaces, total // args.namespaces)
    directory = write_manifests(work / tag, eps)
    env = hfops_env(emu.url, args.poll_interval)
    creds = ["--credentials-dir", str(credentials_dir(directory))]
    log(f"setup: creating {len(eps)} endpoints in {len(namespaces)} namespaces (not measured)")
    must(run_hfops(["apply", str(directory), "--yes", "--no-wait", "--parallelism", "64", *creds], env,
                   timeout=1800), "setup apply --no-wait")
    time.sleep(args.provision_seconds + 1.0)  # let them all reach running, as a settled fleet would be
    must(run_hfops(["credentials", str(directory), *creds], env, timeout=1800), "setup credentials")
    # Warm-up (fills the bytecode cache), and proof that the plan really is a no-op (exit 0, not 2).
    must(run_hfops(["plan", str(directory), "--detailed-exitcode", *creds], env), "warm-up plan (must be a no-op)")
    return directory, eps


def credentials_dir(directory: Path) -> Path:
    return directory.parent / f"{directory.name}-credentials"


def measure_plan(emu: EmulatorProcess, directory: Path, eps: list[Ep], args: argparse.Namespace,
                 runs: int) -> tuple[list[Run], list[Run], list[dict[str, Any]]]:
    """hfops plan and the probe, interleaved `runs` times."""
    env = hfops_env(emu.url, args.poll_interval)
    files = sorted(str(p) for p in directory.glob("*.yaml"))
    namespaces = sorted({e.namespace for e in eps})
    models = sorted({e.repository for e in eps})
    creds = credentials_dir(directory)
    probe_args = ["plan", "--files", *files, "--namespaces", *namespaces, "--models", *models,
                  "--read-dir", str(creds)]
    hf_runs, probe_runs = [], []
    requests: list[dict[str, Any]] = []
    for i in range(runs):
        order = ("hfops", "probe") if i % 2 == 0 else ("probe", "hfops")
        for who in order:
            if who == "hfops":
                mark = emu.mark()
                hf_runs.append(must(run_hfops(["plan", str(directory), "--detailed-exitcode",
                                               "--credentials-dir", str(creds)], env), "hfops plan"))
                requests = emu.requests_since(mark)
            else:
                probe_runs.append(run_probe(probe_args, emu.url))
    return hf_runs, probe_runs, requests


def bench_plan(emu: EmulatorProcess, work: Path, args: argparse.Namespace, results: Results) -> None:
    small_dir, small = setup_fleet(emu, work, args, args.endpoints, "p500")
    hf, probe, requests = measure_plan(emu, small_dir, small, args, args.plan_runs)
    hf_s, probe_s = med([r.seconds for r in hf]), med([r.seconds for r in probe])
    calls = api_calls(requests)

    log(f"(a) the loop: get_inference_endpoint + model_info for {args.loop_noop} of {len(small)} endpoints")
    api = hub_api(emu.url)
    api.model_info(MODELS[0])  # warm the client's connection pool and lazy imports
    subset = small[: args.loop_noop]
    loop_s = timed(lambda: loop_noop(api, subset)) * len(small) / len(subset)
    n = len(small)
    goal = f"plan {n}"
    results.add(goal, f"no-op plan, {n} / {args.namespaces} ns", f"{hf_s:.2f} s",
                f"per-endpoint loop {loop_s:.1f} s", f"{loop_s / hf_s:.0f}x faster", ">= 100x faster",
                loop_s / hf_s >= 100, f"loop ran {len(subset)}, x{n / len(subset):g} linear")
    results.add(goal, "same", f"{hf_s:.2f} s", f"physical limit {probe_s:.2f} s", f"{hf_s / probe_s:.2f}x",
                "<= 1.5x the limit", hf_s / probe_s <= 1.5,
                f"hfops {spread([r.seconds for r in hf])}; limit {spread([r.seconds for r in probe])}")
    results.add(goal, "endpoint-API calls", f"{calls}", f"{args.namespaces} namespaces", "-",
                "one list per namespace", calls == args.namespaces, describe(requests))
    # What neither side can go below: hfops' start-up floor is any client that talks through
    # huggingface_hub (interpreter, click, yaml, the session modules imported and the client
    # built); the probe's is the interpreter with yaml, json and http.client. The rest is work.
    hf_floor, probe_floor = measure_floors(args.plan_runs)
    results.add(goal, "start-up floor (no work)", f"{hf_floor:.2f} s", f"limit's floor {probe_floor:.2f} s",
                f"{hf_floor / probe_floor:.2f}x", "-", None,
                "python + click + yaml + huggingface_hub session, built; limit: python + yaml + http.client")
    results.add(goal, "work above the floor", f"{hf_s - hf_floor:.2f} s", f"limit {probe_s - probe_floor:.2f} s",
                f"{(hf_s - hf_floor) / max(probe_s - probe_floor, 1e-3):.2f}x", "-", None,
                "median wall minus median floor, each side")

    if args.big:
        big_dir, big = setup_fleet(emu, work, args, args.big, "p5k")
        hf_b, probe_b, requests_b = measure_plan(emu, big_dir, big, args, args.big_plan_runs)
        hf_bs, probe_bs = med([r.seconds for r in hf_b]), med([r.seconds for r in probe_b])
        nb = len(big)
        goal = f"plan {nb}"
        results.add(goal, f"no-op plan, {nb} / {args.namespaces} ns", f"{hf_bs:.2f} s",
                    f"physical limit {probe_bs:.2f} s", f"{hf_bs / probe_bs:.2f}x", "<= 1.5x the limit",
                    hf_bs / probe_bs <= 1.5,
                    f"hfops {spread([r.seconds for r in hf_b])}; limit {spread([r.seconds for r in probe_b])}")
        per_small, per_big = hf_s / n * 1000, hf_bs / nb * 1000
        results.add(goal, f"cost per endpoint, {nb} vs {n}", f"{per_big:.2f} ms", f"{per_small:.2f} ms at {n}",
                    f"{per_big / per_small:.2f}x", "<= 1.2x (linear)", per_big / per_small <= 1.2)
        rss = max(r.max_rss_mb for r in hf_b)
        results.add("memory", f"peak RSS, no-op plan of {nb}", f"{rss:.0f} MB", "-", "-", "<= 100 MB", rss <= 100,
                    f"limit probe: {max(r.max_rss_mb for r in probe_b):.0f} MB")
        results.add(goal, "endpoint-API calls", f"{api_calls(requests_b)}", f"{args.namespaces} namespaces", "-",
                    "one list per namespace", api_calls(requests_b) == args.namespaces, describe(requests_b))


HF_FLOOR = ("import click, yaml; from huggingface_hub import get_session, hf_raise_for_status; "
            "from huggingface_hub.utils import build_hf_headers; get_session()")
PROBE_FLOOR = "import yaml, json, http.client, concurrent.futures"


def measure_floors(runs: int) -> tuple[float, float]:
    """Median wall of the two start-up floors, interleaved."""
    hf, probe = [], []
    for _ in range(runs):
        hf.append(must(run_process([sys.executable, "-c", HF_FLOOR], base_env()), "floor").seconds)
        probe.append(must(run_process([sys.executable, "-c", PROBE_FLOOR], base_env()), "floor").seconds)
    return med(hf), med(probe)


def measure_apply(emu: EmulatorProcess, work: Path, args: argparse.Namespace, count: int, runs: int,
                  tag: str, pace: str = "") -> tuple[list[Run], list[Run], list[list[dict[str, Any]]]]:
    env = hfops_env(emu.url, args.poll_interval)
    body = work / "create-body.json"
    body.write_text(json.dumps(create_body_template()), encoding="utf-8")
    hf_runs, probe_runs, logs = [], [], []
    for i in range(runs):
        order = ("hfops", "probe") if i % 2 == 0 else ("probe", "hfops")
        for who in order:
            if pace:  # each starts with a full bucket: wait until it has refilled
                rate, _, burst = pace.partition(":")
                time.sleep(float(burst or rate) / float(rate) + 1.0)
            if who == "hfops":
                eps = fleet(f"{tag}h{i}", [f"{tag}-h{i}"], count)
                directory = write_manifests(work / f"{tag}-h{i}", eps)
                mark = emu.mark()
                run = must(run_hfops(["apply", str(directory), "--yes", "--credentials-dir",
                                      str(work / f"creds-{tag}-{i}")], env, timeout=900), f"hfops apply {count}")
                hf_runs.append(run)
                reqs = emu.requests_since(mark)
                posts = sum(1 for r in reqs if r["method"] == "POST" and r["path"].startswith("/v2/")
                            and r["status"] < 300)
                if posts != count:
                    raise RuntimeError(f"hfops apply made {posts} successful POSTs for {count} creates")
                logs.append(reqs)
            else:
                probe_args = ["apply", "--namespace", f"{tag}-p{i}", "--prefix", f"{tag}p{i}", "--count",
                              str(count), "--body", str(body), "--workers", str(min(count, 64))]
                probe_runs.append(run_probe([*probe_args, *(["--pace", pace] if pace else [])], emu.url))
    return hf_runs, probe_runs, logs


def measure_credentials(emu: EmulatorProcess, args: argparse.Namespace, count: int, directory: Path, creds: Path,
                        runs: int = 3) -> tuple[list[Run], list[int]]:
    """`hfops credentials` writing every credential of the `count` running endpoints of `directory`
    (an hfops apply made them), from an empty, existing credentials directory; and the ledger
    commits each run made."""
    env = hfops_env(emu.url, args.poll_interval)
    hf_runs, commits = [], []
    for _ in range(runs):
        shutil.rmtree(creds, ignore_errors=True)
        creds.mkdir(mode=0o700)  # existing and empty: every file output is planned and written
        run = must(run_hfops(["credentials", str(directory), "--credentials-dir", str(creds)], env, timeout=1800),
                   f"hfops credentials {count}")
        written = len(list(creds.glob("*.json")))
        if written != count:
            raise RuntimeError(f"hfops credentials wrote {written} files for {count} endpoints")
        ledger = json.loads((creds / ".hfops-ledger").read_text(encoding="utf-8"))
        hf_runs.append(run)
        commits.append(int(ledger.get("generation", 0)))
    return hf_runs, commits


def bench_apply(emu: EmulatorProcess, work: Path, args: argparse.Namespace, results: Results) -> None:
    for count, runs in ((args.creates, args.apply_runs), (args.big_creates, args.big_apply_runs)):
        if not count:
            continue
        log(f"(b) apply of {count} creates x {args.provision_seconds:g} s, hfops and the probe interleaved")
        hf, probe, logs = measure_apply(emu, work, args, count, runs, f"a{count}")
        hf_s, probe_s = med([r.seconds for r in hf]), med([r.seconds for r in probe])
        goal = f"apply {count}"
        peak = peak_in_flight(logs[-1], args.latency_ms / 1000)
        results.add(goal, f"apply, {count} creates x {args.provision_seconds:g} s", f"{hf_s:.2f} s",
                    f"physical limit {probe_s:.2f} s", f"{hf_s / probe_s:.2f}x", "<= 1.5x the limit",
                    hf_s / probe_s <= 1.5,
                    f"hfops {spread([r.seconds for r in hf])}; limit {spread([r.seconds for r in probe])}; "
                    f"peak in flight {peak}")
        results.add(goal, "requests", f"{len(logs[-1])}", "-", "-", f"{count} POSTs", None, describe(logs[-1]))
        if count == args.big_creates:
            log(f"(b) hfops credentials: {count} running endpoints' credentials written from nothing")
            last = runs - 1  # the fleet of measure_apply's last hfops run, running now
            creds_runs, commits = measure_credentials(emu, args, count, work / f"a{count}-h{last}",
                                                      work / f"creds-a{count}-{last}")
            results.add(goal, f"hfops credentials, {count} running endpoints",
                        f"{med([r.seconds for r in creds_runs]):.2f} s", "-", "-", "-", None,
                        f"{spread([r.seconds for r in creds_runs])}; ledger commits per run: "
                        + (f"{commits}" if any(commits) else "not counted (a ledger without `generation`)"))
        if count == args.creates and args.loop_creates:
            loop_eps = fleet("loop", ["bench-loop"], args.loop_creates)
            log(f"(b) the loop: get -> create -> wait for {len(loop_eps)} endpoints, one after another")
            api = hub_api(emu.url)
            started = time.perf_counter()
            loop_create(api, loop_eps, refresh_every=args.poll_interval)
            loop_s = (time.perf_counter() - started) * count / len(loop_eps)
            results.add(goal, "same", f"{hf_s:.2f} s", f"per-endpoint loop {loop_s:.0f} s",
                        f"{loop_s / hf_s:.0f}x faster", "-", None,
                        f"loop ran {len(loop_eps)}, x{count / len(loop_eps):g} linear")


def bench_rate_limited(work: Path, args: argparse.Namespace, results: Results) -> None:
    emu = EmulatorProcess(work, latency_ms=args.latency_ms, provision_seconds=args.provision_seconds,
                          extra=["--rate-limit", args.rate_limit], name="limited")
    try:
        url = emu.start()
        log(f"(d) rate-limited emulator at {url} (--rate-limit {args.rate_limit})")
        count = args.limited_creates
        hf, probe, logs = measure_apply(emu, work, args, count, 1, "rl", pace=args.rate_limit)
        reqs = logs[-1]
        limited = sum(1 for r in reqs if r["status"] == 429)
        goal = f"apply {count}, rate-limited"
        hf_s, probe_s = hf[0].seconds, probe[0].seconds
        results.add(goal, f"apply, {count} creates, --rate-limit {args.rate_limit}", f"{hf_s:.2f} s",
                    f"paced limit {probe_s:.2f} s", f"{hf_s / probe_s:.2f}x", "-", None,
                    "limit: the probe sends its POSTs through the server's own bucket")
        results.add(goal, "429 answers", f"{limited}", f"{len(reqs)} requests", "-", "<= 5 (a handful)",
                    limited <= 5, describe(reqs))
    finally:
        emu.stop()


def bench_startup(work: Path, args: argparse.Namespace, results: Results) -> None:
    env = base_env()
    ten = work / "ten"
    for i in range(10):
        write_manifests(ten / f"m{i}", fleet(f"v{i}", [f"ns{i}"], 3))
    cases = {
        "--help": [*hfops_command(), "--help"],
        "--version": [*hfops_command(), "--version"],
        "python+click+yaml": [sys.executable, "-c", "import click, yaml"],
        "validate 10": [*hfops_command(), "validate", str(ten)],
    }
    for argv in cases.values():
        must(run_process(argv, env), " ".join(argv))  # warm the OS file cache and bytecode
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.startup_runs):  # interleaved
        for label, argv in cases.items():
            times[label].append(must(run_process(argv, env), label).seconds)
    m = {k: med(v) for k, v in times.items()}
    results.add("start-up", "--help", f"{m['--help']:.3f} s", f"python+click+yaml {m['python+click+yaml']:.3f} s",
                f"{m['--help'] / m['python+click+yaml']:.2f}x", "<= 1.2x", m["--help"] / m["python+click+yaml"] <= 1.2,
                f"medians of {args.startup_runs}, interleaved")
    results.add("start-up", "--version", f"{m['--version']:.3f} s", f"--help {m['--help']:.3f} s",
                f"{m['--version'] / m['--help']:.2f}x", "<= 1.0x (+5 ms noise)", m["--version"] <= m["--help"] + 0.005)
    code = ("import sys; sys.argv = ['hfops', 'validate', sys.argv[1]]\nfrom hfops.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('huggingface_hub', 'httpx', 'httpx2', 'jsonschema') if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    run = run_process([sys.executable, "-c", code, str(ten)], env)
    heavy = [line for line in run.stderr.splitlines() if line.startswith("HEAVY")]
    results.add("start-up", "validate 10 manifests", f"{m['validate 10']:.3f} s", "-", "-",
                "imports no huggingface_hub, httpx, jsonschema", heavy == ["HEAVY []"],
                heavy[0] if heavy else f"no import report (exit {run.code})")


# ----------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoints", type=int, default=500, help="(a) endpoints in the small no-op plan")
    parser.add_argument("--big", type=int, default=5000, help="(a) endpoints in the large no-op plan (0: skip)")
    parser.add_argument("--namespaces", type=int, default=5, help="(a) namespaces they are spread over")
    parser.add_argument("--creates", type=int, default=100, help="(b) creates in the small apply")
    parser.add_argument("--big-creates", type=int, default=500, help="(b) creates in the large apply (0: skip)")
    parser.add_argument("--limited-creates", type=int, default=500, help="(d) creates under the rate limit")
    parser.add_argument("--rate-limit", default="50:50", help="(d) the emulator's --rate-limit RPS:BURST")
    parser.add_argument("--loop-creates", type=int, default=5,
                        help="(b) endpoints the sequential loop creates (extrapolated to --creates)")
    parser.add_argument("--loop-noop", type=int, default=100,
                        help="(a) endpoints the sequential loop reads (extrapolated to --endpoints)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--provision-seconds", type=float, default=2.0)
    parser.add_argument("--poll-interval", type=float, default=0.5,
                        help="HFOPS_POLL_INTERVAL, and the loop's refresh_every")
    parser.add_argument("--plan-runs", type=int, default=9)  # the plan of 500 is short: its median needs more
    parser.add_argument("--big-plan-runs", type=int, default=3)
    parser.add_argument("--apply-runs", type=int, default=3)
    parser.add_argument("--big-apply-runs", type=int, default=2)
    parser.add_argument("--startup-runs", type=int, default=9)
    parser.add_argument("--only", choices=["a", "b", "c", "d"], action="append",
                        help="run only these cases (repeatable): a plan, b apply, c start-up, d rate limit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl+C, so the emulator subprocess is always stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return run_all(args)
    finally:
        shutil.rmtree(_HOME, ignore_errors=True)
        shutil.rmtree(PYCACHE, ignore_errors=True)


def run_all(args: argparse.Namespace) -> int:
    only = set(args.only or "abcd")
    results = Results()
    started = time.perf_counter()
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="hfops-bench-") as tmp:
        work = Path(tmp)
        if only & {"a", "b"}:
            emu = EmulatorProcess(work, latency_ms=args.latency_ms, provision_seconds=args.provision_seconds)
            try:
                url = emu.start()
                log(f"emulator at {url} (latency {args.latency_ms:g} ms, provisioning {args.provision_seconds:g} s)")
                rtt = calibrate(url)
                results.add("calibration", "one request, kept-alive connection", f"{rtt:.0f} ms", "-", "-",
                            "-", None, f"--latency-ms {args.latency_ms:g}")
                if "a" in only:
                    bench_plan(emu, work, args, results)
                if "b" in only:
                    bench_apply(emu, work, args, results)
            finally:
                emu.stop()
        if "d" in only:
            bench_rate_limited(work, args, results)
        if "c" in only:
            log("(c) start-up times")
            bench_startup(work, args, results)
    total = time.perf_counter() - started
    header = (f"hfops benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
              f"Python {sys.version.split()[0]}, emulator latency {args.latency_ms:g} ms, "
              f"poll {args.poll_interval:g} s; total {total:.0f} s\n"
              f"load before: {load_before}\nload after:  {load()}")
    print(render(results, header))
    missed = [r for r in results.rows if r.met is False]
    if missed:
        print(f"\n{len(missed)} goal(s) missed.", flush=True)
        return 1
    print("\nAll goals met.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
