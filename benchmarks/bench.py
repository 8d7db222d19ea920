#!/usr/bin/env python3
"""hfops against a plain per-endpoint huggingface_hub loop, in one run, on the local emulator.

    .venv/bin/python benchmarks/bench.py            # the whole benchmark, ~2-3 minutes
    .venv/bin/python benchmarks/bench.py --help     # sizes and knobs

It starts `python -m hfops.emulator --port 0 --latency-ms 50 --provision-seconds 2 --request-log FILE`
as a subprocess on 127.0.0.1 (and always stops it), then measures:

  (a) a no-op `hfops plan` over 500 existing endpoints in 5 namespaces (3 distinct models) against
      the loop a user would write: `get_inference_endpoint` + `model_info` per endpoint.
      Endpoint-API calls (requests under /v2/ in the emulator's request log) and wall time.
  (b) `hfops apply --yes` creating 100 endpoints (each takes 2 s to provision) against the loop
      `get_inference_endpoint` (404) -> `create_inference_endpoint` -> `.wait()`, one after another.
      The loop runs on the first 10 endpoints only and its wall time is extrapolated linearly (it
      is strictly sequential, so the extrapolation is exact up to noise). Wall time and the peak
      number of requests in flight at once.
  (c) `hfops --help` and `hfops validate examples/` wall time (median of several subprocess runs).

Fairness: hfops always runs as a subprocess, so its figures include interpreter start-up and imports;
the loop runs in this process with huggingface_hub already imported (start-up not counted). The loop
waits with `refresh_every` equal to hfops' poll interval (HFOPS_POLL_INTERVAL, 0.5 s here), not
huggingface_hub's 5 s default, which would make it look much slower than it need be.

Peak in-flight requests come from the request log, which records each request's start time `t` and
is appended in completion order (the line is written when the response is ready). Request j is
known to be in flight when request k completes if j completes no earlier (its line is at or after
k's) and started no later than a lower bound of k's completion time (the latest start logged up to
k, plus the injected latency every response waits). That count is a lower bound on the true peak;
with the emulator's near-zero processing time it is also a close estimate.

Prints a table with ratios; exits 1 if hfops misses a target:
  (a) at most 5 endpoint-API calls, and at least 20x faster than the loop;
  (b) wall at most 3x one endpoint's provisioning time, and at least 10x faster than the loop;
  (c) each under 0.3 s.
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

    def __init__(self, workdir: Path, *, latency_ms: float, provision_seconds: float, nodelay: bool = False) -> None:
        self.log_path = workdir / "requests.jsonl"
        self.stderr_path = workdir / "emulator.stderr"
        launcher = ["-m", "hfops.emulator"] if not nodelay else ["-c", NODELAY_SHIM]
        self.args = [
            sys.executable, *launcher, "--host", "127.0.0.1", "--port", "0",
            "--latency-ms", f"{latency_ms:g}", "--provision-seconds", f"{provision_seconds:g}",
            "--request-log", str(self.log_path), "--seed", "7",
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


def hfops_command() -> list[str]:
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


def run_hfops(args: Sequence[str], env: dict[str, str] | None, *, cwd: Path = ROOT, timeout: float = 600) -> Run:
    started = time.perf_counter()
    done = subprocess.run([*hfops_command(), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    return Run(time.perf_counter() - started, done.returncode, done.stdout, done.stderr)


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


# ------------------------------------------------------------------------------- the table


@dataclass
class Row:
    case: str
    metric: str
    hfops: float
    loop: float | None
    unit: str
    note: str = ""
    show_ratio: bool = True

    def ratio(self) -> float | None:
        if not self.show_ratio or self.loop is None or self.hfops <= 0:
            return None
        return self.loop / self.hfops


@dataclass
class Check:
    what: str
    ok: bool
    detail: str


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def check(self, what: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(what, ok, detail))


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:g}"


def render(results: Results, header: str) -> str:
    lines = [header, ""]
    lines.append("| case | metric | hfops | loop | loop / hfops | note |")
    lines.append("|---|---|---:|---:|---:|---|")
    for row in results.rows:
        loop = fmt(row.loop, row.unit) if row.loop is not None else "-"
        ratio = row.ratio()
        lines.append(f"| {row.case} | {row.metric} | {fmt(row.hfops, row.unit)} | {loop} | "
                     f"{f'{ratio:.1f}x' if ratio is not None else '-'} | {row.note} |")
    lines.append("")
    lines.append("| target | met | measured |")
    lines.append("|---|---|---|")
    for check in results.checks:
        lines.append(f"| {check.what} | {'yes' if check.ok else '**NO**'} | {check.detail} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ scenarios


def bench_noop(emu: EmulatorProcess, work: Path, args: argparse.Namespace, results: Results) -> None:
    namespaces = [f"bench-ns{i}" for i in range(args.namespaces)]
    eps = fleet("noop", namespaces, args.endpoints // args.namespaces)
    directory = write_manifests(work / "noop", eps)
    env = hfops_env(emu.url, args.poll_interval)
    log(f"(a) creating {len(eps)} endpoints in {len(namespaces)} namespaces (setup, not measured)")
    must(run_hfops(["apply", str(directory), "--yes", "--no-wait", "--parallelism", "64"], env),
         "setup apply --no-wait")
    time.sleep(args.provision_seconds + 0.5)  # let them all reach running, as a settled fleet would be
    # Warm-up (fills the bytecode cache), and proof that the plan really is a no-op (exit 0, not 2).
    must(run_hfops(["plan", str(directory), "--detailed-exitcode"], env), "warm-up plan (must be a no-op)")

    runs = []
    for _ in range(args.plan_runs):
        mark = emu.mark()
        run = must(run_hfops(["plan", str(directory), "--detailed-exitcode"], env), "hfops plan (no-op)")
        runs.append((run.seconds, emu.requests_since(mark)))
    hf_wall = statistics.median(s for s, _ in runs)
    hf_reqs = runs[-1][1]

    log(f"(a) the loop: get_inference_endpoint + model_info for each of {len(eps)} endpoints")
    api = hub_api(emu.url)
    api.model_info(MODELS[0])  # warm the client's connection pool and lazy imports
    subset = eps if args.loop_noop_limit is None else eps[: args.loop_noop_limit]
    mark = emu.mark()
    loop_wall = timed(lambda: loop_noop(api, subset))
    loop_reqs = emu.requests_since(mark)
    scale = len(eps) / len(subset)
    note = "" if scale == 1 else f"loop ran {len(subset)}, scaled x{scale:g}"

    hf_api, loop_api = api_calls(hf_reqs), api_calls(loop_reqs) * scale
    results.rows += [
        Row(f"(a) no-op plan, {len(eps)} endpoints / {len(namespaces)} ns", "endpoint-API calls (/v2)",
            hf_api, loop_api, "n", note),
        Row("", "all HTTP requests", len(hf_reqs), len(loop_reqs) * scale, "n",
            f"all hfops requests: {describe(hf_reqs)}"),
        Row("", f"wall time (hfops: median of {args.plan_runs})", hf_wall, loop_wall * scale, "s", note),
    ]
    results.check("(a) <= 5 endpoint-API calls", hf_api <= 5, f"{hf_api:g}")
    ratio = loop_wall * scale / hf_wall
    results.check("(a) >= 20x faster than the loop", ratio >= 20, f"{ratio:.1f}x")


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


def bench_create(emu: EmulatorProcess, work: Path, args: argparse.Namespace, results: Results) -> None:
    eps = fleet("create", ["bench-apply"], args.creates)
    directory = write_manifests(work / "create", eps)
    env = hfops_env(emu.url, args.poll_interval)
    extra = ["--parallelism", str(args.parallelism)] if args.parallelism else []
    log(f"(b) hfops apply creating {len(eps)} endpoints ({args.provision_seconds:g} s provisioning each)")
    mark = emu.mark()
    run = must(run_hfops(["apply", str(directory), "--yes", "--credentials-dir", str(work / "creds"),
                          *extra], env), "hfops apply")
    hf_reqs = emu.requests_since(mark)
    hf_wall = run.seconds
    posts = sum(1 for r in hf_reqs if r["method"] == "POST" and r["path"].startswith("/v2/"))
    if posts != len(eps):
        raise RuntimeError(f"hfops apply made {posts} POSTs for {len(eps)} creates")
    hf_peak = peak_in_flight(hf_reqs, args.latency_ms / 1000)

    loop_eps = fleet("loop", ["bench-loop"], args.loop_creates)
    log(f"(b) the loop: get -> create -> wait for {len(loop_eps)} endpoints, one after another")
    api = hub_api(emu.url)
    mark = emu.mark()
    loop_wall = timed(lambda: loop_create(api, loop_eps, refresh_every=args.poll_interval))
    loop_reqs = emu.requests_since(mark)
    loop_peak = peak_in_flight(loop_reqs, args.latency_ms / 1000)
    scale = len(eps) / len(loop_eps)
    note = f"loop ran {len(loop_eps)}, x{scale:g} linear" if scale != 1 else ""

    results.rows += [
        Row(f"(b) apply, {len(eps)} creates x {args.provision_seconds:g} s", "wall time",
            hf_wall, loop_wall * scale, "s", note),
        Row("", "peak requests in flight", hf_peak, loop_peak, "n",
            f"--parallelism {args.parallelism or 'default'}; lower bound from the log", show_ratio=False),
        Row("", "endpoint-API calls (/v2)", api_calls(hf_reqs), api_calls(loop_reqs) * scale, "n",
            f"all hfops requests: {describe(hf_reqs)}"),
    ]
    limit = 3 * args.provision_seconds
    results.check(f"(b) wall <= 3 x {args.provision_seconds:g} s", hf_wall <= limit,
                  f"{hf_wall:.2f} s (limit {limit:g} s)")
    ratio = loop_wall * scale / hf_wall
    results.check("(b) >= 10x faster than the loop", ratio >= 10, f"{ratio:.1f}x")


def bench_startup(args: argparse.Namespace, results: Results) -> None:
    env = base_env()
    for label, argv in (("hfops --help", ["--help"]), ("hfops validate examples/", ["validate", "examples/"])):
        must(run_hfops(argv, env), label)  # warm the OS file cache
        times = [must(run_hfops(argv, env), label).seconds for _ in range(args.startup_runs)]
        wall = statistics.median(times)
        results.rows.append(Row("(c) start-up", f"{label} (median of {args.startup_runs})", wall, None, "s",
                                f"min {min(times):.2f} s, max {max(times):.2f} s"))
        results.check(f"(c) {label} < 0.3 s", wall < 0.3, f"{wall:.3f} s")


# ----------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoints", type=int, default=500, help="(a) endpoints in the no-op plan")
    parser.add_argument("--namespaces", type=int, default=5, help="(a) namespaces they are spread over")
    parser.add_argument("--creates", type=int, default=100, help="(b) endpoints hfops apply creates")
    parser.add_argument("--loop-creates", type=int, default=10,
                        help="(b) endpoints the sequential loop creates (extrapolated to --creates)")
    parser.add_argument("--loop-noop-limit", type=int, default=None,
                        help="(a) cap the loop at this many endpoints and extrapolate (default: all)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--provision-seconds", type=float, default=2.0)
    parser.add_argument("--poll-interval", type=float, default=0.5,
                        help="HFOPS_POLL_INTERVAL, and the loop's refresh_every")
    parser.add_argument("--parallelism", type=int, default=None,
                        help="pass --parallelism N to hfops apply (default: hfops' own default)")
    parser.add_argument("--plan-runs", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=7)
    parser.add_argument("--emulator-nodelay", action="store_true",
                        help="start the emulator with TCP_NODELAY (works around ~40 ms of Nagle delay per "
                             "kept-alive request in emulators that lack it)")
    parser.add_argument("--only", choices=["a", "b", "c"], action="append",
                        help="run only these cases (repeatable); targets of skipped cases are not checked")
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
    only = set(args.only or "abc")
    results = Results()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hfops-bench-") as tmp:
        work = Path(tmp)
        if only & {"a", "b"}:
            emu = EmulatorProcess(work, latency_ms=args.latency_ms, provision_seconds=args.provision_seconds,
                                  nodelay=args.emulator_nodelay)
            try:
                url = emu.start()
                log(f"emulator at {url} (latency {args.latency_ms:g} ms, provisioning "
                    f"{args.provision_seconds:g} s)")
                rtt = calibrate(url)
                results.rows.append(Row("calibration", "one request on a kept-alive connection", rtt, None, "ms",
                                        f"--latency-ms {args.latency_ms:g}"
                                        + ("; emulator run with TCP_NODELAY" if args.emulator_nodelay else "")))
                if rtt > args.latency_ms + 25:
                    log(f"warning: one request takes {rtt:.0f} ms, not ~{args.latency_ms:g} ms: the emulator "
                        "adds delay per kept-alive request (Nagle); the loop's figures are inflated. "
                        "See --emulator-nodelay.")
                if "a" in only:
                    bench_noop(emu, work, args, results)
                if "b" in only:
                    bench_create(emu, work, args, results)
            finally:
                emu.stop()
        if "c" in only:
            log("(c) start-up times")
            bench_startup(args, results)
    total = time.perf_counter() - started
    header = (f"hfops benchmark — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, Python "
              f"{sys.version.split()[0]}, emulator latency {args.latency_ms:g} ms, "
              f"poll {args.poll_interval:g} s; total {total:.0f} s")
    print(render(results, header))
    missed = [c for c in results.checks if not c.ok]
    if missed:
        print(f"\n{len(missed)} target(s) missed.", flush=True)
        return 1
    print("\nAll targets met.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
