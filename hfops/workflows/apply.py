"""The apply workflow: a fresh or saved plan, checks before anything changes, confirmation, execution.

Called by the CLI, the demo and (later) the operator. It prints nothing itself: the plan goes to
`hooks.show_plan`, questions to `hooks.confirm`, progress to `hooks.on_event`, notes to
`hooks.info`; it returns an `ApplyResult` the caller renders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hfops.core.credentials import CredentialAction
from hfops.core.diff import Desired
from hfops.core.errors import CredentialsError, HfopsError, UsageError
from hfops.core.model import EndpointSpec, FileOutput, LiveEndpoint
from hfops.core.outcome import CredentialOutcome, Outcome
from hfops.core.plan import Create, NoOp, Plan, Replace
from hfops.workflows.executor import ApplyOptions, Event, Executor, http_health_check
from hfops.workflows.outputs import CredentialDelivery, OutputSinks, carry_out, check_outputs, run_concurrently
from hfops.workflows.reconcile import Reconciler, secret_values


@dataclass(frozen=True)
class ApplyRequest:
    """What to apply: manifest paths, or one saved plan file (which records the rest)."""

    paths: tuple[str, ...]
    adopt: tuple[str, ...] = ()
    prune: bool = False
    allow_empty_prune: bool = False
    replace: tuple[str, ...] = ()  # endpoints to re-create (--replace)
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
    credentials: tuple[CredentialOutcome, ...] = ()
    # Problems that fail nothing but that GenStudio will hit (a credential key the endpoint rejects).
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        # An interrupted apply is not a successful one, even if everything in flight finished.
        return not self.interrupted and all(o.ok for o in self.outcomes) and all(c.ok for c in self.credentials)


def resolve_request(request: ApplyRequest, reconciler: Reconciler) -> tuple[ApplyRequest, dict[str, Any] | None, str]:
    """A request naming a saved plan becomes the request it recorded (plus the saved plan)."""
    from hfops.adapters.plan_file import is_saved_plan, load_saved_plan

    if len(request.paths) != 1 or not is_saved_plan(request.paths[0]):
        return request, None, ""
    plan_path = request.paths[0]
    if request.adopt or request.prune or request.allow_empty_prune or request.replace:
        raise UsageError("a saved plan already records --adopt/--prune/--replace; pass only the plan file")
    saved, inputs = load_saved_plan(plan_path)
    if inputs.namespace and reconciler.settings.namespace != inputs.namespace:
        raise UsageError(f"the saved plan was made with --namespace {inputs.namespace}; pass the same")
    recorded = ApplyRequest(
        paths=inputs.paths,
        adopt=inputs.adopt,
        prune=inputs.prune,
        allow_empty_prune=inputs.allow_empty_prune,
        replace=inputs.replace,
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
        replace_addresses=request.replace,
    )
    if saved is not None:
        check_not_stale(saved, the_plan, path=plan_path)
    hooks.show_plan(the_plan, request.paths)
    if the_plan.conflicts:
        raise HfopsError(
            f"{len(the_plan.conflicts)} endpoint(s) exist but are not managed by hfops; nothing was changed",
            hint="adopt them explicitly with --adopt NAMESPACE/NAME, or rename the manifests",
        )
    if the_plan.credential_conflicts:
        raise CredentialsError(
            f"{len(the_plan.credential_conflicts)} credential output(s) hfops may not touch; nothing was changed: "
            + "; ".join(the_plan.credential_conflicts)
        )
    sinks = reconciler.output_sinks(context.specs)
    files_untracked = not Path(reconciler.settings.credentials_dir).is_dir()
    check_credential_outputs(reconciler, context.specs, sinks, hooks)
    if the_plan.has_changes and not request.yes:
        hooks.confirm("Apply these changes?")
    delivery = CredentialDelivery(
        sinks,
        token=reconciler.settings.token,
        owner=reconciler.settings.owner,
        api_key_for=reconciler.api_key_for,
        models=context.models,
    )
    specs = {s.address: s for s in context.specs}

    def on_ready(desired: Desired, live: LiveEndpoint) -> str | None:
        return delivery.write(desired.spec, live)

    executor = Executor(
        reconciler.endpoints,
        options=request.options,
        secrets_for=lambda d: secret_values(d.spec, reconciler.env),
        on_ready=on_ready,
        health_check=http_health_check(reconciler.settings.token),
        on_event=hooks.on_event,
        stop=stop,
    )
    # The credentials written as endpoints become ready are recorded in the ledger in batches (a
    # commit every fraction of a second, not one per credential; see `Ledger.batch`).
    with sinks.ledger.batch():
        outcomes = executor.run(the_plan)
        interrupted = stop is not None and stop.is_set()
        handled = {o.address for o in outcomes if o.credential_path is not None}
        failed = {o.address for o in outcomes if not o.ok}

        def deliver_rest() -> list[CredentialOutcome]:
            try:
                if interrupted:
                    return []
                # What the executor wrote must be in the ledger before any removal is decided on it:
                # a removal of an output's old endpoint checks the ledger for whose it is now.
                sinks.ledger.flush()
                done = carry_out_credentials(
                    the_plan, delivery, specs, context.live, handled=handled, failed=failed, wait=request.options.wait
                )
                if files_untracked and request.options.wait:
                    done += write_untracked_files(the_plan, delivery, specs, context.live, handled | failed)
                return done
            finally:
                sinks.ledger.flush()  # here, so that the end of the batch has nothing left to write

        # In a worker thread, like every other write: the main thread must stay free for the signal
        # handler, which must never find the temporary-file registry locked by the thread it interrupted.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfops-credentials") as pool:
            credentials = pool.submit(deliver_rest).result()
    running = {o.address: o.live for o in outcomes if o.credential_path is not None and o.live is not None}
    for written in credentials:
        if written.ok and written.verb != "remove" and written.address in context.live:
            running.setdefault(written.address, context.live[written.address])
    return ApplyResult(
        plan=the_plan,
        outcomes=tuple(outcomes),
        retries=reconciler.retry.stats.retries,
        interrupted=interrupted,
        credentials=tuple(credentials),
        warnings=() if interrupted else tuple(check_api_keys(reconciler, specs, running)),
    )


def check_api_keys(
    reconciler: Reconciler, specs: Mapping[str, EndpointSpec], written: Mapping[str, LiveEndpoint]
) -> list[str]:
    """One authenticated /info call per endpoint whose credential was just written, with its key.

    apply waits with the deploy token; GenStudio calls with `genstudio.apiKey`, a different token
    that the endpoint may not accept (another organisation's, revoked, a typo). Checked once here
    so the summary says so, instead of GenStudio's first call. Only running endpoints are called:
    a scaled-to-zero one is not woken. Public endpoints accept any key; without an apiKey the
    credential holds the deploy token, which the wait just used.
    """
    from hfops.adapters import tgi
    from hfops.workflows.reconcile import read_env_secret

    def check(address: str, url: str, env_var: str, key: str) -> list[str]:
        answer = tgi.info(url, token=key)
        if answer.status in (401, 403):
            return [
                f"{address}: the endpoint rejects the credential's api_key ({env_var}; HTTP {answer.status}): "
                "GenStudio's calls will fail; give genstudio.apiKey a token that can call this endpoint, "
                "then run hfops credentials"
            ]
        return []

    calls = []
    for address in sorted(written):
        spec, live = specs.get(address), written[address]
        ref = spec.genstudio.api_key if spec else None
        if spec is None or ref is None or spec.type == "public" or live.url is None or live.state != "running":
            continue
        key = read_env_secret(ref.env_var, reconciler.env)
        if key:
            calls.append(partial(check, address, live.url, ref.env_var, key))
    checks = run_concurrently(calls)
    return [warning for found in checks for warning in found]


def carry_out_credentials(
    plan: Plan,
    delivery: CredentialDelivery,
    specs: Mapping[str, EndpointSpec],
    live: Mapping[str, LiveEndpoint],
    *,
    handled: set[str],
    failed: set[str],
    wait: bool,
) -> list[CredentialOutcome]:
    """The plan's credential actions not already done when an endpoint became ready (concurrently)."""
    replaced = {a.address for a in plan.actions if isinstance(a, (Create, Replace))}

    def settled(action: CredentialAction) -> list[CredentialOutcome] | None:
        if action.verb == "remove":
            return None
        if action.address in handled:
            return [CredentialOutcome(action.address, action.output.describe(), action.verb, True)]
        if action.address in failed:
            return []  # the endpoint's failure is reported; its credential waits for the next apply
        if (action.address in replaced or not wait) and not (action.address in replaced and action.verb == "update"):
            return []
        return None

    def carry(action: CredentialAction) -> list[CredentialOutcome]:
        described = action.output.describe()
        try:
            if action.verb == "remove":
                delivery.remove(action)
            elif action.address in replaced or not wait:
                if action.address in replaced and action.verb == "update":
                    # The endpoint it points at is gone: a credential for it must not stay behind.
                    delivery.remove(action)
                    return [
                        CredentialOutcome(
                            action.address,
                            described,
                            "remove",
                            True,
                            "removed: the endpoint was replaced; run hfops credentials once it runs",
                        )
                    ]
                return []
            else:
                current = live.get(action.address)
                spec = specs.get(action.address)
                if current is None or spec is None:
                    raise CredentialsError(f"{action.address}: does not exist")
                delivery.write(spec, current, only=[action.output])
            return [CredentialOutcome(action.address, described, action.verb, True)]
        except HfopsError as error:
            return [CredentialOutcome(action.address, described, action.verb, False, error.message)]

    def removes(action: CredentialAction) -> bool:
        return action.verb == "remove" or (action.address in replaced and action.verb == "update")

    return carry_out(plan.credentials, carry, sinks=delivery.sinks, removes=removes, settled=settled)


def write_untracked_files(
    plan: Plan,
    delivery: CredentialDelivery,
    specs: Mapping[str, EndpointSpec],
    live: Mapping[str, LiveEndpoint],
    done: set[str],
) -> list[CredentialOutcome]:
    """File outputs of unchanged endpoints, when the credentials directory was new to this run."""
    unchanged = {a.address for a in plan.actions if isinstance(a, NoOp)}

    def write(address: str, spec: EndpointSpec, current: LiveEndpoint, files: list[FileOutput]) -> CredentialOutcome:
        try:
            return CredentialOutcome(address, delivery.write(spec, current, only=files), "write", True)
        except HfopsError as error:
            return CredentialOutcome(address, files[0].describe(), "write", False, error.message)

    writes = []
    for address in sorted(unchanged - done):
        spec, current = specs.get(address), live.get(address)
        files = [o for o in spec.genstudio.outputs if isinstance(o, FileOutput)] if spec else []
        if spec is not None and current is not None and not spec.paused and files:
            writes.append(partial(write, address, spec, current, files))
    with delivery.sinks.ledger.batch():
        return run_concurrently(writes)


def check_credential_outputs(
    reconciler: Reconciler, specs: Sequence[EndpointSpec], sinks: OutputSinks, hooks: ApplyHooks
) -> None:
    """Everything that can be known about the credential outputs, before anything is created."""
    from hfops.adapters.sinks.credentials_dir import prepare_root, remove_own_temporaries

    root = reconciler.settings.credentials_dir
    if any(isinstance(o, FileOutput) for s in specs for o in s.genstudio.outputs):
        problems = check_outputs(specs, sinks)
        if problems:
            raise CredentialsError("; ".join(problems) + "; nothing was changed")
        for warning in prepare_root(root):
            hooks.info(f"Warning: {warning}")
        for leftover in remove_own_temporaries(Path(root)):
            hooks.info(f"Removed {leftover}, left by an interrupted run")
    else:
        problems = check_outputs(specs, sinks)
        if problems:
            raise CredentialsError("; ".join(problems) + "; nothing was changed")
