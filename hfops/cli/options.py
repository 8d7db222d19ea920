"""Options shared by the commands, and the wiring from flags to settings and the reconciler."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from hfops.adapters.output import Output
from hfops.core.errors import ConfirmationError, HfopsError

if TYPE_CHECKING:
    from hfops.adapters.settings import Settings
    from hfops.workflows.early_reads import EarlyReads
    from hfops.workflows.reconcile import Reconciler

FORMATS = click.Choice(["text", "json"])


def options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
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
class Seconds(click.ParamType[float, Any]):
    """A finite number of seconds, at least 0: `nan` and `inf` are usage errors, not a wait limit."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a finite number of seconds, 0 or more", param, ctx)
        return seconds


timeout_option = click.option(
    "--timeout",
    type=Seconds(),
    default=1800,
    show_default=True,
    help="Seconds to wait for endpoints to be running.",
)
parallelism_option = click.option(
    "--parallelism",
    type=click.IntRange(min=1, max=64),
    default=32,
    show_default=True,
    help="Requests to the endpoints API in flight at once.",
)


owner_option = click.option(
    "--owner",
    metavar="ID",
    help="The manifest set's owner identity (else HFOPS_OWNER, else 'default'); recorded on the "
    "endpoints and credential outputs hfops creates; prune and destroy touch only the same owner's.",
)


def adopt_option(fn: Any) -> Any:
    return click.option(
        "--adopt",
        multiple=True,
        metavar="NAMESPACE/NAME",
        help="Take over an existing endpoint hfops did not create (repeatable).",
    )(fn)


def replace_option(fn: Any) -> Any:
    return click.option(
        "--replace",
        "replace_addresses",
        multiple=True,
        metavar="NAMESPACE/NAME",
        help="Re-create this endpoint (delete, then create: a new URL) even if it could be updated in place; "
        "for changes the service will not take in place (repeatable).",
    )(fn)


def prune_options(fn: Any) -> Any:
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


def settings(**overrides: Any) -> Settings:
    from hfops.adapters.settings import settings_from_env

    return settings_from_env(**overrides)


def reconciler(out: Output, run_settings: Settings, early: EarlyReads | None = None) -> Reconciler:
    from hfops.workflows.reconcile import Reconciler

    return Reconciler(run_settings, warn=out.warn, early=early)


def confirm(question: str) -> None:
    """Ask on the terminal; refuse without one (pipelines pass --yes)."""
    if not sys.stdin.isatty():
        raise ConfirmationError(
            "refusing to apply without confirmation: no terminal to ask on",
            hint="pass --yes to apply non-interactively (e.g. in CI)",
        )
    if not click.confirm(question, default=False, err=True):
        raise HfopsError("cancelled; nothing was changed")


def confirm_typed(question: str, *, doing: str) -> None:
    """Ask for a typed `yes` before deleting, as `terraform destroy` does; refuse without a terminal.

    A deletion cannot be undone (the endpoint, its URL and its credentials are gone), so a stray
    Enter or `y` is not enough: only the word `yes` goes ahead.
    """
    if not sys.stdin.isatty():
        raise ConfirmationError(
            f"refusing to {doing} without confirmation: no terminal to ask on",
            hint=f"pass --yes to {doing} non-interactively (e.g. in CI)",
        )
    click.echo(f"\n{question}\n  hfops will {doing} as shown above. Only 'yes' will be accepted to confirm.", err=True)
    answer = click.prompt("\n  Enter a value", default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise HfopsError("cancelled; nothing was changed")


def _no_colour(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from hfops.adapters.output import disable_colour

        disable_colour()


# No parameter reaches the command: the flag only turns colour off for the run (NO_COLOR does too).
no_color_option = click.option(
    "--no-color",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_no_colour,
    help="No colours in the output (also: NO_COLOR set, or not a terminal).",
)
