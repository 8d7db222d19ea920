"""The credentials workflow: apply only credential changes (nothing remote), or reveal one credential."""

from __future__ import annotations

from collections.abc import Sequence

from hfops.core.credentials import CredentialAction, credential_bytes
from hfops.core.errors import CredentialsError, HfopsError, UsageError
from hfops.core.outcome import CredentialOutcome
from hfops.core.plan import Plan
from hfops.workflows.outputs import CredentialDelivery, carry_out, record_adopted
from hfops.workflows.reconcile import Context, Reconciler


def _delivery(reconciler: Reconciler, context: Context) -> CredentialDelivery:
    return CredentialDelivery(
        reconciler.output_sinks(context.specs),
        token=reconciler.settings.token,
        owner=reconciler.settings.owner,
        api_key_for=reconciler.api_key_for,
        models=context.models,
    )


def plan_credentials(reconciler: Reconciler, paths: Sequence[str]) -> tuple[Context, Plan]:
    context, plan = reconciler.plan(paths, for_apply=True)
    if plan.credential_conflicts:
        raise CredentialsError("; ".join(plan.credential_conflicts))
    return context, plan


def apply_credentials(reconciler: Reconciler, paths: Sequence[str]) -> list[CredentialOutcome]:
    """Carry out the plan's credential actions for endpoints that exist; nothing else changes."""
    from pathlib import Path

    from hfops.workflows.apply import ApplyHooks, check_credential_outputs, write_untracked_files

    context, plan = plan_credentials(reconciler, paths)
    # A credentials directory that does not exist yet tracks nothing, so the plan has no file
    # actions: every file output is written, as apply does (it said "No changes" and wrote none).
    files_untracked = not Path(reconciler.settings.credentials_dir).is_dir()
    check_credential_outputs(reconciler, context.specs, reconciler.output_sinks(context.specs), ApplyHooks())
    delivery = _delivery(reconciler, context)
    specs = {s.address: s for s in context.specs}
    results: list[CredentialOutcome] = []
    for spec in context.specs:
        if spec.address not in context.live:
            results.append(
                CredentialOutcome(
                    spec.address, "-", "write", False, f"{spec.address}: does not exist; run hfops apply first"
                )
            )

    def carry(action: CredentialAction) -> list[CredentialOutcome]:
        described = action.output.describe()
        live = context.live.get(action.address)
        try:
            if action.verb == "remove":
                delivery.remove(action)
            elif live is None:
                return []  # reported above
            else:
                delivery.write(specs[action.address], live, only=[action.output])
            return [CredentialOutcome(action.address, described, action.verb, True)]
        except HfopsError as error:
            return [CredentialOutcome(action.address, described, action.verb, False, error.message)]

    results += carry_out(plan.credentials, carry, sinks=delivery.sinks)
    if files_untracked:
        done = {r.address for r in results}
        results += write_untracked_files(plan, delivery, specs, context.live, done)
    record_adopted(delivery.sinks, context.specs, context.live, reconciler.settings.owner)
    return results


def reveal(reconciler: Reconciler, paths: Sequence[str], address: str) -> bytes:
    """The one credential JSON of `address`, as GenStudio wants it pasted."""
    context = reconciler.context(paths, check_env=False)
    spec = next((s for s in context.specs if s.address == address), None)
    if spec is None:
        raise UsageError(f"--reveal {address}: no manifest declares it")
    live = context.live.get(address)
    if live is None:
        raise HfopsError(f"{address}: does not exist; run hfops apply first")
    return credential_bytes(_delivery(reconciler, context).credential(spec, live))
