"""Reading manifests: paths -> files -> YAML documents -> specs, with every problem located.

`load_manifests(paths)` is the only function of the core that touches the file system. Every
problem found in the whole file set is collected (file, line, field, message, hint) and raised
together as one `ManifestError`, so a user fixes a broken file in one round trip. Turning
documents into specs (Defaults merge, schema) is `spec_builder`; the rules the schema cannot
express are `spec_checks`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hfops.core.errors import Diagnostic, Location, ManifestError
from hfops.core.gc_pause import paused_gc
from hfops.core.manifest_files import (
    MANIFEST_SUFFIXES,
    ManifestTexts,
    read_manifest_files,
    read_manifest_text,
)
from hfops.core.model import EndpointSpec
from hfops.core.schema import dotted
from hfops.core.spec_builder import (
    DEFAULTS_KIND,
    KINDS,
    PLACEHOLDER_WORD,
    SourceDocument,
    build_endpoint_specs,
    build_specs,
    classify_documents,
)
from hfops.core.spec_checks import check_fleet
from hfops.core.yaml_source import parse_yaml_documents

# Lines every spec needs (its `source`, where its name is written); others are found on demand.
WATCHED_PATHS: frozenset[tuple[str | int, ...]] = frozenset({("metadata", "name")})
# Mappings whose values are strings however YAML reads them (`1.10` stays "1.10"): environment.
VERBATIM_MAPPINGS: frozenset[tuple[str | int, ...]] = frozenset({("spec", "env")})


@dataclass(frozen=True)
class ManifestSet:
    """The endpoints declared by a set of manifest paths, in file order."""

    specs: tuple[EndpointSpec, ...]
    files: tuple[str, ...]
    # YAML files found in a directory that are not hfops manifests (a CI workflow beside them).
    skipped: tuple[str, ...] = ()

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(sorted({s.namespace for s in self.specs if s.namespace}))


def _is_hfops_document(source: SourceDocument) -> bool:
    data = source.document.data
    if not isinstance(data, dict):
        return False
    api = data.get("apiVersion")
    return (isinstance(api, str) and api.startswith("hfops/")) or data.get("kind") in KINDS


def load_manifests(
    paths: Sequence[str], *, default_namespace: str | None = None, allow_empty: bool = False
) -> ManifestSet:
    """Load, validate and convert every manifest under `paths`; raise ManifestError listing all problems.

    A directory without manifests is an error unless `allow_empty` (pruning decides for itself).
    `kind: Defaults` documents anywhere in the set apply to the endpoints of the same set.
    The garbage collector is paused for the whole load, not per file (`gc_pause`): with it running
    between files, each new file's nodes made it walk every value the files before had left.
    """
    with paused_gc():
        return _load_manifests(paths, default_namespace=default_namespace, allow_empty=allow_empty)


def _load_manifests(paths: Sequence[str], *, default_namespace: str | None, allow_empty: bool) -> ManifestSet:
    texts = read_manifest_files(paths, allow_empty=allow_empty)
    parsed = {file: read_documents(text, file=file) for file, text in texts.texts.items()}
    return assemble_manifests(texts, parsed, default_namespace=default_namespace, allow_empty=allow_empty)


ParsedFile = tuple[list["SourceDocument"], list[Diagnostic]]


def assemble_manifests(
    texts: ManifestTexts,
    parsed: Mapping[str, ParsedFile],
    *,
    default_namespace: str | None,
    allow_empty: bool,
    prebuilt: Mapping[str, PrebuiltSpecs] | None = None,
) -> ManifestSet:
    """The specs of files already parsed (`read_documents` of each readable file, in any order).

    `prebuilt` (from `prebuild_specs`, maybe in another process) gives some files' specs: each is
    used only if it was built under the very Defaults documents the whole set holds; the others
    are built here. Either way the result is what one build of every document gives.
    """
    paths = texts.paths
    problems = list(texts.problems)
    kept = _kept_sources(texts, parsed)
    skipped = [f for f in texts.texts if f not in kept]
    for file in kept:
        problems.extend(parsed[file][1])
    files = [f for f in texts.files if f not in skipped]
    if texts.scanned and not files and not allow_empty and not problems:
        problems.append(Diagnostic(Location(paths[0], 0), "no hfops manifests found (only other YAML files)"))
    sources = [source for file_sources in kept.values() for source in file_sources]
    defaults, endpoints, classify_problems = classify_documents(sources)
    problems.extend(classify_problems)
    specs: list[EndpointSpec] = []
    if prebuilt:
        keys = defaults_keys(kept)
        by_file: dict[str, list[SourceDocument]] = {}
        for source in endpoints:
            by_file.setdefault(source.file, []).append(source)
        for file in kept:
            ready = prebuilt.get(file)
            if ready is not None and ready.defaults == keys:
                specs.extend(ready.specs)
                continue
            file_specs, spec_problems = build_endpoint_specs(
                by_file.get(file, []), defaults, default_namespace=default_namespace
            )
            specs.extend(file_specs)
            problems.extend(spec_problems)
    else:
        specs, spec_problems = build_endpoint_specs(endpoints, defaults, default_namespace=default_namespace)
        problems.extend(spec_problems)
    problems.extend(check_fleet(specs))
    if problems:
        raise ManifestError(_with_unloaded_defaults_hints(_ordered(problems, files), paths, sources, default_namespace))
    return ManifestSet(specs=tuple(specs), files=tuple(files), skipped=tuple(skipped))


def _kept_sources(texts: ManifestTexts, parsed: Mapping[str, ParsedFile]) -> dict[str, list[SourceDocument]]:
    """The documents of each parsed file that is part of the set, in file order.

    Left out: files not in `parsed`, and YAML found by a directory scan that is not an hfops
    manifest at all (no document with an hfops apiVersion or kind: a CI workflow kept beside them).
    """
    kept: dict[str, list[SourceDocument]] = {}
    for file in texts.files:
        if file not in parsed:
            continue  # unreadable (its problem is in texts.problems), or not parsed by this process
        file_sources, file_problems = parsed[file]
        if file in texts.scanned and not file_problems and not any(_is_hfops_document(s) for s in file_sources):
            continue
        kept[file] = file_sources
    return kept


def defaults_keys(kept: Mapping[str, Sequence[SourceDocument]]) -> tuple[tuple[str, int], ...]:
    """Which documents of the set are Defaults, as (file, index in the file): the same in any process."""
    return tuple(
        (file, index)
        for file, file_sources in kept.items()
        for index, source in enumerate(file_sources)
        if source.kind == DEFAULTS_KIND
    )


@dataclass(frozen=True)
class PrebuiltSpecs:
    """One file's specs built ahead, and the Defaults documents (`defaults_keys`) they were built under."""

    defaults: tuple[tuple[str, int], ...]
    specs: tuple[EndpointSpec, ...]


