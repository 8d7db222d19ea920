"""What applying one action did: typed outcomes, and their rendering for people and for JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hfops.core.diff import Desired
from hfops.core.model import LiveEndpoint

Result = Literal[
    "created", "updated", "replaced", "deleted", "resumed", "paused", "unchanged", "failed", "timeout", "skipped"
]
NOT_OK: frozenset[Result] = frozenset({"failed", "timeout", "skipped"})


@dataclass(frozen=True)
class Outcome:
    address: str
    result: Result
    live: LiveEndpoint | None = None
    desired: Desired | None = field(default=None, repr=False)
    message: str | None = None
    step: str | None = None
    credential_path: str | None = None

    @property
    def ok(self) -> bool:
        return self.result not in NOT_OK

    def to_json(self) -> dict[str, Any]:
        live = self.live
        return {
            "address": self.address,
            "result": self.result,
            "ok": self.ok,
            "state": live.state if live else None,
            "url": live.url if live else None,
            "message": self.message,
            "step": self.step,
            "credential_file": self.credential_path,
        }


@dataclass(frozen=True)
class CredentialOutcome:
    """A credential output written, updated or removed (or not) during a run."""

    address: str
    output: str  # its description, never its content
    verb: str  # write | update | remove
    ok: bool
    message: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "output": self.output,
            "action": self.verb,
            "ok": self.ok,
            "message": self.message,
        }


def outcomes_json(
    outcomes: Sequence[Outcome], plan_doc: dict[str, Any] | None, credentials: Sequence[CredentialOutcome] = ()
) -> dict[str, Any]:
    return {
        "credentials": [c.to_json() for c in credentials],
        "format_version": "1",
        "plan": plan_doc,
        "outcomes": [o.to_json() for o in outcomes],
        "succeeded": sum(o.ok for o in outcomes),
        "failed": sum(o.result in ("failed", "timeout") for o in outcomes),
        "not_attempted": sum(o.result == "skipped" for o in outcomes),
    }


def render_outcomes(outcomes: Sequence[Outcome], credentials: Sequence[CredentialOutcome] = ()) -> str:
    lines = [""]
    for outcome in outcomes:
        line = f"{outcome.address}: {outcome.result}"
        if outcome.live and outcome.live.url and outcome.ok:
            line += f" ({outcome.live.state}, {outcome.live.url})"
        if outcome.message and not outcome.ok:
            line += f" — {outcome.message}"
        if outcome.credential_path:
            line += f"\n    credential: {outcome.credential_path}"
        lines.append(line)
    for item in credentials:
        if not item.ok:
            lines.append(f"{item.address}: credential {item.verb} failed ({item.output}) — {item.message}")
        elif item.message:
            lines.append(f"{item.address}: credential {item.output} {item.message}")
    changed = sorted({f"{c.address} ({c.output})" for c in credentials if c.ok and c.verb != "remove"})
    if changed:
        lines.append(
            "\nCredentials changed; give GenStudio the new credential (hfops credentials PATH --reveal NS/NAME): "
            + ", ".join(changed)
        )
    removed = sorted({f"{c.address} ({c.output})" for c in credentials if c.ok and c.verb == "remove"})
    if removed:
        lines.append("Credentials removed: " + ", ".join(removed))
    ok = sum(o.ok for o in outcomes)
    bad = sum(o.result in ("failed", "timeout") for o in outcomes) + sum(not c.ok for c in credentials)
    skipped = sum(o.result == "skipped" for o in outcomes)
    lines.append(f"\nApply complete: {ok} succeeded, {bad} failed, {skipped} not attempted.")
    return "\n".join(lines)
