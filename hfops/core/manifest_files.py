"""Finding and reading manifest files: PATHs -> files -> their text, each problem located.

Apart from parsing (`manifest.py`) and light to import (no YAML, no schema): a plan reads the
files before it forks the process that parses them (`adapters/manifest_workers.py`), and the
sooner that fork, the sooner parsing starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hfops.core.errors import Diagnostic, Location

MANIFEST_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 1024 * 1024


def discover_files(paths: Sequence[str], *, allow_empty: bool) -> tuple[list[str], set[str], list[Diagnostic]]:
    """Expand PATH arguments: a file as is, a directory as every *.yaml/*.yml below it, sorted.

    Returns the files, those of them found by a directory scan (not named), and the problems.
    """
    scanned: set[str] = set()
    files: list[str] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.suffix in MANIFEST_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found and not allow_empty:
                problems.append(Diagnostic(Location(raw, 0), "no *.yaml or *.yml manifests in this directory"))
            files.extend(found)
            scanned.update(found)
        elif path.is_file():
            files.append(str(path))
        elif path.exists():
            problems.append(Diagnostic(Location(raw, 0), "not a regular file or directory"))
        else:
            problems.append(Diagnostic(Location(raw, 0), "no such file or directory"))
    unique: list[str] = []
    for f in files:
        if f not in unique:
            unique.append(f)
    explicit = {str(Path(raw)) for raw in paths}
    return unique, scanned - explicit, problems


def read_manifest_text(file: str) -> tuple[str | None, Diagnostic | None]:
    try:
        size = os.path.getsize(file)
        if size > MAX_FILE_BYTES:
            return None, Diagnostic(
                Location(file, 0), f"file is {size} bytes; manifests are limited to {MAX_FILE_BYTES} bytes"
            )
        with open(file, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return None, Diagnostic(Location(file, 0), f"cannot read: {error.strerror or error}")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        return None, Diagnostic(Location(file, 0), f"not UTF-8 text (byte {error.start})")


@dataclass(frozen=True)
class ManifestTexts:
    """The files under a set of PATHs and their text, before any of it is parsed."""

    paths: tuple[str, ...]
    files: tuple[str, ...]
    scanned: frozenset[str]  # found by a directory scan, not named
    texts: dict[str, str]  # of the files that could be read, in file order
    problems: tuple[Diagnostic, ...]  # the PATHs and files that could not be read


def read_manifest_files(paths: Sequence[str], *, allow_empty: bool) -> ManifestTexts:
    files, scanned, problems = discover_files(paths, allow_empty=allow_empty)
    texts: dict[str, str] = {}
    for file in files:
        text, problem = read_manifest_text(file)
        if problem is not None or text is None:
            problems.append(problem or Diagnostic(Location(file, 0), "cannot read"))
        else:
            texts[file] = text
    return ManifestTexts(tuple(paths), tuple(files), frozenset(scanned), texts, tuple(problems))
