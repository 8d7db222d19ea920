"""`hfops demo`: the whole flow on an in-process emulator and the shipped examples.

No account, no network: the emulator listens on 127.0.0.1 on a free port, and a throw-away demo
token is used. Shows the plan, applies it with visible progress, writes the credentials into a
directory it names, verifies every endpoint as GenStudio would, and prints where everything is,
with keys redacted.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

from hfops.output import Output

DEMO_NAMESPACE = "demo"


def shipped_examples() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "examples", here / "examples"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the shipped examples/ directory was not found; pass --examples DIR")


def run_demo(out: Output, *, examples_dir: str | None, credentials_dir: str | None) -> int:
    from hfops.apply import ApplyOptions
    from hfops.cli import run_apply
    from hfops.emulator import Emulator, EmulatorConfig
    from hfops.reconcile import Reconciler
    from hfops.render import render_plan
    from hfops.settings import Settings
    from hfops.verify import verify_endpoint

    examples = Path(examples_dir) if examples_dir else shipped_examples()
    target = credentials_dir or tempfile.mkdtemp(prefix="hfops-demo-credentials-")
    token = "hf_demo_" + secrets.token_hex(12)
    env = dict(os.environ)
    env["GENSTUDIO_API_KEY"] = "hf_genstudio_demo_" + secrets.token_hex(8)

    with Emulator(EmulatorConfig(provision_seconds=2.0)) as emulator:
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
        code = run_apply(out, reconciler, paths, yes=True, adopt=(), options=options)
        if code != 0:
            out.error("apply did not complete; see above")
            return code
        out.info("\n==> hfops plan (again): nothing left to do")
        _context, again = reconciler.plan(paths)
        out.data(render_plan(again, paths=paths))
        out.info("\n==> hfops verify: calling each endpoint as GenStudio will")
        _manifests, specs = reconciler.load(paths)
        live = reconciler.read_live(sorted({s.namespace for s in specs if s.namespace}))
        all_ok = True
        for spec in specs:
            result = verify_endpoint(
                spec, live.get(spec.address), credentials_dir=target, scale_up_timeout=60
            )
            all_ok = all_ok and result.ok
            out.data(f"{result.address}: {'ok' if result.ok else 'FAILED'} — {result.detail}")
        out.info(f"\n==> Credentials written to {target} (mode 0600; api_key redacted below)")
        for path in sorted(Path(target).rglob("*.json")):
            data = json.loads(path.read_text())
            data["api_key"] = "(sensitive value)"
            out.data(f"{path}: {json.dumps(data)}")
        out.info(
            "\nPaste a credential file's JSON into GenStudio as a Hugging Face Inference Endpoint model."
        )
        out.info(
            "Against the real service: export HF_TOKEN=hf_... and run hfops plan/apply on your manifests."
        )
        return 0 if all_ok else 1
