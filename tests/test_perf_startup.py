"""Start-up: `--version` answers from hfops' own `__version__` (no package-metadata scan), which must
be the installed distribution's version."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version


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
