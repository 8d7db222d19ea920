"""Reading manifests: files -> YAML documents -> schema check -> semantic checks -> EndpointSpec.

`load_manifests(paths)` is the only function here that touches the file system; everything else
is pure. Every problem found in the whole file set is collected (file, line, field, message, hint)
and raised together as one `ManifestError`, so a user fixes a broken file in one round trip.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfops.errors import Diagnostic, Location, ManifestError
from hfops.model import (
    API_VERSION,
    DEFAULT_SCALE_TO_ZERO_MINUTES,
    DEFAULT_TGI_IMAGE,
    DEFAULT_TYPE,
    OWNERSHIP_TAG,
    SECRETS_TAG_PREFIX,
    EndpointSpec,
    FromEnv,
    GenStudioSpec,
    ImageSpec,
)
from hfops.schema import dotted, validate_document
from hfops.yaml_source import MAX_FILE_BYTES, YamlDocument, parse_yaml_documents

MANIFEST_SUFFIXES = (".yaml", ".yml")
KINDS = ("Endpoint",)


@dataclass(frozen=True)
class ManifestSet:
    """The endpoints declared by a set of manifest paths, in file order."""

    specs: tuple[EndpointSpec, ...]
    files: tuple[str, ...]

    @property
    def namespaces(self) -> tuple[str, ...]:
        return tuple(sorted({s.namespace for s in self.specs if s.namespace}))


def discover_files(paths: Sequence[str], *, allow_empty: bool = False) -> tuple[list[str], list[Diagnostic]]:
    """Expand PATH arguments: a file as is, a directory as every *.yaml/*.yml below it, sorted."""
    files: list[str] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                str(p)
                for p in path.rglob("*")
                if p.suffix in MANIFEST_SUFFIXES and p.is_file() and not any(
                    part.startswith(".") for part in p.relative_to(path).parts
                )
            )
            if not found and not allow_empty:
                problems.append(Diagnostic(Location(raw, 0), "no *.yaml or *.yml manifests in this directory"))
            files.extend(found)
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
    return unique, problems


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


def load_manifests(
    paths: Sequence[str], *, default_namespace: str | None = None, allow_empty: bool = False
) -> ManifestSet:
    """Load, validate and convert every manifest under `paths`; raise ManifestError listing all problems.

    A directory without manifests is an error unless `allow_empty` (pruning decides for itself).
    """
    files, problems = discover_files(paths, allow_empty=allow_empty)
    specs: list[EndpointSpec] = []
    for file in files:
        text, problem = read_manifest_text(file)
        if problem is not None or text is None:
            problems.append(problem or Diagnostic(Location(file, 0), "cannot read"))
            continue
        file_specs, file_problems = parse_manifest_text(text, file=file, default_namespace=default_namespace)
        specs.extend(file_specs)
        problems.extend(sorted(file_problems, key=lambda d: d.location.line))
    problems.extend(check_fleet(specs))
    if problems:
        raise ManifestError(problems)
    return ManifestSet(specs=tuple(specs), files=tuple(files))


def parse_manifest_text(
    text: str, *, file: str, default_namespace: str | None = None
) -> tuple[list[EndpointSpec], list[Diagnostic]]:
    """Pure: one file's text -> its specs and its problems."""
    documents, yaml_problems = parse_yaml_documents(text)
    problems = [Diagnostic(Location(file, p.line, dotted(p.path)), p.message) for p in yaml_problems]
    specs: list[EndpointSpec] = []
    for document in documents:
        spec, doc_problems = _parse_document(document, file=file, default_namespace=default_namespace)
        problems.extend(doc_problems)
        if spec is not None:
            specs.append(spec)
    return specs, problems


def _loc(document: YamlDocument, file: str, path: tuple[str | int, ...]) -> Location:
    return Location(file, document.line_of(path), dotted(path))


def _parse_document(
    document: YamlDocument, *, file: str, default_namespace: str | None
) -> tuple[EndpointSpec | None, list[Diagnostic]]:
    data = document.data
    if not isinstance(data, dict):
        return None, [
            Diagnostic(Location(file, document.start_line), "a manifest document must be a mapping")
        ]
    kind = data.get("kind")
    if kind not in KINDS and isinstance(kind, str) and data.get("apiVersion") == API_VERSION:
        import difflib

        close = difflib.get_close_matches(kind, KINDS, n=1)
        return None, [
            Diagnostic(
                _loc(document, file, ("kind",)),
                f"unknown kind {kind!r}; supported: {', '.join(KINDS)}",
                f"did you mean '{close[0]}'?" if close else None,
            )
        ]
    issues = validate_document(data)
    problems = [Diagnostic(_loc(document, file, i.path), i.message, i.hint or _hint_for(i.path)) for i in issues]
    if problems and not all(i.message.startswith("unknown field") for i in issues):
        return None, problems
    if problems:
        # Only unknown keys: the rest is well-formed, so its semantic errors are reported in the
        # same run (with the unknown keys ignored) instead of one round trip later.
        known = _without_unknown(data, [i.path for i in issues])
        spec = _to_spec(known, document=document, file=file, default_namespace=default_namespace)
        return None, problems + check_spec(spec)
    spec = _to_spec(data, document=document, file=file, default_namespace=default_namespace)
    return spec, check_spec(spec)


def _without_unknown(data: dict[str, Any], paths: list[tuple[str | int, ...]]) -> dict[str, Any]:
    import copy

    pruned = copy.deepcopy(data)
    for path in paths:
        node: Any = pruned
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1], None)
    return pruned


def _hint_for(path: tuple[str | int, ...]) -> str | None:
    if path[:2] == ("spec", "secrets") or path[:3] == ("spec", "genstudio", "apiKey"):
        return "write {fromEnv: ENV_VAR_NAME}; secret values never go in a manifest"
    return None


def _record_locations(document: YamlDocument, file: str) -> tuple[tuple[str, Location], ...]:
    return tuple(
        (dotted(path), Location(file, line, dotted(path)))
        for path, line in document.lines.items()
        if path and all(isinstance(p, str) for p in path)
    )


def _env_value(value: Any, written: str | None) -> str:
    if written is not None and not isinstance(value, str):
        return written  # `1.10` stays "1.10", `010` stays "010", `yes` stays "yes"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_spec(
    data: dict[str, Any], *, document: YamlDocument, file: str, default_namespace: str | None
) -> EndpointSpec:
    metadata = data["metadata"]
    spec = data["spec"]
    model = spec["model"]
    compute = spec["compute"]
    scaling = spec.get("scaling", {})
    min_replica = int(scaling.get("minReplica", 0))
    timeout = scaling.get("scaleToZeroTimeout")
    if timeout is None and min_replica == 0:
        timeout = DEFAULT_SCALE_TO_ZERO_MINUTES
    image = spec.get("image", {})
    genstudio = spec.get("genstudio", {})
    api_key = genstudio.get("apiKey")
    return EndpointSpec(
        name=metadata["name"],
        namespace=metadata.get("namespace") or default_namespace,
        source=Location(file, document.line_of(("metadata", "name")), "metadata.name"),
        repository=model["repository"],
        revision=model.get("revision"),
        vendor=compute["vendor"],
        region=compute["region"],
        accelerator=compute["accelerator"],
        instance_type=compute["instanceType"],
        instance_size=compute["instanceSize"],
        min_replica=min_replica,
        max_replica=int(scaling.get("maxReplica", 1)),
        scale_to_zero_timeout=timeout,
        type=spec.get("type", DEFAULT_TYPE),
        paused=bool(spec.get("paused", False)),
        image=ImageSpec(
            url=image.get("url", DEFAULT_TGI_IMAGE),
            max_input_tokens=image.get("maxInputTokens"),
            max_total_tokens=image.get("maxTotalTokens"),
        ),
        env=tuple(
            sorted(
                (k, _env_value(v, document.plain_text.get(("spec", "env", k))))
                for k, v in spec.get("env", {}).items()
            )
        ),
        secrets=tuple(sorted((k, FromEnv(v["fromEnv"])) for k, v in spec.get("secrets", {}).items())),
        tags=tuple(metadata.get("tags", ())),
        genstudio=GenStudioSpec(
            api_key=FromEnv(api_key["fromEnv"]) if api_key else None,
            context_window=genstudio.get("contextWindow"),
            file=genstudio.get("file"),
        ),
        locations=_record_locations(document, file),
    )


def check_spec(spec: EndpointSpec) -> list[Diagnostic]:
    """Semantic rules the schema cannot express, each located at the offending field."""
    problems: list[Diagnostic] = []
    at = spec.location_of
    if spec.min_replica > spec.max_replica:
        problems.append(
            Diagnostic(
                at("spec.scaling.maxReplica"),
                f"maxReplica ({spec.max_replica}) must be at least minReplica ({spec.min_replica})",
            )
        )
    if spec.min_replica > 0 and spec.scale_to_zero_timeout is not None:
        problems.append(
            Diagnostic(
                at("spec.scaling.scaleToZeroTimeout"),
                f"scaleToZeroTimeout needs minReplica 0 (it is {spec.min_replica})",
                "remove scaleToZeroTimeout, or set minReplica: 0 to scale to zero when idle",
            )
        )
    image = spec.image
    if image.max_input_tokens is not None and image.max_total_tokens is not None:
        if image.max_input_tokens >= image.max_total_tokens:
            problems.append(
                Diagnostic(
                    at("spec.image.maxInputTokens"),
                    f"maxInputTokens ({image.max_input_tokens}) must be below maxTotalTokens "
                    f"({image.max_total_tokens}); TGI refuses to start otherwise",
                )
            )
    window = spec.genstudio.context_window
    if window is not None and image.max_total_tokens is not None and window > image.max_total_tokens:
        problems.append(
            Diagnostic(
                at("spec.genstudio.contextWindow"),
                f"contextWindow ({window}) is larger than image.maxTotalTokens ({image.max_total_tokens}),"
                " which is what the endpoint will serve",
            )
        )
    file = spec.genstudio.file
    if file is not None:
        reason = credential_file_problem(file)
        if reason:
            problems.append(Diagnostic(at("spec.genstudio.file"), reason))
    env_keys = {k for k, _ in spec.env}
    for key, _ in spec.secrets:
        if key in env_keys:
            problems.append(
                Diagnostic(at(f"spec.secrets.{key}"), f"{key} is both in env and in secrets; keep one")
            )
    for tag in spec.tags:
        if tag == OWNERSHIP_TAG or tag.startswith(SECRETS_TAG_PREFIX):
            problems.append(
                Diagnostic(at("metadata.tags"), f"tag {tag!r} is reserved for hfops' own bookkeeping")
            )
    return problems


def credential_file_problem(file: str) -> str | None:
    """Why `file` cannot be a credential path relative to the credentials dir, or None."""
    if os.path.isabs(file) or file.startswith(("/", "\\")) or (len(file) > 1 and file[1] == ":"):
        return "file must be relative to --credentials-dir"
    normal = posixpath.normpath(file.replace("\\", "/"))
    if normal == ".." or normal.startswith("../") or normal in (".", ""):
        return f"file {file!r} would be written outside --credentials-dir"
    if "\0" in file:
        return "file contains a NUL byte"
    return None


def check_fleet(specs: Iterable[EndpointSpec]) -> list[Diagnostic]:
    """Rules across manifests: one endpoint per name and namespace, one credential file per path."""
    problems: list[Diagnostic] = []
    seen: dict[tuple[str | None, str], EndpointSpec] = {}
    files: dict[str, EndpointSpec] = {}
    for spec in specs:
        key = (spec.namespace, spec.name)
        if key in seen:
            first = seen[key]
            where = f"{first.source.file}:{first.source.line}"
            problems.append(
                Diagnostic(
                    spec.source,
                    f"endpoint {spec.address} is declared twice (first at {where})",
                )
            )
            continue
        seen[key] = spec
        target = posixpath.normpath((spec.genstudio.file or f"{spec.name}.json").replace("\\", "/"))
        if target in files:
            other = files[target]
            problems.append(
                Diagnostic(
                    spec.location_of("spec.genstudio.file"),
                    f"credential file {target!r} is also used by {other.address}",
                    "set spec.genstudio.file to a distinct file for one of them",
                )
            )
        else:
            files[target] = spec
    return problems
