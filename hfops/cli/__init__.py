"""The `hfops` command line: parse, call one workflow, render, map errors to exit codes.

Thin by design: no planning or API logic lives here; one module per command group. Heavy modules
(huggingface_hub) are imported inside the commands that need them, so `hfops --help` and
`hfops validate` start fast. Exit codes: 0 success, 1 any error (usage errors included), 2 only
`plan --detailed-exitcode` with changes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import ClassVar

import click

from hfops.adapters.output import Output
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


for _command in (validate, plan, apply, credentials, status, verify, destroy, import_, demo):
    cli.add_command(_command)


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
