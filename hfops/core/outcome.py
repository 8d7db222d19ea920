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


def outcomes_json(outcomes: Sequence[Outcome], plan_doc: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "format_version": "1",
        "plan": plan_doc,
        "outcomes": [o.to_json() for o in outcomes],
        "succeeded": sum(o.ok for o in outcomes),
        "failed": sum(o.result in ("failed", "timeout") for o in outcomes),
        "not_attempted": sum(o.result == "skipped" for o in outcomes),
    }


def render_outcomes(outcomes: Sequence[Outcome]) -> str:
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
    ok = sum(o.ok for o in outcomes)
    bad = sum(o.result in ("failed", "timeout") for o in outcomes)
    skipped = sum(o.result == "skipped" for o in outcomes)
    lines.append(f"\nApply complete: {ok} succeeded, {bad} failed, {skipped} not attempted.")
    return "\n".join(lines)