def might_hold_defaults(text: str) -> bool:
    """Whether a file's text may hold a Defaults document (the word, however it is written, is
    there). A guess only: `assemble_manifests` checks every prebuilt file against the real ones."""
    return DEFAULTS_KIND in text


@dataclass(frozen=True)
class KnownDefaults:
    """The Defaults documents of the files parsed so far, taken to be the whole set's."""

    keys: tuple[tuple[str, int], ...]
    documents: tuple[SourceDocument, ...]


def known_defaults(texts: ManifestTexts, parsed: Mapping[str, ParsedFile]) -> KnownDefaults:
    """The Defaults in `parsed`, which must hold every file that may hold one (`might_hold_defaults`)."""
    kept = _kept_sources(texts, parsed)
    documents = tuple(s for file_sources in kept.values() for s in file_sources if s.kind == DEFAULTS_KIND)
    return KnownDefaults(defaults_keys(kept), documents)


def prebuild_file(
    texts: ManifestTexts, file: str, parsed: ParsedFile, defaults: KnownDefaults, *, default_namespace: str | None
) -> PrebuiltSpecs | None:
    """One file's specs built ahead of the whole set under `defaults`; None when the file has any
    problem (`assemble_manifests` then builds it again and reports it) or is not part of the set."""
    kept = _kept_sources(texts, {file: parsed})
    if file not in kept or parsed[1]:
        return None
    _defaults, endpoints, problems = classify_documents(kept[file])
    if problems:
        return None
    specs, spec_problems = build_endpoint_specs(endpoints, defaults.documents, default_namespace=default_namespace)
    return None if spec_problems else PrebuiltSpecs(defaults.keys, tuple(specs))


