#!/usr/bin/env python3
"""Fault soak: a large fleet under injected faults, and apply interrupted at random points.

    .venv/bin/python benchmarks/fault_soak.py                 # 120 endpoints, 20% faults, 6 interrupts
    .venv/bin/python benchmarks/fault_soak.py --help          # sizes and knobs

Opt-in (pytest never runs it). The emulator runs in this process; `hfops` runs as a real process
(the console script next to this Python), as in CI, with canary secrets in its environment.

  (1) faults:     `hfops apply` of N endpoints over K namespaces with `--fail-rate` of API and Hub
                  calls answered 429/5xx (plus optional dropped connections and lost answers), then
                  `hfops plan --detailed-exitcode` under the same faults (must say: no changes).
  (2) interrupts: the same fleet on a fresh emulator, with faults on: apply is started and sent
                  SIGINT or SIGTERM (sometimes twice) after a random number of requests (seeded),
                  several times; then apply is rerun until it exits 0, at most --max-reruns times.

After each phase the truth is read from the emulator and the disk: every endpoint exists once and
was created once (duplicates: creates the service carried out beyond one per endpoint), every
credential file is present, complete (exactly the four keys, the live URL, the GenStudio key) and
0600 in a 0700 directory with no temporary leftovers, and no canary appears in any output, the
request log, or any file other than the credential files. Faults injected and retries made are
counted from the emulator's request log (a retry: a faulted request sent again later, same method
and path). After each signal, creates whose request began after it are counted: only calls already
in flight may continue, so more than --parallelism of them means new work was started after the
signal. Exits 1 if any phase does not end converged and clean.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfops.adapters.sinks.ledger import BOOKKEEPING_NAMES, LEDGER_NAME  # noqa: E402
from hfops.emulator import Emulator, EmulatorConfig  # noqa: E402

TOKEN = "hf_SOAKCANARYdeploy_5b1e9d7c3a"
GENSTUDIO_KEY = "hf_SOAKCANARYgenstudio_8c2f4a"
SECRET = "SOAKCANARYsecret-a4e7c1d9b3f6"
MARK = "SOAKCANARY"
NAMESPACES = ("acme", "beta", "gamma", "delta")


def hfops_command() -> list[str]:
    script = Path(sys.executable).with_name("hfops")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from hfops.cli import main; main()"]


def write_fleet(directory: Path, count: int, namespaces: int) -> dict[str, list[str]]:
    directory.mkdir(parents=True, exist_ok=True)
    names: dict[str, list[str]] = {ns: [] for ns in NAMESPACES[:namespaces]}
    spaces = list(names)
    for index in range(count):
        names[spaces[index % len(spaces)]].append(f"soak-{index:04d}")
    for namespace, members in names.items():
        docs = [
            f"""apiVersion: hfops/v1
kind: Endpoint
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  model: {{repository: gpt2}}
  compute: {{vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-icl, instanceSize: x1}}
  secrets:
    SOAK_SECRET: {{fromEnv: SOAK_SECRET}}
  genstudio:
    apiKey: {{fromEnv: GENSTUDIO_API_KEY}}
