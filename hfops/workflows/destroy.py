"""The destroy workflow: delete the endpoints the manifests name that hfops manages, through the executor."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hfops.core.outcome import Outcome
from hfops.core.plan import Delete, Plan, destroy_plan, live_digest
from hfops.workflows.executor import ApplyOptions, Executor
from hfops.workflows.reconcile import Reconciler


@dataclass(frozen=True)
class DestroyPlan:
    plan: Plan
    notes: tuple[str, ...]  # endpoints left alone, and why

    @property
    def deletes(self) -> tuple[Delete, ...]:
        return tuple(a for a in self.plan.actions if isinstance(a, Delete))


def plan_destroy(reconciler: Reconciler, paths: Sequence[str]) -> DestroyPlan:
    _manifests, specs = reconciler.load(paths)
    namespaces = sorted({s.namespace for s in specs if s.namespace})
    live = reconciler.read_live(namespaces)
    deletes, notes = destroy_plan([s.address for s in specs], live)
    plan = Plan(
        actions=tuple(deletes),
        manifest_digest="",
        live_digest=live_digest(d.live for d in deletes),
        namespaces=tuple(namespaces),
    )
    return DestroyPlan(plan, tuple(notes))


def run_destroy(
    reconciler: Reconciler,
    destroy: DestroyPlan,
    paths: Sequence[str],
    *,
    on_deleted: Callable[[str], None] = lambda address: None,
    stop: threading.Event | None = None,
) -> list[Outcome]:
    """Carry out the deletes; each deleted endpoint's credential file goes with it."""
    from hfops.adapters.credential_files import credential_path

    _manifests, specs = reconciler.load(paths)
    by_address = {s.address: s for s in specs}
    executor = Executor(reconciler.endpoints, options=ApplyOptions(wait=False), secrets_for=lambda d: {}, stop=stop)
    outcomes = executor.run(destroy.plan)
    for outcome in outcomes:
        if outcome.result == "deleted" and outcome.address in by_address:
            path = credential_path(reconciler.settings.credentials_dir, by_address[outcome.address])
            if path.is_file() and not path.is_symlink():
                path.unlink()
            on_deleted(outcome.address)
    return outcomes