def _ancestor_defaults(paths: Sequence[str], loaded: set[str]) -> list[SourceDocument]:
    """`kind: Defaults` documents in the directories above the PATHs (up to the repository root:
    the first directory holding `.git`), in files this run did not load. Read only to explain an
    error, never applied: a run uses exactly the PATHs it is given."""
    found: list[SourceDocument] = []
    seen: set[Path] = set()
    for raw in paths:
        start = Path(raw).resolve()
        directory = start if start.is_dir() else start.parent
        if (directory / ".git").exists():  # the PATH is the repository root: nothing above counts
            candidates = [] if start.is_dir() else [directory]
            seen.add(directory)
            found += _defaults_in(candidates, loaded)
            continue
        candidates = [directory.parent] if start.is_dir() else [directory, directory.parent]
        here = candidates[-1]
        for _ in range(8):
            if here in seen:
                break
            seen.add(here)
            if here not in candidates:
                candidates.append(here)
            if (here / ".git").exists() or here.parent == here:
                break
            here = here.parent
        found += _defaults_in(candidates, loaded)
    return found


def _defaults_in(folders: Sequence[Path], loaded: set[str]) -> list[SourceDocument]:
    found: list[SourceDocument] = []
    for folder in folders:
        for file in sorted(folder.glob("*")):
            if file.suffix not in MANIFEST_SUFFIXES or not file.is_file() or str(file) in loaded:
                continue
            text, problem = read_manifest_text(str(file))
            if text is None or problem is not None:
                continue
            documents, file_problems = read_documents(text, file=_shown(file))
            if not file_problems:
                found += [d for d in documents if d.kind == "Defaults" and _is_hfops_document(d)]
    return found


def _shown(file: Path) -> str:
    try:
        return os.path.relpath(file)
    except ValueError:  # another drive
        return str(file)


def _with_unloaded_defaults_hints(
    problems: list[Diagnostic],
    paths: Sequence[str],
    sources: list[SourceDocument],
    default_namespace: str | None,
) -> list[Diagnostic]:
    """Each error that the Defaults of a parent directory would remove says so (and how to load them)."""
    loaded = {str(Path(s.file).resolve()) for s in sources}
    extra = [d for d in _ancestor_defaults(paths, loaded) if str(Path(d.file).resolve()) not in loaded]
    if not extra:
        return problems
    specs, again = build_specs([*extra, *sources], default_namespace=default_namespace)
    remaining = set(again) | set(check_fleet(specs))
    files = sorted({d.file for d in extra})
    parent = os.path.dirname(files[0]) or "."
    note = (
        f"not an error with the Defaults in {', '.join(files)}, which this run did not load: Defaults apply only "
        f"to the PATHs given; pass {'them' if len(files) > 1 else 'it'} too, or give {parent} as the PATH"
    )
    return [
        p
        if p in remaining or p.location.file in files
        else Diagnostic(p.location, p.message, f"{p.hint}; {note}" if p.hint else note)
        for p in problems
    ]


def _ordered(problems: list[Diagnostic], files: list[str]) -> list[Diagnostic]:
    rank = {f: i for i, f in enumerate(files)}
    unique = list(dict.fromkeys(problems))  # a Defaults error is found once per endpoint using it
    return sorted(unique, key=lambda d: (rank.get(d.location.file, -1), d.location.line))


def read_documents(text: str, *, file: str) -> tuple[list[SourceDocument], list[Diagnostic]]:
    documents, yaml_problems = parse_yaml_documents(
        text,
        watched_words=frozenset({PLACEHOLDER_WORD}),
        watched_paths=WATCHED_PATHS,
        plain_text_under=VERBATIM_MAPPINGS,
    )
    problems = [Diagnostic(Location(file, p.line, dotted(p.path)), p.message) for p in yaml_problems]
    return [SourceDocument(file, d) for d in documents], problems


def parse_manifest_text(
    text: str, *, file: str, default_namespace: str | None = None
) -> tuple[list[EndpointSpec], list[Diagnostic]]:
    """Pure: one file's text -> its specs and its problems (Defaults in the file apply)."""
    sources, problems = read_documents(text, file=file)
    specs, spec_problems = build_specs(sources, default_namespace=default_namespace)
    return specs, list(dict.fromkeys(problems + spec_problems))
