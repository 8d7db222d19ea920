"""Pure rendering of plans and results as text (Terraform-style) or JSON-ready dicts.

Glyphs: `+` create, `~` update in place, `-` destroy, `-/+` replace, `!` conflict. Secret values
are never available here; secret fields print as `(sensitive value)`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence

from hfops.core.diff import FINGERPRINT_FORMAT_PATH, FieldChange
from hfops.core.fields import SENSITIVE
from hfops.core.model import DEFAULT_OWNER
from hfops.core.plan import Conflict, Create, Delete, NoOp, Pause, Plan, Replace, Resume, Update

NO_CHANGES = "No changes. Your endpoints match the manifests."


def show_value(value: object, *, sensitive: bool = False) -> str:
    if sensitive:
        return SENSITIVE
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


def _change_line(change: FieldChange) -> str:
    if change.path == FINGERPRINT_FORMAT_PATH:
        return (
            "~ secrets: fingerprint tag rewritten in the v2 format (values unchanged; "
            "the v1 format could be brute-forced)"
        )
    if change.old is None:
        return f"+ {change.path}: {show_value(change.new, sensitive=change.sensitive)}"
    if change.new is None:
        return f"- {change.path}: {show_value(change.old, sensitive=change.sensitive)}"
    if change.sensitive:
        return f"~ {change.path}: (sensitive value changed)"
    suffix = "  # forces replacement" if change.forces_replacement else ""
    return f"~ {change.path}: {show_value(change.old)} -> {show_value(change.new)}{suffix}"


_CAUSES = {
    "drift": "  # changed outside hfops (drift)",
    "manifest": "  # the manifest changed",
    "secrets-unrecorded": "  # hfops holds no record of the secret values; apply sets them from the environment",
    "revision": "  # the manifest's branch or tag now names another commit",
    "manifest+drift": "  # the manifest changed, and the endpoint was changed outside hfops",
    "failed": "  # it failed to deploy",
    "requested": "  # replacement requested (--replace)",
    "upgrade": "  # hfops' bookkeeping tags only; nothing redeploys",
}


def _cause_note(cause: str) -> str:
    return _CAUSES.get(cause, "")


def _then(action: Update) -> str:
    paused_now = action.live.state == "paused"
    if action.desired.spec.paused and not paused_now:
        return ", then paused"
    if paused_now and not action.desired.spec.paused:
        return ", then resumed"
    return ""


def render_plan(plan: Plan, *, paths: Sequence[str] = (), show_unchanged: bool = False) -> str:
    lines: list[str] = []
    changing = [a for a in plan.actions if not isinstance(a, NoOp)]
    if changing:
        lines.append("hfops will perform the following actions:")
        lines.append("")
    for action in plan.actions:
        if isinstance(action, Create):
            then = " (and paused: the manifest says paused: true)" if action.desired.spec.paused else ""
            lines.append(f"  + {action.address} will be created{then}")
            lines.extend(f"      {_change_line(c)}" for c in action.fields)
        elif isinstance(action, Update):
            verb = "will be adopted and updated in place" if action.adopt else "will be updated in place"
            lines.append(f"  ~ {action.address} {verb}{_then(action)}{_cause_note(action.cause)}")
            lines.extend(f"      {_change_line(c)}" for c in action.changes)
        elif isinstance(action, Replace):
            lines.append(f"-/+ {action.address} must be replaced (deleted, then created){_cause_note(action.cause)}")
            lines.extend(f"      {_change_line(c)}" for c in action.changes)
        elif isinstance(action, Resume):
            lines.append(f"  ~ {action.address} is paused and will be resumed")
        elif isinstance(action, Pause):
            lines.append(f"  ~ {action.address} will be paused (manifest says paused: true)")
        elif isinstance(action, Delete):
            why = " (no manifest names it any more)" if action.reason == "prune" else ""
            lines.append(f"  - {action.address} will be destroyed{why}")
        elif isinstance(action, Conflict):
            command = "hfops apply --adopt " + shlex.quote(action.address)
            if action.owner != DEFAULT_OWNER:
                command += " --owner " + shlex.quote(action.owner)
            if paths:
                command += " " + " ".join(shlex.quote(p) for p in paths)
            lines.append(f"  ! {action.address}: {action.message}")
            lines.append(f"      to manage it with hfops, adopt it explicitly: {command}")
        elif isinstance(action, NoOp) and show_unchanged:
            lines.append(f"    {action.address} is up to date")
        if not isinstance(action, NoOp) or show_unchanged:
            lines.append("")
    if plan.credentials:
        if not changing:
            lines.append("hfops will perform the following actions:")
            lines.append("")
        lines.extend(render_credentials(plan))
        lines.append("")
    for conflict in plan.credential_conflicts:
        lines.append(f"  ! {conflict}")
    if plan.credential_conflicts:
        lines.append("")
    if plan.has_changes:
        counts = plan.counts()
        summary = f"Plan: {counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy."
        if plan.credentials:
            c = plan.credential_counts()
            summary += f" Credentials: {c['write']} to write, {c['update']} to change, {c['remove']} to remove."
        lines.append(summary)
        if plan.drifted:
            lines.append(
                f"Drift: {len(plan.drifted)} endpoint(s) changed outside hfops since the last apply "
                f"({', '.join(plan.drifted)}); apply restores the manifests."
            )
    elif not plan.conflicts:
        lines.append(NO_CHANGES)
    if plan.costs and plan.has_changes:
        lines.append("")
        lines.extend(render_costs(plan))
    unmanaged = [c for c in plan.conflicts if c.other_owner is None]
    if unmanaged:
        lines.append(f"This plan cannot be applied: {len(unmanaged)} endpoint(s) exist but are not managed by hfops.")
    foreign = [c for c in plan.conflicts if c.other_owner is not None]
    if foreign:
        lines.append(
            f"This plan cannot be applied: {len(foreign)} endpoint(s) are managed by another hfops owner "
            f"({', '.join(sorted({str(c.other_owner) for c in foreign}))})."
        )
    if plan.credential_conflicts:
        lines.append(
            f"This plan cannot be applied: {len(plan.credential_conflicts)} credential output(s) hfops may not touch."
        )
    return "\n".join(lines)


_CREDENTIAL_VERBS = {"write": "will be written", "update": "will be updated", "remove": "will be removed"}


def render_credentials(plan: Plan) -> list[str]:
    """Credential lines: `+ credential acme/llama -> file llama.json will be written`."""
    lines: list[str] = []
    for action in plan.credentials:
        why = f"  # {action.reason}" if action.reason else ""
        lines.append(
            f"  {action.symbol} credential {action.address} -> {action.output.describe()} "
            f"{_CREDENTIAL_VERBS[action.verb]}{why}"
        )
        if action.verb == "update":
            lines.extend(f"      {_change_line(c)}" for c in action.changes)
    return lines


def render_costs(plan: Plan) -> list[str]:
    lines = ["Cost, per hour at max replicas (USD):"]
    width = max(len(c.address) for c in plan.costs)
    for cost in plan.costs:
        if cost.paused:
            note = "paused: $0"
        elif cost.min_replicas == 0:
            note = "scales to zero: $0 while idle"
        else:
            note = f"${cost.hourly_idle:.2f}/h at min replicas"
        lines.append(
            f"  {cost.address.ljust(width)}  {cost.max_replicas} x {cost.instance} at ${cost.price_per_hour:.2f}"
            f"  = ${cost.hourly_max:.2f}/h  ({note})"
        )
    lines.append(f"  Fleet total: up to ${plan.hourly_max:.2f}/hour; scaled-to-zero replicas cost nothing while idle.")
    return lines
