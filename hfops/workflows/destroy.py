"""The destroy workflow: delete the endpoints the manifests name that hfops manages, and their credentials.

Deletes go through the executor like every other change. Credential outputs hfops wrote for the
named endpoints are removed too, also when the endpoint is already gone (deleted in the UI).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hfops.core.credentials import CredentialAction
from hfops.core.errors import HfopsError
from hfops.core.model import SecretOutput
from hfops.core.outcome import CredentialOutcome, Outcome
from hfops.core.plan import Delete, Digests, Plan, destroy_plan, live_digest
from hfops.workflows.executor import ApplyOptions, Executor
from hfops.workflows.outputs import CredentialDelivery, read_held
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
    deletes, notes = destroy_plan([s.address for s in specs], live, owner=reconciler.settings.owner)
    doomed = {d.address for d in deletes} | {s.address for s in specs if s.address not in live}
    sinks = reconciler.output_sinks(specs)
    delivery = CredentialDelivery(sinks, token=None, owner=reconciler.settings.owner, api_key_for=None, models={})
    removals: list[CredentialAction] = []
    seen: set[str] = set()
    for spec in specs:
        if spec.address not in doomed:
            continue
        outputs = delivery.outputs(spec)
        held = read_held(sinks, outputs)
        for output in outputs:
            found = held[output.output_id]
            if found.state == "ours" and found.address in (None, spec.address):
                removals.append(CredentialAction(spec.address, output, "remove", (), "endpoint destroyed"))
                seen.add(output.output_id)
    kube_namespaces = {
        o.namespace for s in specs for o in delivery.outputs(s) if isinstance(o, SecretOutput) and o.namespace
    }
    for address, output in sinks.recorded(reconciler.settings.owner, kube_namespaces):
        if address in doomed and output.output_id not in seen:
            removals.append(CredentialAction(address, output, "remove", (), "endpoint destroyed"))
            seen.add(output.output_id)
    plan = Plan(
        actions=tuple(deletes),
        digests=Digests("", live_digest(d.live for d in deletes)),
        namespaces=tuple(namespaces),
        credentials=tuple(removals),
    )
    return DestroyPlan(plan, tuple(notes))


def run_destroy(
    reconciler: Reconciler,
    destroy: DestroyPlan,
    *,
    on_deleted: Callable[[str], None] = lambda address: None,
    stop: threading.Event | None = None,
) -> tuple[list[Outcome], list[CredentialOutcome]]:
    """Carry out the deletes, then remove the credentials of what is gone."""
    executor = Executor(reconciler.endpoints, options=ApplyOptions(wait=False), secrets_for=lambda d: {}, stop=stop)
    outcomes = executor.run(destroy.plan)
    failed = {o.address for o in outcomes if not o.ok}
    for outcome in outcomes:
        if outcome.result == "deleted":
            on_deleted(outcome.address)
    delivery = CredentialDelivery(
        reconciler.output_sinks(()),  # the run's sinks, made when the destroy was planned
        token=None,
        owner=reconciler.settings.owner,
        api_key_for=None,
        models={},
    )
    removed: list[CredentialOutcome] = []
    for action in destroy.plan.credentials:
        if action.address in failed or (stop is not None and stop.is_set()):
            continue  # the endpoint is still there: so is its credential
        try:
            removed.append(CredentialOutcome(action.address, delivery.remove(action), "remove", True))
        except HfopsError as error:
            removed.append(CredentialOutcome(action.address, action.output.describe(), "remove", False, error.message))
    return outcomes, removed