"""
            for name in members
        ]
        (directory / f"{namespace}.yaml").write_text("---\n".join(docs))
    return names


@dataclass
class Phase:
    name: str
    emulator: Emulator
    work: Path
    names: dict[str, list[str]]
    runs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @property
    def creds(self) -> Path:
        return self.work / "credentials"

    @property
    def log(self) -> Path:
        return self.work / "requests.jsonl"

    def env(self) -> dict[str, str]:
        url = self.emulator.url
        return {
            **os.environ,
            "HF_TOKEN": TOKEN,
            "HF_ENDPOINT": url,
            "HFOPS_API_URL": url + "/v2",
            "HFOPS_POLL_INTERVAL": "0.2",
            "GENSTUDIO_API_KEY": GENSTUDIO_KEY,
            "SOAK_SECRET": SECRET,
            "HF_HOME": str(self.work / "hf-home"),
            "PYTHONUNBUFFERED": "1",
        }

    def hfops(self, *args: str, interrupt_after: int | None = None, double: bool = False,
              sig: signal.Signals = signal.SIGINT, timeout: float = 900) -> dict[str, Any]:
        index = len(self.runs) + 1
        out_path, err_path = self.work / f"run{index}.stdout", self.work / f"run{index}.stderr"
        started = time.monotonic()
        base = len(self.emulator.requests())
        with out_path.open("w") as out, err_path.open("w") as err:
            process = subprocess.Popen([*hfops_command(), *args], stdout=out, stderr=err, env=self.env())
            signalled = None
            signalled_at = None
            if interrupt_after is not None:
                while process.poll() is None and len(self.emulator.requests()) - base < interrupt_after:
                    time.sleep(0.002)
                if process.poll() is None:
                    signalled_at = time.time()
                    process.send_signal(sig)
                    signalled = sig.name
                    if double:
                        time.sleep(0.2)
                        if process.poll() is None:
                            process.send_signal(signal.SIGTERM)
                            signalled += "+SIGTERM"
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
                signalled = (signalled or "") + " (killed: hung)"
        creates_after = None
        if signalled_at is not None:  # creates whose request began after the (first) signal
            creates_after = sum(
                1 for r in self.emulator.requests()[base:]
                if r["method"] == "POST" and r["path"].count("/") == 3 and r["t"] > signalled_at + 0.05
            )
        record = {
            "args": " ".join(args[:1]),
            "code": code,
            "seconds": round(time.monotonic() - started, 2),
            "signal": signalled,
            "interrupt_after": interrupt_after,
            "creates_after_signal": creates_after,
        }
        self.outputs += [out_path.read_text(), err_path.read_text()]
        self.runs.append(record)
        return record

    def apply(self, parallelism: int, **kwargs: Any) -> dict[str, Any]:
        return self.hfops("apply", str(self.work / "fleet"), "--yes", "--parallelism", str(parallelism),
                          "--credentials-dir", str(self.creds), **kwargs)


def calm(emulator: Emulator) -> None:
    emulator.set_faults(fail_rate=0, drop_rate=0, lost_response_rate=0, slow_body_ms=0)


def partial_files(creds: Path) -> list[str]:
    """Temporary leftovers, incomplete or over-permissive credential files."""
    if not creds.exists():
        return []
    bad = []
    if stat.S_IMODE(creds.stat().st_mode) != 0o700:
        bad.append(f"{creds} is not 0700")
    for path in creds.iterdir():
        if path.name in BOOKKEEPING_NAMES:
            # hfops' own bookkeeping beside the credentials (the `.gitignore` of `*`, the ledger of
            # outputs it owns): expected, not leftovers; the ledger must be private and whole.
            if path.name == LEDGER_NAME:
                if stat.S_IMODE(path.stat().st_mode) != 0o600:
                    bad.append(f"{path.name} is not 0600")
                try:
                    json.loads(path.read_text())
                except ValueError:
                    bad.append(f"{path.name} is not complete JSON")
            continue
        if path.suffix != ".json" or path.name.startswith("."):
            bad.append(f"leftover {path.name}")
            continue
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            bad.append(f"{path.name} is not 0600")
        try:
            data = json.loads(path.read_text())
        except ValueError:
            bad.append(f"{path.name} is not complete JSON")
            continue
        if sorted(data) != ["api_key", "context_window", "endpoint", "model_name"]:
            bad.append(f"{path.name} has keys {sorted(data)}")
    return bad


def verdict(phase: Phase) -> dict[str, Any]:
    emulator = phase.emulator
    calm(emulator)
    requests = emulator.requests()
    expected = {(ns, name) for ns, members in phase.names.items() for name in members}
    existing = {(ns, name) for ns, name in expected if emulator.endpoint_raw(ns, name) is not None}
    landed = Counter(
        r["path"].rsplit("/", 1)[1] for r in requests if r["method"] == "POST" and r["status"] == 202
    )
    duplicates = sum(max(0, landed[ns] - len(members)) for ns, members in phase.names.items())
    deletes = sum(1 for r in requests if r["method"] == "DELETE")
    missing, wrong = [], []
    for ns, name in sorted(expected):
        path = phase.creds / f"{name}.json"
        if not path.is_file():
            missing.append(name)
            continue
        raw = emulator.endpoint_raw(ns, name)
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue  # counted as partial
        if raw is None or data.get("endpoint") != raw["status"]["url"] or data.get("api_key") != GENSTUDIO_KEY:
            wrong.append(name)
    leaks = [i for i, text in enumerate(phase.outputs) if MARK in text]
    leaked_files = []
    for path in phase.work.rglob("*"):
        credential = path.parent == phase.creds and path.suffix == ".json" and not path.name.startswith(".")
        if path.is_file() and not path.is_symlink() and not credential:  # the ledger is scanned too
            if MARK.encode() in path.read_bytes():
                leaked_files.append(str(path.relative_to(phase.work)))
    entries = [json.loads(line) for line in phase.log.read_text().splitlines()]
    faulted = [i for i, e in enumerate(entries) if "fault" in e]
    retries = sum(
        1 for i in faulted
        if any(e["method"] == entries[i]["method"] and e["path"] == entries[i]["path"] for e in entries[i + 1:])
    )
    return {
        "endpoints": len(expected),
        "existing": len(existing),
        "duplicates": duplicates,
        "deletes": deletes,
        "missing_credentials": len(missing),
        "wrong_credentials": len(wrong),
        "partial_credentials": len(partial_files(phase.creds)),
        "partial_detail": partial_files(phase.creds)[:5],
        "leaked_secrets": len(leaks) + len(leaked_files),
        "requests": len(entries),
        "faults_injected": len(faulted),
        "fault_kinds": dict(Counter(f"{e['fault']}:{e['status']}" for e in entries if "fault" in e)),
        "retries_made": retries,
        "creates_409": sum(1 for e in entries if e["method"] == "POST" and e["status"] == 409),
        "hfops_reported_retries": sum(
            int(line.split()[1]) for text in phase.outputs for line in text.splitlines()
            if line.startswith("Retried ") and line.split()[1].isdigit()
        ),
    }


def clean(result: dict[str, Any]) -> bool:
    return (
        result["existing"] == result["endpoints"]
        and result["duplicates"] == 0
        and result["deletes"] == 0
        and result["missing_credentials"] == 0
        and result["wrong_credentials"] == 0
        and result["partial_credentials"] == 0
        and result["leaked_secrets"] == 0
    )


def start_emulator(work: Path, args: argparse.Namespace, seed: int) -> Emulator:
    emulator = Emulator(EmulatorConfig(
        provision_seconds=args.provision_seconds,
        retry_after_seconds=args.retry_after,
        fail_rate=args.fail_rate,
        drop_rate=args.drop_rate,
        lost_response_rate=args.lost_response_rate,
        latency_ms=args.latency_ms,
        seed=seed,
        request_log=str(work / "requests.jsonl"),
    ))
    emulator.start()
    return emulator


def phase_faults(root: Path, args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    work = root / "faults"
    work.mkdir()
    names = write_fleet(work / "fleet", args.endpoints, args.namespaces)
    emulator = start_emulator(work, args, args.seed)
    try:
        phase = Phase("faults", emulator, work, names)
        started = time.monotonic()
        applied = phase.apply(args.parallelism)
        wall = time.monotonic() - started
        planned = phase.hfops("plan", str(work / "fleet"), "--detailed-exitcode")
        result = verdict(phase)
        result.update({
            "apply_exit": applied["code"], "apply_seconds": round(wall, 1), "plan_after_exit": planned["code"],
        })
        ok = applied["code"] == 0 and planned["code"] == 0 and clean(result)
        if not ok:
            result["apply_errors"] = [line for text in phase.outputs for line in text.splitlines()
                                      if "failed —" in line or line.startswith("Error")][:10]
        return result, ok
    finally:
        emulator.stop()


def phase_interrupts(root: Path, args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    work = root / "interrupts"
    work.mkdir()
    names = write_fleet(work / "fleet", args.endpoints, args.namespaces)
    emulator = start_emulator(work, args, args.seed + 1)
    rng = random.Random(args.seed)
    try:
        phase = Phase("interrupts", emulator, work, names)
        started = time.monotonic()
        partial_after_interrupt = 0
        for _ in range(args.interrupts):
            point = rng.randint(1, max(2, args.endpoints * 2))
            sig = rng.choice([signal.SIGINT, signal.SIGTERM])
            double = rng.random() < args.double_signal_share
            phase.apply(args.parallelism, interrupt_after=point, sig=sig, double=double, timeout=120)
            partial_after_interrupt += len(partial_files(phase.creds))
        reruns = 0
        while reruns < args.max_reruns:
            reruns += 1
            if phase.apply(args.parallelism)["code"] == 0:
                break
        wall = time.monotonic() - started
        planned = phase.hfops("plan", str(work / "fleet"), "--detailed-exitcode")
        result = verdict(phase)
        result.update({
            "interrupted_runs": [
                {k: r[k] for k in ("signal", "interrupt_after", "code", "seconds", "creates_after_signal")}
                for r in phase.runs[: args.interrupts]
            ],
            "partial_files_seen_after_interrupts": partial_after_interrupt,
            "reruns_to_converge": reruns,
            "final_apply_exit": phase.runs[-2]["code"],
            "plan_after_exit": planned["code"],
            "wall_seconds": round(wall, 1),
        })
        # An interrupted run may still exit 0 (the signal came after its work was done); it must
        # not hang, and a plain rerun must converge.
        hung = [r for r in phase.runs if "hung" in str(r["signal"])]
        result["hung_runs"] = len(hung)
        # Stop starting new work: after a signal, only calls already in flight may go on (their
        # retries included), so at most `parallelism` creates may begin after it.
        late = [r for r in phase.runs if (r.get("creates_after_signal") or 0) > args.parallelism]
        result["runs_starting_new_creates_after_signal"] = len(late)
        ok = (phase.runs[-2]["code"] == 0 and planned["code"] == 0 and partial_after_interrupt == 0
              and clean(result) and not hung and not late)
        if not ok:
            result["apply_errors"] = [line for text in phase.outputs for line in text.splitlines()
                                      if "failed —" in line or line.startswith("Error")][:10]
        return result, ok
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=120)
    parser.add_argument("--namespaces", type=int, default=4, choices=range(1, len(NAMESPACES) + 1))
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--fail-rate", type=float, default=0.2, help="share of API/Hub calls answered 429/5xx")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of API/Hub connections dropped")
    parser.add_argument("--lost-response-rate", type=float, default=0.0, help="share of API writes answered never")
    parser.add_argument("--retry-after", type=float, default=0.0, help="Retry-After seconds on injected faults")
    parser.add_argument("--provision-seconds", type=float, default=1.0)
    parser.add_argument("--latency-ms", type=float, default=30.0, help="added to every emulator answer")
    parser.add_argument("--interrupts", type=int, default=6)
    parser.add_argument("--double-signal-share", type=float, default=0.3)
    parser.add_argument("--max-reruns", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--only", choices=("faults", "interrupts"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="hfops-fault-soak-"))
    print(f"fault soak: {args.endpoints} endpoints in {args.namespaces} namespaces, fail rate {args.fail_rate:.0%}"
          f" (drop {args.drop_rate:.0%}, lost answers {args.lost_response_rate:.0%}), latency {args.latency_ms:g} ms, "
          f"parallelism "
          f"{args.parallelism}, seed {args.seed}; work in {root}", flush=True)
    results: dict[str, Any] = {}
    passed = True
    for name, phase in (("faults", phase_faults), ("interrupts", phase_interrupts)):
        if args.only and args.only != name:
            continue
        result, ok = phase(root, args)
        results[name] = {"ok": ok, **result}
        passed = passed and ok
        print(f"\n== {name}: {'CONVERGED, CLEAN' if ok else 'FAILED'}", flush=True)
        for key, value in result.items():
            print(f"  {key:38} {value}", flush=True)
    print("\n" + json.dumps({"passed": passed, **results}, default=str))
    if not args.keep and passed:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
