"""The apply workflow: a fresh or saved plan, checks before anything changes, confirmation, execution.

Called by the CLI, the demo and (later) the operator. It prints nothing itself: the plan goes to
`hooks.show_plan`, questions to `hooks.confirm`, progress to `hooks.on_event`, notes to
`hooks.info`; it returns an `ApplyResult` the caller renders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfops.core.diff import Desired
from hfops.core.errors import CredentialsError, HfopsError, UsageError
from hfops.core.model import LiveEndpoint
from hfops.core.outcome import Outcome
from hfops.core.plan import Plan
from hfops.workflows.executor import ApplyOptions, Event, Executor, http_health_check
from hfops.workflows.reconcile import Reconciler, secret_values


@dataclass(frozen=True)
class ApplyRequest:
    """What to apply: manifest paths, or one saved plan file (which records the rest)."""

    paths: tuple[str, ...]
    adopt: tuple[str, ...] = ()
    prune: bool = False
    allow_empty_prune: bool = False
    yes: bool = False
    options: ApplyOptions = field(default_factory=ApplyOptions)


@dataclass(frozen=True)
class ApplyHooks:
    """Where the workflow reports; every hook is optional."""

    show_plan: Callable[[Plan, Sequence[str]], None] = lambda plan, paths: None
    # Asked only when the plan changes something and the request is not `yes`; raises to refuse.
    confirm: Callable[[str], None] = lambda question: None
    on_event: Event | None = None
    info: Callable[[str], None] = lambda message: None


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    outcomes: tuple[Outcome, ...]
    retries: int
    interrupted: bool

    @property
    def ok(self) -> bool:
        # An interrupted apply is not a successful one, even if everything in flight finished.
        return not self.interrupted and all(o.ok for o in self.outcomes)


def resolve_request(request: ApplyRequest, reconciler: Reconciler) -> tuple[ApplyRequest, dict[str, Any] | None, str]:
    """A request naming a saved plan becomes the request it recorded (plus the saved plan)."""
    from hfops.adapters.plan_file import is_saved_plan, load_saved_plan

    if len(request.paths) != 1 or not is_saved_plan(request.paths[0]):
        return request, None, ""
    plan_path = request.paths[0]
    if request.adopt or request.prune or request.allow_empty_prune:
        raise UsageError("a saved plan already records --adopt/--prune; pass only the plan file")
    saved, inputs = load_saved_plan(plan_path)
    if inputs.namespace and reconciler.settings.namespace != inputs.namespace:
        raise UsageError(f"the saved plan was made with --namespace {inputs.namespace}; pass the same")
    recorded = ApplyRequest(
        paths=inputs.paths,
        adopt=inputs.adopt,
        prune=inputs.prune,
        allow_empty_prune=inputs.allow_empty_prune,
        # The saved plan was the thing reviewed, as with `terraform apply PLANFILE`.
        yes=True,
        options=request.options,
    )
    return recorded, saved, plan_path


def run_apply(
    reconciler: Reconciler,
    request: ApplyRequest,
    *,
    hooks: ApplyHooks | None = None,
    stop: threading.Event | None = None,
) -> ApplyResult:
    from hfops.adapters.plan_file import check_not_stale

    hooks = hooks or ApplyHooks()
    request, saved, plan_path = resolve_request(request, reconciler)
    context, the_plan = reconciler.plan(
        request.paths,
        adopt=request.adopt,
        prune=request.prune,
        allow_empty_prune=request.allow_empty_prune,
        for_apply=True,
    )
    if saved is not None:
        check_not_stale(saved, the_plan, path=plan_path)
    hooks.show_plan(the_plan, request.paths)
    if the_plan.conflicts:
        raise HfopsError(
            f"{len(the_plan.conflicts)} endpoint(s) exist but are not managed by hfops; nothing was changed",
            hint="adopt them explicitly with --adopt NAMESPACE/NAME, or rename the manifests",
        )
    if request.options.wait:
        _check_credential_outputs(reconciler, context.desired, hooks)
    if the_plan.has_changes and not request.yes:
        hooks.confirm("Apply these changes?")

    def on_ready(desired: Desired, live: LiveEndpoint) -> str | None:
        model = context.models.get(desired.spec.model_key)
        return reconciler.write_credential(desired.spec, live, model)

    executor = Executor(
        reconciler.endpoints,
        options=request.options,
        secrets_for=lambda d: secret_values(d.spec, reconciler.env),
        on_ready=on_ready,
        health_check=http_health_check(reconciler.settings.token),
        on_event=hooks.on_event,
        stop=stop,
    )
    outcomes = executor.run(the_plan)
    return ApplyResult(
        plan=the_plan,
        outcomes=tuple(outcomes),
        retries=reconciler.retry.stats.retries,
        interrupted=stop is not None and stop.is_set(),
    )


def _check_credential_outputs(reconciler: Reconciler, desired: Sequence[Desired], hooks: ApplyHooks) -> None:
    """Everything that can be known about the credential outputs, before anything is created."""
    from hfops.adapters.atomic import remove_stale_temporaries
    from hfops.adapters.credential_files import check_credential_targets

    try:
        check_credential_targets(reconciler.settings.credentials_dir, [d.spec for d in desired])
    except CredentialsError as error:
        raise CredentialsError(f"{error.message}; nothing was changed") from None
    for leftover in remove_stale_temporaries(Path(reconciler.settings.credentials_dir)):
        hooks.info(f"Removed {leftover}, left by an interrupted run")
