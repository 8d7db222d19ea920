"""The credentials directory as a whole: created private with a `.gitignore`, warned about when Git
would track it, cleared of temporaries a killed run left.

An existing directory is never changed (mode, contents): hfops only creates what is missing.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterable
from pathlib import Path

from hfops.adapters.atomic import remove_stale_temporaries
from hfops.adapters.sinks.ledger import make_private_directory
from hfops.core.errors import CredentialsError

_GIT_TIMEOUT = 5.0


def _reason(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


def prepare_root(root: str, names: Iterable[str] = ()) -> list[str]:
    """Create the credentials directory if missing (0700, `.gitignore` of `*`); returns warnings.

    An existing directory is left exactly as it is. Warns when the directory is inside a Git work
    tree and Git would track credential files there (`names`: the relative output paths; by
    default a probe name). Git missing or slow: no warning.
    """
    path = Path(root)
    warnings: list[str] = []
    try:
        created = make_private_directory(path)
    except OSError as error:
        raise CredentialsError(f"cannot create credentials directory {path}: {_reason(error)}") from None
    if not created:
        try:
            bits = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            bits = 0
        if bits & 0o077:  # the files are 0600 anyway; their names (endpoints) are visible
            warnings.append(
                f"credentials directory {path} can be read by others (mode {bits:o}); hfops leaves its mode "
                f"as it is (chmod 700 {shlex.quote(str(path))} to make it private)"
            )
    return warnings + _git_warnings(path, names)


def _git_warnings(path: Path, names: Iterable[str]) -> list[str]:
    git = shutil.which("git")
    if git is None:
        return []
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        top = subprocess.run(
            [git, "-C", str(path), "rev-parse", "--show-toplevel"],
            capture_output=True,
            env=env,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
        if top.returncode != 0:
            return []
        tracked = []
        for name in list(names) or ["hfops-credential.json"]:
            answer = subprocess.run(
                [git, "-C", str(path), "check-ignore", "-q", "--", posixpath.normpath(name)],
                capture_output=True,
                env=env,
                timeout=_GIT_TIMEOUT,
                check=False,
            )
            if answer.returncode == 1:  # 0: ignored; 128: git could not tell
                tracked.append(name)
    except (OSError, subprocess.SubprocessError):
        return []
    if not tracked:
        return []
    which = ", ".join(str(path / n) for n in tracked[:3]) + (" ..." if len(tracked) > 3 else "")
    return [
        f"credentials directory {path} is inside the Git work tree {top.stdout.decode(errors='replace').strip()} "
        f"and Git would track the credential files ({which}); add them to .gitignore or use a directory "
        "outside the repository"
    ]


def remove_own_temporaries(root: Path | str) -> list[Path]:
    """Remove hfops' own temporary files (`.hfops-tmp-XXXXXXXX.NAME`) a killed run left below `root`."""
    return remove_stale_temporaries(Path(root))
