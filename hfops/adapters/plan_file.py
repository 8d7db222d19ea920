"""Saved plans (`hfops plan --out FILE`, `hfops apply FILE`).

A saved plan records the plan as data plus what it was made from: the manifest paths (made
absolute when saved, so `apply FILE` reads the same manifests from any working directory) and options,
a digest of the desired state (secrets by fingerprint only) and a digest of the live state's
owned fields. `apply FILE` re-plans from the same inputs and refuses, as Terraform does, if either
digest or the actions differ: the plan is stale. A saved plan never contains a token or secret.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hfops import __version__
from hfops.adapters.atomic import atomic_write
from hfops.core.errors import StalePlanError, UsageError
from hfops.core.plan import Plan

KIND = "hfops-plan"


@dataclass(frozen=True)
class PlanInputs:
    paths: tuple[str, ...]
    namespace: str | None = None
    adopt: tuple[str, ...] = ()
    prune: bool = False
    allow_empty_prune: bool = False
    replace: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": list(self.paths),
            "namespace": self.namespace,
            "adopt": list(self.adopt),
            "prune": self.prune,
            "allow_empty_prune": self.allow_empty_prune,
            "replace": list(self.replace),
        }


def absolute_paths(paths: tuple[str, ...]) -> tuple[str, ...]:
    """Manifest paths as the saved plan records them: absolute, so they do not depend on the cwd.

    Absolute rather than relative to the plan file: a plan is usually written outside the manifests
    (`--out /tmp/x.plan`, a CI artifact), and the staleness digests never contain paths, so a
    plan applied elsewhere refuses exactly as it would in place if the manifests differ.
    """
    return tuple(os.path.abspath(os.path.expanduser(p)) for p in paths)


def save_plan(path: str, plan: Plan, inputs: PlanInputs) -> None:
    inputs = replace(inputs, paths=absolute_paths(inputs.paths))
    document = {
        "kind": KIND,
        "format_version": "1",
        "hfops_version": __version__,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "inputs": inputs.to_json(),
        "plan": plan.to_json(),
    }
    atomic_write(Path(path), (json.dumps(document, indent=2) + "\n").encode(), mode=0o644)


def is_saved_plan(path: str) -> bool:
    candidate = Path(path)
    if not candidate.is_file() or candidate.suffix in (".yaml", ".yml"):
        return False
    try:
        with candidate.open("rb") as handle:
            head = handle.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"{") and KIND.encode() in head


def load_saved_plan(path: str) -> tuple[dict[str, Any], PlanInputs]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: not a readable saved plan ({error})") from None
    except RecursionError:
        raise UsageError(f"{path}: not a readable saved plan (JSON nested too deep to decode)") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise UsageError(f"{path}: not an hfops saved plan")
    if document.get("format_version") != "1":
        raise UsageError(f"{path}: saved plan format {document.get('format_version')!r} is not supported")
    raw = document.get("inputs") or {}
    inputs = PlanInputs(
        paths=tuple(raw.get("paths") or ()),
        namespace=raw.get("namespace"),
        adopt=tuple(raw.get("adopt") or ()),
        prune=bool(raw.get("prune")),
        allow_empty_prune=bool(raw.get("allow_empty_prune")),
        replace=tuple(raw.get("replace") or ()),
    )
    if not inputs.paths:
        raise UsageError(f"{path}: the saved plan names no manifest paths")
    return document["plan"], inputs


def check_not_stale(saved: dict[str, Any], fresh: Plan, *, path: str) -> None:
    """Raise StalePlanError unless `fresh` is exactly the plan that was saved."""
    now = fresh.to_json()
    reasons = []
    if saved.get("manifest_digest") != now["manifest_digest"]:
        reasons.append("the manifests (or the models or secrets they resolve to) changed")
    if saved.get("live_digest") != now["live_digest"]:
        reasons.append("the endpoints were changed since (outside this plan)")
    if not reasons and saved.get("actions") != now["actions"]:
        reasons.append("the actions it would take differ")
    if not reasons and saved.get("credentials", []) != now["credentials"]:
        reasons.append("the credential outputs changed since (or the credentials they should hold)")
    if reasons:
        raise StalePlanError(
            f"saved plan {path} is stale: " + "; ".join(reasons) + ". Nothing was changed.",
            hint="run hfops plan --out again, review it, and apply the new plan",
        )
