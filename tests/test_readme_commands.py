"""The README's two commands are what CI and a new user run: `.ci/run` runs exactly the test command,
and the demo command's last step is the one `test_demo_runs_the_whole_flow_offline` runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    section = ROOT.joinpath("README.md").read_text().split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    demo, tests = readme_commands()
    ci_lines = [line for line in ROOT.joinpath(".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == tests
    assert tests.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && ")
    assert demo == "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/hfops demo"
