"""Start-up: `--version` answers from hfops' own `__version__` (no package-metadata scan), which must
be the installed distribution's version."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path


def test_version_is_the_installed_distributions() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from hfops.cli import main; main(['--version'])"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"hfops, version {version('hfops')}"


def test_version_imports_no_metadata_machinery() -> None:
    code = (
        "import sys\nfrom hfops.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print('importlib.metadata' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stderr.strip().splitlines()[-1] == "False"


def test_the_console_scripts_version_is_clicks_without_importing_click() -> None:
    """`hfops --version` is answered before click is imported; the same bytes as click's option."""
    script = str(Path(sys.executable).with_name("hfops"))
    fast = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    through_click = subprocess.run(
        [sys.executable, "-c", "from hfops.cli import main; main(['--version'])"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fast.returncode == through_click.returncode == 0, fast.stderr + through_click.stderr
    assert fast.stdout == through_click.stdout == f"hfops, version {version('hfops')}\n"
    code = "import sys; sys.argv = ['hfops', '--version']; import hfops; hfops.main(); print(sorted(sys.modules))"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert imported.returncode == 0, imported.stderr
    modules = imported.stdout.splitlines()[-1]
    assert "'click'" not in modules and "'hfops.cli'" not in modules


def _version_runs(stdout: object, *, close_stdout: bool = False) -> list[tuple[int, str]]:
    """`hfops --version` by the console script and through click, with `stdout` as their stdout
    (or none at all: descriptor 1 closed before the program starts)."""
    import os

    script = str(Path(sys.executable).with_name("hfops"))
    through_click = [sys.executable, "-c", "from hfops.cli import main; main()", "--version"]
    results = []
    for argv in ([script, "--version"], through_click):
        run = subprocess.run(  # type: ignore[call-overload]
            argv,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            preexec_fn=(lambda: os.close(1)) if close_stdout else None,
        )
        results.append((run.returncode, run.stderr))
    return results


def test_version_to_a_closed_stdout_a_closed_pipe_or_a_full_disk_ends_as_clicks_does() -> None:
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: a write is EPIPE
    try:
        results = {"closed pipe": _version_runs(write_end), "no stdout": _version_runs(None, close_stdout=True)}
    finally:
        os.close(write_end)
    with open("/dev/full", "w") as full:  # a disk with no space left
        results["full disk"] = _version_runs(full)
    for name, (fast, through_click) in results.items():
        assert fast == through_click, name
        assert "Traceback" not in fast[1] and "Exception ignored" not in fast[1], name
    assert results["full disk"][0][0] == 1 and "No space left on device" in results["full disk"][0][1]
