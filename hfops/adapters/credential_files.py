"""GenStudio credential files: build the four-key JSON and write it atomically with mode 0600.

`credential_for` is pure (the precedence of contract §3 for `context_window`); `write_credential`
is the only writer. Files are written to a temporary file in the same directory (0600 from the
start, never through a symlink), fsynced, then renamed over the target, so a reader sees either
the old file or the new one, never half of one. The directory is created 0700.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hfops.adapters.atomic import atomic_write
from hfops.core.errors import CredentialsError
from hfops.core.manifest import credential_file_problem
from hfops.core.model import Credential, EndpointSpec


@dataclass(frozen=True)
class ContextWindow:
    value: int
    source: str  # "manifest", "endpoint /info", "image.maxTotalTokens", "model config"


def choose_context_window(spec: EndpointSpec, *, served: int | None, model_context: int | None) -> ContextWindow:
    """Contract §3 precedence; a declared window above what the endpoint serves is an error."""
    declared = spec.genstudio.context_window
    limit = served or spec.image.max_total_tokens or model_context
    if declared is not None:
        if limit is not None and declared > limit:
            what = (
                "the endpoint serves"
                if served
                else ("image.maxTotalTokens allows" if spec.image.max_total_tokens else "the model's context is")
            )
            raise CredentialsError(
                f"{spec.address}: genstudio.contextWindow {declared} is larger than what {what} ({limit})"
            )
        return ContextWindow(declared, "manifest")
    if served is not None:
        return ContextWindow(served, "endpoint /info")
    if spec.image.max_total_tokens is not None:
        return ContextWindow(spec.image.max_total_tokens, "image.maxTotalTokens")
    if model_context is not None:
        return ContextWindow(model_context, "model config")
    raise CredentialsError(
        f"{spec.address}: cannot tell the context window (no /info answer, no image.maxTotalTokens, "
        "no max_position_embeddings in the model config)",
        hint="set spec.genstudio.contextWindow",
    )


def credential_path(credentials_dir: str, spec: EndpointSpec) -> Path:
    relative = spec.genstudio.file or f"{spec.name}.json"
    problem = credential_file_problem(relative)
    if problem:
        raise CredentialsError(f"{spec.address}: genstudio.file: {problem}")
    return Path(credentials_dir) / relative


def check_credential_targets(credentials_dir: str, specs: Sequence[EndpointSpec]) -> None:
    """Refuse, before anything is created, credential paths that could not be written safely.

    The directory (or a parent of it) being a file, a symlink at the directory, at a
    sub-directory or at a credential file: each would make apply fail after the endpoints were
    made, or write a key somewhere else.
    """
    root = Path(credentials_dir)
    problems: list[str] = []
    probe = root
    while True:
        if probe.is_symlink():
            problems.append(f"credentials directory {probe} is a symlink; refusing to write through it")
            break
        if probe.exists() and not probe.is_dir():
            problems.append(f"credentials directory {root}: {probe} is not a directory")
            break
        if probe.parent == probe or probe.exists():
            break
        probe = probe.parent
    if not problems:
        for spec in specs:
            target = credential_path(credentials_dir, spec)
            current = root
            for part in target.relative_to(root).parts[:-1]:
                current = current / part
                if current.is_symlink():
                    problems.append(f"{spec.address}: {current} is a symlink; refusing to write through it")
                    break
                if current.exists() and not current.is_dir():
                    problems.append(f"{spec.address}: {current} is not a directory")
                    break
            else:
                if target.is_symlink():
                    problems.append(f"{spec.address}: {target} is a symlink; refusing to write a credential through it")
                elif target.exists() and not stat.S_ISREG(target.lstat().st_mode):
                    problems.append(f"{spec.address}: {target} exists and is not a regular file")
    if problems:
        raise CredentialsError("; ".join(problems))


def _make_private_dirs(directory: Path, root: Path) -> None:
    """Create `root` and `directory` below it, 0700; an existing root is made private too."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if root.stat().st_mode & 0o077:
        root.chmod(0o700)  # it holds keys: only its owner may list or read it
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_credential(credentials_dir: str, spec: EndpointSpec, credential: Credential) -> Path:
    """Write one credential file atomically, mode 0600; returns its path.

    The same checks as the preflight run again here: the directory may have changed since.
    """
    check_credential_targets(credentials_dir, [spec])
    target = credential_path(credentials_dir, spec)
    _make_private_dirs(target.parent, Path(credentials_dir))
    data = (json.dumps(credential.to_json_dict(), indent=2) + "\n").encode()
    atomic_write(target, data, mode=0o600)
    return target
