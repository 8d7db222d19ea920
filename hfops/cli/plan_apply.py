"""`hfops validate`, `hfops plan`, `hfops apply`: parse, call one workflow, render, exit code."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from hfops.adapters.output import Output
from hfops.cli import options as o
from hfops.core.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from hfops.adapters.settings import Settings
    from hfops.cli.signals import SignalGuard
    from hfops.core.plan import Plan
    from hfops.workflows.apply import ApplyRequest
    from hfops.workflows.reconcile import Reconciler


@click.command()
@o.paths_argument
@o.namespace_option
@o.format_option
@o.no_color_option
def validate(paths: Sequence[str], namespace: str | None, fmt: str) -> int:
    """Check manifests offline: schema and semantic rules, every error in one run."""
    from hfops.core.errors import ManifestError
    from hfops.core.manifest import load_manifests

    out = Output(fmt=fmt)
    namespace = namespace or os.environ.get("HFOPS_NAMESPACE") or None
    try:
        manifests = load_manifests(paths, default_namespace=namespace)
    except ManifestError as error:
        if out.json_mode:
            out.document(
                {
                    "format_version": "1",
                    "valid": False,
                    "errors": [
                        {
                            "file": d.location.file,
                            "line": d.location.line,
                            "field": d.location.field,
                            "message": d.message,
                            "hint": d.hint,
                        }
                        for d in error.diagnostics
                    ],
                }
            )
        raise
    for skipped in manifests.skipped:
        out.info(f"Skipped {skipped}: not an hfops manifest (no hfops apiVersion or kind)")
    summary = f"{len(manifests.specs)} endpoint(s) in {len(manifests.files)} file(s): valid."
    if out.json_mode:
        out.document(
            {
                "format_version": "1",
                "valid": True,
                "endpoints": [s.address for s in manifests.specs],
                "files": list(manifests.files),
            }
        )
    else:
        out.data(summary)
    return EXIT_OK


def _import_planner() -> None:
    import hfops.workflows.reconcile  # noqa: F401  # the diff, the plan, the credentials


def _import_applier() -> None:
    # The executor and the credential outputs; and the writes' client, imported while the reads
    # are out rather than before the first write.
    import hfops.workflows.apply  # noqa: F401
    from hfops.adapters.endpoints import import_writes_client

    import_writes_client()

    _import_planner()


def _start_planning(
    stack: contextlib.ExitStack,
    out: Output,
    run_settings: Settings,
    paths: Sequence[str],
    *,
    prune: bool,
    prepare: Callable[[], None] | None = None,
    early_when_parsed_here: bool = False,
) -> tuple[Reconciler, SignalGuard]:
    """The reconciler of a plan (or an apply) whose manifests are being parsed, and whose reads
    are out as soon as they are valid; with the run's signal guard, on `stack`.

    The manifests are parsed (by a second process, for a large set) while this one imports and
    builds its HTTP client: what only this process needs is imported after the fork, so the child
    starts sooner, and the client is built from the start. Once they are valid, their reads are
    sent before the planner is imported, which is imported while they are out (`early_reads`),
    and so is what `prepare` imports (an apply's executor and writes' client). Parsed here (a small
    set), the reads go out early only with `early_when_parsed_here`: an apply has more to import.
    """
    from hfops.adapters.manifest_workers import start_manifest_load

    started = stack.enter_context(
        start_manifest_load(paths, default_namespace=run_settings.namespace, allow_empty=prune)
    )
    from hfops.cli.signals import SignalGuard

    early = None
    guard = None
    if started.pid is not None or early_when_parsed_here:
        from hfops.adapters.http import start_session
        from hfops.workflows.early_reads import EarlyReads

        start_session(run_settings.http_timeout, (run_settings.api_url, run_settings.hub_url))
        early = EarlyReads(run_settings)
        # SIGINT/SIGTERM wake retry waits (a 429 storm): the plan stops at once with `Interrupted`.
        guard = stack.enter_context(SignalGuard(early.retry.stop))
        stack.callback(early.close)
        if early.may_start():  # else the reconciler refuses first, as without early reads
            # A ManifestError is raised here as the plan raises it: nothing has been sent. The
            # rest is imported while the child finishes, if this process would wait for it.
            manifests = started.result(while_waiting=_import_planner)
            if early.start(manifests.specs, os.environ) and os.environ.get("HFOPS_DEBUG"):
                sys.stderr.write(f"hfops: {early.describe()}\n")
            _import_planner()  # done already if it was done while waiting
            if prepare is not None:
                prepare()
    reconciler = o.reconciler(out, run_settings, early)
    reconciler.use_started_load(started)
    if guard is None:
        guard = stack.enter_context(SignalGuard(reconciler.retry.stop))
    return reconciler, guard


@click.command()
@o.paths_argument
@o.namespace_option
@o.format_option
@o.no_color_option
@o.credentials_option
@o.adopt_option
@o.replace_option
@o.prune_options
@o.owner_option
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Save the plan to FILE; `hfops apply FILE` applies exactly it, or refuses if stale.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none, 1 on error.")
def plan(
    paths: Sequence[str],
    namespace: str | None,
    fmt: str,
    credentials_dir: str,
    adopt: Sequence[str],
    replace_addresses: Sequence[str],
    prune: bool,
    allow_empty_prune: bool,
    owner: str | None,
    out_file: str | None,
    detailed_exitcode: bool,
) -> int:
    """Read the live state and show what apply would do; changes nothing."""
    from hfops.core.gc_pause import pause_until_exit

    pause_until_exit()
    out = Output(fmt=fmt)
    run_settings = o.settings(namespace=namespace, owner=owner, credentials_dir=credentials_dir)
    with contextlib.ExitStack() as stack:
        reconciler, _guard = _start_planning(stack, out, run_settings, paths, prune=prune)
        _context, the_plan = reconciler.plan(
            paths,
            adopt=adopt,
            prune=prune,
            allow_empty_prune=allow_empty_prune,
            replace_addresses=replace_addresses,
        )
    from hfops.core.render import render_plan

    if out_file:
        from hfops.adapters.plan_file import PlanInputs, save_plan

        inputs = PlanInputs(
            paths=tuple(paths),
            namespace=namespace,
            adopt=tuple(adopt),
            prune=prune,
            allow_empty_prune=allow_empty_prune,
            replace=tuple(replace_addresses),
        )
        save_plan(out_file, the_plan, inputs)
        out.info(f"Saved the plan to {out_file}; apply exactly it with: hfops apply {out_file}")
    if out.json_mode:
        out.document(the_plan.to_json())
    else:
        out.plan(render_plan(the_plan, paths=paths))
    if the_plan.conflicts or the_plan.credential_conflicts:
        return EXIT_ERROR
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


@click.command()
@o.paths_argument
@o.namespace_option
@o.format_option
@o.no_color_option
@o.credentials_option
@o.timeout_option
@o.parallelism_option
@o.adopt_option
@o.replace_option
@o.prune_options
@o.owner_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--no-wait", is_flag=True, help="Do not wait for endpoints to be running (no credentials then).")
def apply(
    paths: Sequence[str],
    namespace: str | None,
    fmt: str,
    credentials_dir: str,
    timeout: float,
    parallelism: int,
    adopt: Sequence[str],
    replace_addresses: Sequence[str],
    prune: bool,
    allow_empty_prune: bool,
    owner: str | None,
    yes: bool,
    no_wait: bool,
) -> int:
    """Plan, confirm, create/update endpoints, wait until running, write credentials.

    PATHS are manifests, or a single plan file saved by `hfops plan --out FILE`.
    """
    from hfops.adapters.plan_file import is_saved_plan

    out = Output(fmt=fmt)
    settings = o.settings(
        namespace=namespace,
        credentials_dir=credentials_dir,
        timeout=timeout,
        wait=not no_wait,
        parallelism=parallelism,
        owner=owner,
    )
    with contextlib.ExitStack() as stack:
        if len(paths) == 1 and is_saved_plan(paths[0]):  # its manifests are known once it is read
            from hfops.cli.signals import SignalGuard

            reconciler = o.reconciler(out, settings)
            guard = stack.enter_context(SignalGuard(reconciler.retry.stop))
        else:
            reconciler, guard = _start_planning(
                stack, out, settings, paths, prune=prune, prepare=_import_applier, early_when_parsed_here=True
            )
        request = _apply_request(
            settings, paths, adopt, replace_addresses, prune, allow_empty_prune, yes, timeout, parallelism, no_wait
        )
        code = apply_and_report(out, reconciler, request, stop=guard.stop)
    from hfops.core.gc_pause import writes_done_on_return

    writes_done_on_return()
    return code


def _apply_request(
    settings: Settings,
    paths: Sequence[str],
    adopt: Sequence[str],
    replace_addresses: Sequence[str],
    prune: bool,
    allow_empty_prune: bool,
    yes: bool,
    timeout: float,
    parallelism: int,
    no_wait: bool,
) -> ApplyRequest:
    from hfops.workflows.apply import ApplyRequest
    from hfops.workflows.executor import ApplyOptions

    return ApplyRequest(
        paths=tuple(paths),
        adopt=tuple(adopt),
        replace=tuple(replace_addresses),
        prune=prune,
        allow_empty_prune=allow_empty_prune,
        yes=yes,
        options=ApplyOptions(
            wait=not no_wait,
            timeout=timeout,
            poll_interval=settings.poll_interval,
            parallelism=parallelism,
            rollout_grace=settings.rollout_grace,
        ),
    )


def apply_and_report(
    out: Output, reconciler: Reconciler, request: ApplyRequest, *, stop: threading.Event | None = None
) -> int:
    """Run the apply workflow with terminal hooks; print the plan, progress and the summary."""
    from hfops.adapters.output import error_document, error_entries
    from hfops.adapters.progress import Progress
    from hfops.core.errors import HfopsError
    from hfops.core.outcome import outcomes_json, render_outcomes
    from hfops.core.plan import Delete
    from hfops.core.render import render_plan
    from hfops.workflows.apply import ApplyHooks, run_apply

    plan_docs: list[dict[str, object]] = []
    shown: list[Plan] = []

    def show_plan(the_plan: Plan, paths: Sequence[str]) -> None:
        shown.append(the_plan)
        if out.json_mode:
            plan_docs.append(the_plan.to_json())
        else:
            out.plan(render_plan(the_plan, paths=paths))

    progress = Progress(sys.stderr)

    def confirm(question: str) -> None:
        deletes = sum(isinstance(a, Delete) for p in shown for a in p.actions)
        if deletes:  # --prune deleting endpoints: a typed `yes`, as for destroy
            o.confirm_typed(
                f"Do you really want to apply these changes, deleting {deletes} endpoint(s)?",
                doing="apply these changes",
            )
        else:
            o.confirm(question)

    hooks = ApplyHooks(show_plan=show_plan, confirm=confirm, on_event=progress, info=out.info)
    try:
        with progress:  # the live board stops ticking before the summary is printed
            result = run_apply(reconciler, request, hooks=hooks, stop=stop)
    except HfopsError as error:
        if out.json_mode and plan_docs:
            # Refused after planning (an unmanaged endpoint, a stale saved plan, no confirmation):
            # the one document says why, with the plan that was refused.
            out.document(error_document("apply", error_entries(error), exit_code=error.exit_code, plan=plan_docs[0]))
        raise
    if result.retries:
        out.info(
            f"Retried {result.retries} transient API failure(s) (rate limits, server errors, dropped connections)."
        )
    if result.interrupted:
        out.info(
            "Interrupted: endpoints already created or updated keep going on the service; run apply again to converge."
        )
    if out.json_mode:
        document = outcomes_json(result.outcomes, plan_docs[0] if plan_docs else None, result.credentials)
        out.document({**document, "warnings": list(result.warnings)})
    else:
        out.data(render_outcomes(result.outcomes, result.credentials))
    for warning in result.warnings:  # after the summary, where it is read
        out.warn(warning)
    return EXIT_OK if result.ok else EXIT_ERROR
