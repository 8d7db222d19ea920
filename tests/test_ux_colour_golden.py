"""Coloured plans, compared with golden files: the plain golden plans as a terminal receives them.

Colour is added at the output layer (Output.plan), never by core/render.py, so the golden is a
rendered plan (tests/golden/plan_colour.input.txt, a copy of what render_plan printed for every
kind of action) written through Output to a terminal: tests/golden/plan_colour.txt. ESC shows as
`␛` there so that it reviews as text. HFOPS_UPDATE_GOLDEN=1 rewrites it.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from hfops.adapters.output import Output

GOLDEN = Path(__file__).parent / "golden"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_plan_on_a_terminal_is_coloured_by_symbol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    plain = (GOLDEN / "plan_colour.input.txt").read_text(encoding="utf-8").removesuffix("\n")
    screen = Terminal()
    Output(stdout=screen).plan(plain)
    shown = screen.getvalue().replace("\x1b", "␛")
    path = GOLDEN / "plan_colour.txt"
    if os.environ.get("HFOPS_UPDATE_GOLDEN"):
        path.write_text(shown, encoding="utf-8")
    assert shown == path.read_text(encoding="utf-8")
    # Without the colour codes it is exactly the plain golden plan.
    assert re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue()) == plain + "\n"


def test_no_colour_with_no_color_set_or_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = (GOLDEN / "plan_colour.input.txt").read_text(encoding="utf-8")
    monkeypatch.setenv("NO_COLOR", "1")
    screen = Terminal()
    Output(stdout=screen).plan(plain.removesuffix("\n"))
    assert screen.getvalue() == plain
    monkeypatch.delenv("NO_COLOR")
    pipe = io.StringIO()
    Output(stdout=pipe).plan(plain.removesuffix("\n"))
    assert pipe.getvalue() == plain
