"""`python -m hfops.emulator`: the `emulator` command standalone (usage errors exit 1, like hfops)."""

from __future__ import annotations

import sys

import click

from .command import emulator


def main() -> int:
    try:
        result = emulator.main(args=sys.argv[1:], prog_name="python -m hfops.emulator", standalone_mode=False)
    except click.exceptions.Abort:
        return 1
    except click.ClickException as exc:
        exc.show()
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
