"""The `hfops` command line: parse, call one workflow, render, map errors to exit codes.

Thin by design: no planning or API logic lives here; one module per command group. Heavy modules
(huggingface_hub) are imported inside the commands that need them, so `hfops --help` and
`hfops validate` start fast. Exit codes: 0 success, 1 any error (usage errors included), 2 only
`plan --detailed-exitcode` with changes.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Sequence
from typing import ClassVar

import click

from hfops import __version__
from hfops.adapters.output import Output
from hfops.cli import options as o
from hfops.cli.inspect import credentials, status, verify
from hfops.cli.manage import demo, destroy, import_
from hfops.cli.plan_apply import apply, plan, validate
from hfops.core.errors import EXIT_ERROR, EXIT_OK, HfopsError, UsageError


class LazyGroup(click.Group):
    """Commands that live in other modules are imported only when run (or asked for help).

    Keeps `hfops --help` and `hfops validate` from importing the emulator's HTTP server.
    """

    lazy: ClassVar[dict[str, tuple[str, str, str]]] = {
        "emulator": ("hfops.emulator.command", "emulator", "Run the local emulator of the API, the Hub and TGI."),
        "operator": ("hfops.operator.command", "operator", "Run the Kubernetes operator (hfops.dev/v1 Endpoint)."),
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
@click.version_option(version=__version__, prog_name="hfops")  # no metadata lookup: as fast as --help
@o.no_color_option
def cli() -> None:
    """Declarative Hugging Face Inference Endpoints (TGI) for GenStudio.

    Describe endpoints in YAML manifests; `plan` shows what would change, `apply` makes it so and
    writes a GenStudio credential file for each endpoint.
    """


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> int:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    \b
    bash:  eval "$(hfops completion bash)"    (e.g. in ~/.bashrc)
    zsh:   eval "$(hfops completion zsh)"     (e.g. in ~/.zshrc)
    fish:  hfops completion fish > ~/.config/fish/completions/hfops.fish
    """
    from click.shell_completion import get_completion_class

    # click's own completion: the script calls hfops back with _HFOPS_COMPLETE set, so commands,
    # options and their choices always match the installed hfops.
    complete = get_completion_class(shell)
    if complete is None:  # pragma: no cover - the choice above names only shells click supports
        raise UsageError(f"no completion for {shell}")
    click.echo(complete(cli, {}, "hfops", "_HFOPS_COMPLETE").source())
    return EXIT_OK


for _command in (validate, plan, apply, credentials, status, verify, destroy, import_, demo, completion):
    cli.add_command(_command)


def json_command(args: Sequence[str]) -> str | None:
    """The command's name when this invocation asks for `--format json`, else None.

    Parsed leniently (the arguments may be what made the command fail), with a plain scan as a
    fallback for when parsing stops early at an unknown option.
    """
    try:
        ctx = click.Context(cli, resilient_parsing=True)
        name, command, rest = cli.resolve_command(ctx, list(args))
    except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
        return None
    if name is None or command is None or not any(p.name == "fmt" for p in command.params):
        return None
    try:
        with command.make_context(name, list(rest), parent=ctx, resilient_parsing=True) as sub:
            if sub.params.get("fmt") == "json":
                return name
    except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
        pass
    pairs = itertools.pairwise([*args, ""])
    return name if any(a == "--format=json" or (a == "--format" and b == "json") for a, b in pairs) else None


SWITCH_INTERVAL_SECONDS = 0.0005


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: maps every error to one line on stderr and exit code 1.

    With `--format json`, a failure also prints one JSON error document on stdout (unless the
    command printed its own document already), so stdout always holds exactly one.
    """
    from hfops.adapters.output import documents_written, error_document, error_entries, reset_documents

    args = list(argv) if argv is not None else sys.argv[1:]
    if argv is None:
        from hfops.core.gc_pause import command_ends_process

        command_ends_process()
        # hfops' threads mostly wait on the network; one whose answer came waited up to the 5 ms
        # default for the GIL, and a wave of requests went out 4 ms apart (a quarter of the
        # network phase of a plan). Only in the console process: the setting is process-wide.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    reset_documents()
    out = Output()
    failure: BaseException | None = None
    kind: str | None = None
    try:
        code = cli.main(args=args, prog_name="hfops", standalone_mode=False)
    except click.exceptions.Abort as error:
        out.error("aborted")
        code, failure, kind = EXIT_ERROR, error, "interrupted"
    except click.ClickException as error:
        error.show()
        code, failure, kind = EXIT_ERROR, error, "usage"
    except HfopsError as error:
        out.error(error.message, error.hint)
        if os.environ.get("HFOPS_DEBUG"):
            import traceback

            out.info(traceback.format_exc())
        code, failure = error.exit_code, error
    except KeyboardInterrupt as error:
        out.error("interrupted")
        code, failure, kind = EXIT_ERROR, error, "interrupted"
    except Exception as error:  # a bug: say so plainly, never with secrets, and exit 1
        if os.environ.get("HFOPS_DEBUG"):
            import traceback

            out.info(traceback.format_exc())
        out.error(f"unexpected {type(error).__name__}: {error}", "set HFOPS_DEBUG=1 for a traceback")
        code, failure, kind = EXIT_ERROR, error, "internal"
    if failure is not None and not documents_written():
        command = json_command(args)
        if command is not None:
            entries = error_entries(failure, kind=kind)
            if isinstance(failure, click.ClickException):
                entries[0]["message"] = failure.format_message()
            elif isinstance(failure, (KeyboardInterrupt, click.exceptions.Abort)):
                entries[0]["message"] = "interrupted"
            elif kind == "internal":
                entries[0]["message"] = f"unexpected {type(failure).__name__}: {failure}"
            Output(fmt="json").document(error_document(command, entries, exit_code=code))
    code = code if isinstance(code, int) else EXIT_OK
    if argv is None:
        from hfops.core.gc_pause import teardown_skippable

        if teardown_skippable() and _flushed():
            os._exit(code)
    sys.exit(code)


def _flushed() -> bool:
    """Flush stdout and stderr; False if that failed (the usual exit then reports it)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return False
    return True


__all__ = ["UsageError", "cli", "main"]
