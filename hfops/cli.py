"""The `hfops` command line: parse, wire settings and adapters, call the core, print, exit.

Thin by design: no planning or API logic lives here. Heavy modules (huggingface_hub) are imported
inside the commands that need them, so `hfops --help` and `hfops validate` start fast. Exit codes:
0 success, 1 any error (usage errors included), 2 only `plan --detailed-exitcode` with changes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import click

from hfops.errors import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    ConfirmationError,
    CredentialsError,
    HfopsError,
    UsageError,
)
from hfops.output import Output

if TYPE_CHECKING:
    from hfops.apply import Outcome
    from hfops.reconcile import Reconciler
    from hfops.settings import Settings

FORMATS = click.Choice(["text", "json"])


def _options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(fn: Any) -> Any:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


paths_argument = click.argument("paths", nargs=-1, required=True, type=click.Path())
namespace_option = click.option("--namespace", help="Namespace for manifests that name none (else HFOPS_NAMESPACE).")
format_option = click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default="text",
    show_default=True,
    help="json: one JSON document on stdout, nothing else there.",
)
credentials_option = click.option(
    "--credentials-dir",
    default="credentials",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where credential files are written.",
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=1800,
    show_default=True,
    help="Seconds to wait for endpoints to be running.",
)
parallelism_option = click.option(
    "--parallelism",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="Endpoints worked on at once.",
)


def _settings(**overrides: Any) -> Settings:
    from hfops.settings import settings_from_env

    return settings_from_env(**overrides)


def _reconciler(out: Output, settings: Settings) -> Reconciler:
    from hfops.reconcile import Reconciler

    return Reconciler(settings, warn=out.warn)


class LazyGroup(click.Group):
    """Commands that live in other modules are imported only when run (or asked for help).

    Keeps `hfops --help` and `hfops validate` from importing the emulator's HTTP server.
    """

    lazy: ClassVar[dict[str, tuple[str, str, str]]] = {
        "emulator": ("hfops.emulator.command", "emulator", "Run the local emulator of the API, the Hub and TGI."),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            import importlib

            module, attribute, _help = self.lazy[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy:
                rows.append((name, self.lazy[name][2]))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=60)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="hfops", prog_name="hfops")
def cli() -> None:
    """Declarative Hugging Face Inference Endpoints (TGI) for GenStudio.

    Describe endpoints in YAML manifests; `plan` shows what would change, `apply` makes it so and
    writes a GenStudio credential file for each endpoint.
    """


@cli.command()
@paths_argument
@namespace_option
@format_option
def validate(paths: Sequence[str], namespace: str | None, fmt: str) -> int:
    """Check manifests offline: schema and semantic rules, every error in one run."""
    from hfops.errors import ManifestError
    from hfops.manifest import load_manifests

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


def _adopt_option(fn: Any) -> Any:
    return click.option(
        "--adopt",
        multiple=True,
        metavar="NAMESPACE/NAME",
        help="Take over an existing endpoint hfops did not create (repeatable).",
    )(fn)


def _prune_options(fn: Any) -> Any:
    fn = click.option(
        "--allow-empty-prune",
        is_flag=True,
        help="With --prune: allow an empty manifest set (deletes every endpoint hfops manages in --namespace).",
    )(fn)
    return click.option(
        "--prune",
        is_flag=True,
        help="Also delete endpoints hfops manages, in the namespaces the manifests cover, "
        "that no manifest names any more.",
    )(fn)


@cli.command()
@paths_argument
@namespace_option
@format_option
@_adopt_option
@_prune_options
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
    adopt: Sequence[str],
    prune: bool,
    allow_empty_prune: bool,
    out_file: str | None,
    detailed_exitcode: bool,
) -> int:
    """Read the live state and show what apply would do; changes nothing."""
    from hfops.plan_file import PlanInputs, save_plan
    from hfops.render import render_plan

    out = Output(fmt=fmt)
    reconciler = _reconciler(out, _settings(namespace=namespace))
    _context, the_plan = reconciler.plan(paths, adopt=adopt, prune=prune, allow_empty_prune=allow_empty_prune)
    if out_file:
        inputs = PlanInputs(
            paths=tuple(paths),
            namespace=namespace,
            adopt=tuple(adopt),
            prune=prune,
            allow_empty_prune=allow_empty_prune,
        )
        save_plan(out_file, the_plan, inputs)
        out.info(f"Saved the plan to {out_file}; apply exactly it with: hfops apply {out_file}")
    if out.json_mode:
        out.document(the_plan.to_json())
    else:
        out.data(render_plan(the_plan, paths=paths))
    if the_plan.conflicts:
        return EXIT_ERROR
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationError(
            "refusing to apply without confirmation: no terminal to ask on",
            hint="pass --yes to apply non-interactively (e.g. in CI)",
        )
    if not click.confirm(question, default=False, err=True):
        raise HfopsError("cancelled; nothing was changed")


def _write_fd(fd: int, text: str) -> None:
    try:
        os.set_blocking(fd, False)
        os.write(fd, text.encode())
    except OSError:
        pass  # a full or closed pipe: the message is best effort, the exit is not


class _SignalGuard:
    """First SIGINT/SIGTERM: stop starting work, let in-flight calls finish. Second: exit now."""

    def __init__(self, out: Output) -> None:
        self.stop = threading.Event()
        self._out = out
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        # Written straight to the file descriptor: the output lock may be held by the very code
        # this handler interrupted (a write to a full pipe), and taking it would deadlock.
        if self.stop.is_set():
            from hfops.atomic import remove_in_flight

            remove_in_flight()
            _write_fd(2, "Second interrupt: exiting now. Run apply again to converge.\n")
            os._exit(EXIT_ERROR)
        self.stop.set()
        _write_fd(
            2,
            f"Received {signal.Signals(signum).name}: finishing calls in flight, starting nothing new "
            "(interrupt again to exit at once).\n",
        )

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.stop.is_set():
            return  # interrupted: keep handling signals until the process exits (a second one exits 1)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    live = outcome.live
    return {
        "address": outcome.address,
        "result": outcome.result,
        "ok": outcome.ok,
        "state": live.state if live else None,
        "url": live.url if live else None,
        "message": outcome.message,
        "step": outcome.step,
        "credential_file": outcome.credential_path,
    }


def _summarise(out: Output, outcomes: Sequence[Outcome], plan_doc: dict[str, Any] | None, *, retries: int = 0) -> int:
    failed = [o for o in outcomes if not o.ok]
    if out.json_mode:
        out.document(
            {
                "format_version": "1",
                "plan": plan_doc,
                "outcomes": [_outcome_json(o) for o in outcomes],
                "succeeded": sum(o.ok for o in outcomes),
                "failed": sum(o.result in ("failed", "timeout") for o in outcomes),
                "not_attempted": sum(o.result == "skipped" for o in outcomes),
            }
        )
    else:
        out.data("")
        for outcome in outcomes:
            line = f"{outcome.address}: {outcome.result}"
            if outcome.live and outcome.live.url and outcome.ok:
                line += f" ({outcome.live.state}, {outcome.live.url})"
            if outcome.message and not outcome.ok:
                line += f" — {outcome.message}"
            if outcome.credential_path:
                line += f"\n    credential: {outcome.credential_path}"
            out.data(line)
        ok = sum(o.ok for o in outcomes)
        bad = sum(o.result in ("failed", "timeout") for o in outcomes)
        skipped = sum(o.result == "skipped" for o in outcomes)
        out.data(f"\nApply complete: {ok} succeeded, {bad} failed, {skipped} not attempted.")
    return EXIT_ERROR if failed else EXIT_OK


def run_apply(
    out: Output,
    reconciler: Reconciler,
    paths: Sequence[str],
    *,
    yes: bool,
    adopt: Sequence[str],
    options: Any,
    stop: threading.Event | None = None,
    prune: bool = False,
    allow_empty_prune: bool = False,
) -> int:
    from hfops.apply import Executor, http_health_check
    from hfops.plan_file import check_not_stale, is_saved_plan, load_saved_plan
    from hfops.reconcile import secret_values
    from hfops.render import render_plan

    saved: dict[str, Any] | None = None
    if len(paths) == 1 and is_saved_plan(paths[0]):
        plan_path = paths[0]
        if adopt or prune or allow_empty_prune:
            raise UsageError("a saved plan already records --adopt/--prune; pass only the plan file")
        saved, inputs = load_saved_plan(plan_path)
        paths, adopt, prune, allow_empty_prune = (
            inputs.paths,
            inputs.adopt,
            inputs.prune,
            inputs.allow_empty_prune,
        )
        if inputs.namespace and reconciler.settings.namespace != inputs.namespace:
            raise UsageError(f"the saved plan was made with --namespace {inputs.namespace}; pass the same")
    context, the_plan = reconciler.plan(
        paths, adopt=adopt, prune=prune, allow_empty_prune=allow_empty_prune, for_apply=True
    )
    if saved is not None:
        check_not_stale(saved, the_plan, path=plan_path)
        yes = True  # the saved plan was the thing reviewed, as with `terraform apply PLANFILE`
    if out.json_mode:
        plan_doc = the_plan.to_json()
    else:
        plan_doc = None
        out.data(render_plan(the_plan, paths=paths))
    if the_plan.conflicts:
        raise HfopsError(
            f"{len(the_plan.conflicts)} endpoint(s) exist but are not managed by hfops; nothing was changed",
            hint="adopt them explicitly with --adopt NAMESPACE/NAME, or rename the manifests",
        )
    if options.wait:
        from pathlib import Path

        from hfops.atomic import remove_stale_temporaries
        from hfops.credentials import check_credential_targets

        try:
            check_credential_targets(reconciler.settings.credentials_dir, [d.spec for d in context.desired])
        except CredentialsError as error:
            raise CredentialsError(f"{error.message}; nothing was changed") from None
        for leftover in remove_stale_temporaries(Path(reconciler.settings.credentials_dir)):
            out.info(f"Removed {leftover}, left by an interrupted run")
    if the_plan.has_changes:
        _confirm("Apply these changes?", yes)

    from hfops.progress import Progress

    on_event = Progress(sys.stderr)

    def on_ready(desired: Any, live: Any) -> str | None:
        model = context.models.get((desired.spec.repository, desired.spec.revision or "main"))
        return reconciler.write_credential(desired.spec, live, model)

    executor = Executor(
        reconciler.endpoints,
        options=options,
        secrets_for=lambda d: secret_values(d.spec, reconciler.env),
        on_ready=on_ready,
        health_check=http_health_check(reconciler.settings.token),
        on_event=on_event,
        stop=stop,
    )
    outcomes = executor.run(the_plan)
    retries = reconciler.retry.stats.retries
    if retries:
        out.info(f"Retried {retries} transient API failure(s) (rate limits, server errors, dropped connections).")
    if stop is not None and stop.is_set():
        out.info(
            "Interrupted: endpoints already created or updated keep going on the service; run apply again to converge."
        )
    code = _summarise(out, outcomes, plan_doc, retries=retries)
    # An interrupted apply is not a successful one, even if everything in flight finished.
    return EXIT_ERROR if stop is not None and stop.is_set() else code


@cli.command()
@paths_argument
@namespace_option
@format_option
@credentials_option
@timeout_option
@parallelism_option
@_adopt_option
@_prune_options
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
    prune: bool,
    allow_empty_prune: bool,
    yes: bool,
    no_wait: bool,
) -> int:
    """Plan, confirm, create/update endpoints, wait until running, write credentials.

    PATHS are manifests, or a single plan file saved by `hfops plan --out FILE`.
    """
    from hfops.apply import ApplyOptions

    out = Output(fmt=fmt)
    settings = _settings(
        namespace=namespace,
        credentials_dir=credentials_dir,
        timeout=timeout,
        wait=not no_wait,
        parallelism=parallelism,
    )
    reconciler = _reconciler(out, settings)
    options = ApplyOptions(
        wait=not no_wait, timeout=timeout, poll_interval=settings.poll_interval, parallelism=parallelism
    )
    with _SignalGuard(out) as guard:
        return run_apply(
            out,
            reconciler,
            paths,
            yes=yes,
            adopt=adopt,
            options=options,
            stop=guard.stop,
            prune=prune,
            allow_empty_prune=allow_empty_prune,
        )


@cli.command()
@paths_argument
@namespace_option
@format_option
@credentials_option
def credentials(paths: Sequence[str], namespace: str | None, fmt: str, credentials_dir: str) -> int:
    """Write credential files for endpoints that exist; changes nothing remote."""
    out = Output(fmt=fmt)
    reconciler = _reconciler(out, _settings(namespace=namespace, credentials_dir=credentials_dir))
    context = reconciler.context(paths, check_env=False)
    from hfops.credentials import check_credential_targets

    check_credential_targets(credentials_dir, context.specs)
    results: list[dict[str, Any]] = []
    failed = 0
    for spec in context.specs:
        live = context.live.get(spec.address)
        model = context.models.get((spec.repository, spec.revision or "main"))
        try:
            if live is None:
                raise HfopsError(f"{spec.address}: does not exist; run hfops apply first")
            path = reconciler.write_credential(spec, live, model)
            results.append({"address": spec.address, "ok": True, "file": path})
            out.data(f"{spec.address}: wrote {path}")
        except HfopsError as error:
            failed += 1
            results.append({"address": spec.address, "ok": False, "error": error.message})
            out.error(error.message)
    if out.json_mode:
        out.document({"format_version": "1", "credentials": results})
    return EXIT_ERROR if failed else EXIT_OK


@cli.command()
@paths_argument
@namespace_option
@format_option
def status(paths: Sequence[str], namespace: str | None, fmt: str) -> int:
    """One line per endpoint: name, state, url, replicas (ready/target)."""
    out = Output(fmt=fmt)
    reconciler = _reconciler(out, _settings(namespace=namespace))
    _manifests, specs = reconciler.load(paths)
    live = reconciler.read_live(sorted({s.namespace for s in specs if s.namespace}))
    rows: list[dict[str, Any]] = []
    for spec in specs:
        endpoint = live.get(spec.address)
        rows.append(
            {
                "address": spec.address,
                "name": spec.name,
                "namespace": spec.namespace,
                "state": endpoint.state if endpoint else "absent",
                "url": endpoint.url if endpoint else None,
                "ready_replicas": endpoint.ready_replica if endpoint else 0,
                "target_replicas": endpoint.target_replica if endpoint else 0,
                "managed": endpoint.owned if endpoint else None,
            }
        )
    if out.json_mode:
        out.document({"format_version": "1", "endpoints": rows})
    else:
        width = max((len(str(r["address"])) for r in rows), default=10)
        for r in rows:
            replicas = f"{r['ready_replicas']}/{r['target_replicas']}"
            out.data(f"{str(r['address']).ljust(width)}  {r['state']!s:<13} {r['url'] or '-'}  replicas {replicas}")
    return EXIT_OK


@cli.command()
@paths_argument
@namespace_option
@format_option
@credentials_option
@click.option(
    "--scale-up-timeout",
    type=click.IntRange(min=0),
    default=600,
    show_default=True,
    help="Seconds a scaled-to-zero endpoint may take to wake (sent as X-Scale-Up-Timeout).",
)
def verify(paths: Sequence[str], namespace: str | None, fmt: str, credentials_dir: str, scale_up_timeout: int) -> int:
    """Call each endpoint the way GenStudio will, with its credential; report ok or why not."""
    from hfops.verify import verify_endpoint

    out = Output(fmt=fmt)
    settings = _settings(namespace=namespace, credentials_dir=credentials_dir)
    reconciler = _reconciler(out, settings)
    _manifests, specs = reconciler.load(paths)
    live = reconciler.read_live(sorted({s.namespace for s in specs if s.namespace}))
    results = [
        verify_endpoint(
            spec, live.get(spec.address), credentials_dir=credentials_dir, scale_up_timeout=scale_up_timeout
        )
        for spec in specs
    ]
    if out.json_mode:
        out.document({"format_version": "1", "results": [r.to_json() for r in results]})
    else:
        for result in results:
            out.data(f"{result.address}: {'ok' if result.ok else 'FAILED'} — {result.detail}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_ERROR


@cli.command()
@paths_argument
@namespace_option
@format_option
@credentials_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def destroy(paths: Sequence[str], namespace: str | None, fmt: str, credentials_dir: str, yes: bool) -> int:
    """Delete the endpoints the manifests name (only those hfops manages)."""
    from hfops.credentials import credential_path
    from hfops.plan import destroy_plan

    out = Output(fmt=fmt)
    reconciler = _reconciler(out, _settings(namespace=namespace, credentials_dir=credentials_dir))
    _manifests, specs = reconciler.load(paths)
    live = reconciler.read_live(sorted({s.namespace for s in specs if s.namespace}))
    deletes, notes = destroy_plan([s.address for s in specs], live)
    for note in notes:
        out.info(note)
    for delete in deletes:
        out.data(f"  - {delete.address} will be destroyed")
    if not deletes:
        out.data("No changes. Nothing to destroy.")
        if out.json_mode:
            out.document({"format_version": "1", "deleted": [], "notes": notes})
        return EXIT_OK
    out.data(f"Plan: 0 to add, 0 to change, {len(deletes)} to destroy.")
    _confirm("Destroy these endpoints?", yes)
    deleted = []
    by_address = {s.address: s for s in specs}
    for delete in deletes:
        reconciler.endpoints.delete(delete.live.namespace, delete.live.name)
        deleted.append(delete.address)
        path = credential_path(credentials_dir, by_address[delete.address])
        if path.is_file() and not path.is_symlink():
            path.unlink()
        out.info(f"{delete.address}: deleted")
    if out.json_mode:
        out.document({"format_version": "1", "deleted": deleted, "notes": notes})
    else:
        out.data(f"Destroy complete: {len(deleted)} destroyed.")
    return EXIT_OK


@cli.command("import")
@click.argument("addresses", nargs=-1, required=True, metavar="NAMESPACE/NAME...")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write the manifests to FILE.")
@click.option("--no-adopt", is_flag=True, help="Only print manifests; do not tag the endpoints as managed by hfops.")
def import_(addresses: Sequence[str], out_file: str | None, no_adopt: bool) -> int:
    """Print manifests for existing endpoints, and adopt them (tag them as managed by hfops).

    Adoption is the explicit act that lets hfops manage (and, with --prune, delete) an endpoint
    it did not create; it only adds tags, nothing else changes. Right after, `hfops plan` on the
    printed manifests says No changes.
    """
    from pathlib import Path

    from hfops.atomic import atomic_write

    out = Output()
    reconciler = _reconciler(out, _settings())
    text, adopted = reconciler.import_endpoints(addresses, adopt=not no_adopt)
    for address in adopted:
        out.info(f"{address}: adopted (tagged as managed by hfops; nothing else changed)")
    if out_file:
        atomic_write(Path(out_file), text.encode(), mode=0o644)
        out.info(f"Wrote {len(addresses)} manifest(s) to {out_file}")
    else:
        out.data(text.rstrip("\n"))
    return EXIT_OK


@cli.command()
@click.option(
    "--examples",
    "examples_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Manifests to deploy (default: the shipped examples/).",
)
@click.option(
    "--credentials-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where to write the credentials (default: a new temporary directory).",
)
def demo(examples_dir: str | None, credentials_dir: str | None) -> int:
    """The whole flow on a built-in emulator and the shipped examples; no account, no network."""
    from hfops.demo import run_demo

    return run_demo(Output(), examples_dir=examples_dir, credentials_dir=credentials_dir)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: maps every error to one line on stderr and exit code 1."""
    out = Output()
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="hfops", standalone_mode=False)
    except click.exceptions.Abort:
        out.error("aborted")
        code = EXIT_ERROR
    except click.ClickException as error:
        error.show()
        code = EXIT_ERROR
    except HfopsError as error:
        out.error(error.message, error.hint)
        if os.environ.get("HFOPS_DEBUG"):
            import traceback

            out.info(traceback.format_exc())
        code = error.exit_code
    except KeyboardInterrupt:
        out.error("interrupted")
        code = EXIT_ERROR
    except Exception as error:  # a bug: say so plainly, never with secrets, and exit 1
        if os.environ.get("HFOPS_DEBUG"):
            import traceback

            out.info(traceback.format_exc())
        out.error(f"unexpected {type(error).__name__}: {error}", "set HFOPS_DEBUG=1 for a traceback")
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)


__all__ = ["UsageError", "cli", "main"]
