"""`hfops demo`: the whole flow on an in-process emulator and the shipped examples.

No account, no network: the emulator listens on 127.0.0.1 on a free port, and a throw-away demo
token is used; huggingface_hub's own calls (its agent-harness registry) go to the emulator too.
A run works in `$TMPDIR/hfops-demo-XXXXXXXX/` (the credentials, unless --credentials-dir, and a
scratch Hub cache), marked as in use while it runs; the next demo removes what a killed one left.

Shows the plan, applies it with visible progress, writes the credentials into a
directory it names, verifies every endpoint as GenStudio would, and prints where everything is,
with keys redacted.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from hfops.adapters.output import Output

DEMO_NAMESPACE = "demo"
WORK_PREFIX = "hfops-demo-"
RUNNING_MARKER = ".hfops-demo-running"  # holds the pid of the demo using the directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_killed_demos(temp: Path) -> list[Path]:
    """Remove demo directories whose run was killed: marked in use by a process that is gone
    (or still empty: killed before it could mark it). A finished demo's directory is kept."""
    removed: list[Path] = []
    for work in sorted(temp.glob(WORK_PREFIX + "*")):
        if work.is_symlink() or not work.is_dir():
            continue
        marker = work / RUNNING_MARKER
        try:
            if marker.is_file():
                text = marker.read_text().strip()
                if text.isdigit() and _alive(int(text)):
                    continue
            elif any(work.iterdir()):
                continue
        except OSError:
            continue
        shutil.rmtree(work, ignore_errors=True)
        removed.append(work)
    return removed


def shipped_examples() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[2] / "examples", here.parents[1] / "examples"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the shipped examples/ directory was not found; pass --examples DIR")


def run_demo(out: Output, *, examples_dir: str | None, credentials_dir: str | None) -> int:
    examples = Path(examples_dir) if examples_dir else shipped_examples()
    temp = Path(tempfile.gettempdir())
    remove_killed_demos(temp)
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=temp))
    (work / RUNNING_MARKER).write_text(str(os.getpid()))
    scratch = work / "hub"
    scratch.mkdir()
    target = credentials_dir or str(work / "credentials")
    try:
        return _demo(out, examples, target, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        (work / RUNNING_MARKER).unlink(missing_ok=True)
        if credentials_dir:  # nothing of this run is left in it
            shutil.rmtree(work, ignore_errors=True)


def _demo(out: Output, examples: Path, target: str, scratch: Path) -> int:
    from hfops.adapters.hub_scope import local_hub
    from hfops.adapters.progress import Progress
    from hfops.adapters.settings import Settings
    from hfops.core.outcome import render_outcomes
    from hfops.core.render import render_plan
    from hfops.emulator import Emulator, EmulatorConfig
    from hfops.workflows.apply import ApplyHooks, ApplyRequest, run_apply
    from hfops.workflows.executor import ApplyOptions
    from hfops.workflows.inspect import verify
    from hfops.workflows.reconcile import Reconciler

    token = "hf_demo_" + secrets.token_hex(12)
    env = dict(os.environ)
    env["GENSTUDIO_API_KEY"] = "hf_genstudio_demo_" + secrets.token_hex(8)

    with Emulator(EmulatorConfig(provision_seconds=2.0)) as emulator, local_hub(emulator.url, scratch):
        out.info(f"==> Emulator of the Inference Endpoints API, the Hub and TGI at {emulator.url}")
        out.info(f"==> Manifests: {examples}")
        settings = Settings(
            token=token,
            namespace=DEMO_NAMESPACE,
            hub_url=emulator.url,
            api_url=emulator.url + "/v2",
            credentials_dir=target,
            poll_interval=0.5,
            timeout=120,
        )
        reconciler = Reconciler(settings, warn=out.warn, env=env)
        paths = [str(examples)]
        out.info("==> hfops apply --yes (the plan first, then the changes, waiting for each endpoint)")
        options = ApplyOptions(wait=True, timeout=120, poll_interval=0.5, parallelism=8)
        progress = Progress(sys.stderr)
        hooks = ApplyHooks(
            show_plan=lambda plan, shown: out.data(render_plan(plan, paths=shown)),
            on_event=progress,
            info=out.info,
        )
        with progress:  # the live board stops ticking before anything else is printed
            result = run_apply(reconciler, ApplyRequest(tuple(paths), yes=True, options=options), hooks=hooks)
        out.data(render_outcomes(result.outcomes, result.credentials))
        if not result.ok:
            out.error("apply did not complete; see above")
            return 1
        out.info("\n==> hfops plan (again): nothing left to do")
        _context, again = reconciler.plan(paths)
        out.data(render_plan(again, paths=paths))
        out.info("\n==> hfops verify: calling each endpoint as GenStudio will")
        all_ok = True
        for checked in verify(reconciler, paths, scale_up_timeout=60):
            all_ok = all_ok and checked.ok
            out.data(f"{checked.address}: {'ok' if checked.ok else 'FAILED'} — {checked.detail}")
        out.info(f"\n==> Credentials written to {target} (mode 0600; api_key redacted below)")
        for path in sorted(Path(target).rglob("*.json")):
            data = json.loads(path.read_text())
            data["api_key"] = "(sensitive value)"
            out.data(f"{path}: {json.dumps(data)}")
        out.info("\nPaste a credential file's JSON into GenStudio as a Hugging Face Inference Endpoint model.")
        out.info("Against the real service: export HF_TOKEN=hf_... and run hfops plan/apply on your manifests.")
        return 0 if all_ok else 1
