"""Reading manifests: files -> YAML documents -> schema check -> semantic checks -> EndpointSpec.

`load_manifests(paths)` is the only function here that touches the file system; everything else
is pure. Every problem found in the whole file set is collected (file, line, field, message, hint)
and raised together as one `ManifestError`, so a user fixes a broken file in one round trip.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfops.core import fields as catalogue
from hfops.core.errors import Diagnostic, Location, ManifestError
from hfops.core.model import (
    API_VERSION,
    BOOKKEEPING_PREFIXES,
    OWNERSHIP_TAG,
    CommandOutput,
    CredentialOutput,
    EndpointSpec,
    FileOutput,
    FromEnv,
    GenStudioSpec,
    ImageSpec,
    SecretOutput,
)
from hfops.core.schema import dotted, validate_defaults_document, validate_document
from hfops.core.yaml_source import MAX_FILE_BYTES, YamlDocument, parse_yaml_documents

MANIFEST_SUFFIXES = (".yaml", ".yml")
DEFAULTS_KIND = "Defaults"
KINDS = ("Endpoint", DEFAULTS_KIND)


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


def _is_hfops_document(source: SourceDocument) -> bool:
    data = source.document.data
    if not isinstance(data, dict):
        return False
    api = data.get("apiVersion")
    return (isinstance(api, str) and api.startswith("hfops/")) or data.get("kind") in KINDS


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
    `kind: Defaults` documents anywhere in the set apply to the endpoints of the same set.
    """
    files, scanned, problems = discover_files(paths, allow_empty=allow_empty)
    sources: list[SourceDocument] = []
    skipped: list[str] = []
    for file in files:
        text, problem = read_manifest_text(file)
        if problem is not None or text is None:
            problems.append(problem or Diagnostic(Location(file, 0), "cannot read"))
            continue
        file_sources, file_problems = read_documents(text, file=file)
        if file in scanned and not file_problems and not any(_is_hfops_document(s) for s in file_sources):
            # Found by a directory scan and not an hfops manifest at all (no document with an
            # hfops apiVersion or kind): a CI workflow or other YAML kept beside the manifests.
            skipped.append(file)
            continue
        sources.extend(file_sources)
        problems.extend(file_problems)
    files = [f for f in files if f not in skipped]
    if scanned and not files and not allow_empty and not problems:
        problems.append(Diagnostic(Location(paths[0], 0), "no hfops manifests found (only other YAML files)"))
    specs, spec_problems = build_specs(sources, default_namespace=default_namespace)
    problems.extend(spec_problems)
    problems.extend(check_fleet(specs))
    if problems:
        raise ManifestError(_ordered(problems, files))
    return ManifestSet(specs=tuple(specs), files=tuple(files), skipped=tuple(skipped))


def _ordered(problems: list[Diagnostic], files: list[str]) -> list[Diagnostic]:
    rank = {f: i for i, f in enumerate(files)}
    unique = list(dict.fromkeys(problems))  # a Defaults error is found once per endpoint using it
    return sorted(unique, key=lambda d: (rank.get(d.location.file, -1), d.location.line))


@dataclass(frozen=True)
class SourceDocument:
    """One YAML document and the file it came from."""

    file: str
    document: YamlDocument

    @property
    def kind(self) -> object:
        data = self.document.data
        return data.get("kind") if isinstance(data, dict) else None


def read_documents(text: str, *, file: str) -> tuple[list[SourceDocument], list[Diagnostic]]:
    documents, yaml_problems = parse_yaml_documents(text)
    problems = [Diagnostic(Location(file, p.line, dotted(p.path)), p.message) for p in yaml_problems]
    return [SourceDocument(file, d) for d in documents], problems


def parse_manifest_text(
    text: str, *, file: str, default_namespace: str | None = None
) -> tuple[list[EndpointSpec], list[Diagnostic]]:
    """Pure: one file's text -> its specs and its problems (Defaults in the file apply)."""
    sources, problems = read_documents(text, file=file)
    specs, spec_problems = build_specs(sources, default_namespace=default_namespace)
    return specs, list(dict.fromkeys(problems + spec_problems))


class Located:
    """A (possibly merged) manifest document that can say where each of its values was written.

    `layers` are in precedence order: the endpoint's own document first, then the Defaults
    documents that supplied values to it, most specific first.
    """

    def __init__(self, data: dict[str, Any], layers: list[SourceDocument]) -> None:
        self.data = data
        self.layers = layers

    def location(self, path: tuple[str | int, ...]) -> Location:
        probe = tuple(path)
        while True:
            for layer in self.layers:
                if probe in layer.document.lines:
                    return Location(layer.file, layer.document.lines[probe], dotted(path))
            if not probe:
                own = self.layers[0]
                return Location(own.file, own.document.start_line, dotted(path))
            probe = probe[:-1]

    def plain_text(self, path: tuple[str | int, ...]) -> str | None:
        for layer in self.layers:
            if path in layer.document.lines:
                return layer.document.plain_text.get(path)
        return None

    def recorded_locations(self) -> tuple[tuple[str, Location], ...]:
        table: dict[str, Location] = {}
        for layer in reversed(self.layers):  # the endpoint's own lines win
            for path, line in layer.document.lines.items():
                if path and all(isinstance(p, str) for p in path):
                    table[dotted(path)] = Location(layer.file, line, dotted(path))
        return tuple(table.items())


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Per-field merge: mappings merge key by key, anything else (lists, scalars) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_specs(
    sources: Sequence[SourceDocument], *, default_namespace: str | None
) -> tuple[list[EndpointSpec], list[Diagnostic]]:
    """Validate every document; merge Defaults into endpoints; convert endpoints to specs."""
    problems: list[Diagnostic] = []
    defaults: list[SourceDocument] = []
    endpoints: list[SourceDocument] = []
    for source in sources:
        data = source.document.data
        located = Located(data if isinstance(data, dict) else {}, [source])
        if not isinstance(data, dict):
            problems.append(
                Diagnostic(Location(source.file, source.document.start_line), "a manifest document must be a mapping")
            )
            continue
        kind = data.get("kind")
        if kind == DEFAULTS_KIND:
            issues = validate_defaults_document(data)
            problems.extend(
                Diagnostic(located.location(i.path), i.message, i.hint or _hint_for(i.path)) for i in issues
            )
            # Used even when invalid: its endpoints then report the same located errors (deduplicated)
            # instead of confusing "missing field" errors about values the defaults meant to supply.
            defaults.append(source)
        elif isinstance(kind, str) and kind not in KINDS and data.get("apiVersion") == API_VERSION:
            import difflib

            close = difflib.get_close_matches(kind, KINDS, n=1)
            problems.append(
                Diagnostic(
                    located.location(("kind",)),
                    f"unknown kind {kind!r}; supported: {', '.join(KINDS)}",
                    f"did you mean '{close[0]}'?" if close else None,
                )
            )
        else:
            endpoints.append(source)
    specs: list[EndpointSpec] = []
    for source in endpoints:
        located = _with_defaults(source, defaults, default_namespace=default_namespace)
        spec, spec_problems = _parse_located(located, default_namespace=default_namespace)
        problems.extend(spec_problems)
        if spec is not None:
            specs.append(spec)
    return specs, problems


def _with_defaults(
    source: SourceDocument, defaults: Sequence[SourceDocument], *, default_namespace: str | None
) -> Located:
    data: dict[str, Any] = source.document.data
    metadata = _mapping(data.get("metadata"))
    namespace = metadata.get("namespace") or default_namespace
    # Global defaults first, then the namespace's own; the endpoint's own values last.
    chosen = [d for d in defaults if not _mapping(d.document.data.get("metadata")).get("namespace")]
    chosen += [
        d for d in defaults if namespace and _mapping(d.document.data.get("metadata")).get("namespace") == namespace
    ]
    if not chosen:
        return Located(data, [source])
    spec: dict[str, Any] = {}
    tags: list[str] = []
    for layer in chosen:
        spec = _merge(spec, _mapping(layer.document.data.get("spec")))
        layer_tags = _mapping(layer.document.data.get("metadata")).get("tags")
        tags += [t for t in (layer_tags if isinstance(layer_tags, list) else []) if t not in tags]
    merged = dict(data)
    own_spec = data.get("spec")
    merged["spec"] = (
        _merge(spec, own_spec) if isinstance(own_spec, dict) else (own_spec if own_spec is not None else spec)
    )
    own_tags = metadata.get("tags")
    if tags and isinstance(data.get("metadata"), dict) and (own_tags is None or isinstance(own_tags, list)):
        merged["metadata"] = dict(metadata)
        merged["metadata"]["tags"] = tags + [t for t in (own_tags or []) if t not in tags]
    return Located(merged, [source, *reversed(chosen)])


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _parse_located(located: Located, *, default_namespace: str | None) -> tuple[EndpointSpec | None, list[Diagnostic]]:
    data = located.data
    issues = validate_document(data)
    problems = [Diagnostic(located.location(i.path), i.message, i.hint or _hint_for(i.path)) for i in issues]
    if problems and not all(i.message.startswith("unknown field") for i in issues):
        return None, problems
    if problems:
        # Only unknown keys: the rest is well-formed, so its semantic errors are reported in the
        # same run (with the unknown keys ignored) instead of one round trip later.
        known = Located(_without_unknown(data, [i.path for i in issues]), located.layers)
        spec = _to_spec(known, default_namespace=default_namespace)
        return None, problems + check_spec(spec)
    spec = _to_spec(located, default_namespace=default_namespace)
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


def _env_value(value: Any, written: str | None) -> str:
    if written is not None and not isinstance(value, str):
        return written  # `1.10` stays "1.10", `010` stays "010", `yes` stays "yes"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_spec(located: Located, *, default_namespace: str | None) -> EndpointSpec:
    data = located.data
    metadata = data["metadata"]
    spec = data["spec"]
    values = catalogue.read_manifest_values(spec)
    image = {k.partition(".")[2]: values.pop(k) for k in list(values) if k.startswith("image.")}
    genstudio = spec.get("genstudio", {})
    api_key = genstudio.get("apiKey")
    env_path = ("spec", *catalogue.ENV.path.split("."))
    return EndpointSpec(
        name=metadata["name"],
        namespace=metadata.get("namespace") or default_namespace,
        source=located.location(("metadata", "name")),
        **values,
        paused=bool(spec.get("paused", False)),
        image=ImageSpec(**image),
        env=tuple(
            sorted(
                (k, _env_value(v, located.plain_text((*env_path, k))))
                for k, v in spec.get(catalogue.ENV.path, {}).items()
            )
        ),
        secrets=tuple(sorted((k, FromEnv(v["fromEnv"])) for k, v in spec.get(catalogue.SECRETS.path, {}).items())),
        tags=tuple(metadata.get("tags", ())),
        genstudio=GenStudioSpec(
            api_key=FromEnv(api_key["fromEnv"]) if api_key else None,
            context_window=genstudio.get("contextWindow"),
            file=genstudio.get("file"),
            outputs=credential_outputs(
                genstudio, namespace=metadata.get("namespace") or default_namespace or "", name=metadata["name"]
            ),
        ),
        locations=located.recorded_locations(),
    )


def expand(text: str, *, namespace: str, name: str) -> str:
    """`{namespace}` and `{name}` in an output string, so Defaults can set outputs for a fleet."""
    return text.replace("{namespace}", namespace).replace("{name}", name)


def credential_outputs(genstudio: dict[str, Any], *, namespace: str, name: str) -> tuple[CredentialOutput, ...]:
    """The outputs a `genstudio` mapping declares; `file: NAME` is the shorthand, `<name>.json` the default."""

    def x(text: str) -> str:
        return expand(text, namespace=namespace, name=name)

    items = genstudio.get("outputs")
    if items is None:
        return (FileOutput(x(genstudio.get("file") or f"{name}.json")),)
    outputs: list[CredentialOutput] = []
    for item in items:
        if "file" in item:
            outputs.append(FileOutput(x(item["file"])))
        elif "kubernetesSecret" in item:
            secret = item["kubernetesSecret"]
            outputs.append(
                SecretOutput(
                    name=x(str(secret.get("name", ""))),
                    namespace=x(secret["namespace"]) if secret.get("namespace") else None,
                    key=x(secret.get("key") or "credential.json"),
                )
            )
        else:
            outputs.append(CommandOutput(tuple(x(arg) for arg in item["command"])))
    return tuple(outputs)


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# The temporary name a file output is written under first adds this much to the file name.
TEMPORARY_NAME_OVERHEAD = 24
NAME_MAX = 255


def check_outputs(spec: EndpointSpec) -> list[Diagnostic]:
    at = spec.location_of
    problems: list[Diagnostic] = []
    if spec.genstudio.file is not None and any(path == "spec.genstudio.outputs" for path, _ in spec.locations):
        problems.append(
            Diagnostic(
                at("spec.genstudio.outputs"),
                "genstudio.file and genstudio.outputs are both set; file is the shorthand for one file output",
                "keep one: outputs: [{file: NAME}] or file: NAME",
            )
        )
    seen: set[str] = set()
    for index, output in enumerate(spec.genstudio.outputs):
        where = at(f"spec.genstudio.outputs[{index}]") if spec.genstudio.file is None else at("spec.genstudio.file")
        if output.output_id in seen:
            problems.append(Diagnostic(where, f"{output.describe()} is listed twice"))
        seen.add(output.output_id)
        if isinstance(output, FileOutput):
            reason = credential_file_problem(output.path)
            if reason is None:
                longest = max(len(part.encode()) for part in posixpath.normpath(output.path).split("/"))
                if longest + TEMPORARY_NAME_OVERHEAD > NAME_MAX:
                    reason = (
                        f"file name component is {longest} bytes; at most {NAME_MAX - TEMPORARY_NAME_OVERHEAD} "
                        "(the filesystem allows 255, and the temporary name used for an atomic write is longer)"
                    )
            if reason:
                problems.append(Diagnostic(where, reason))
        elif isinstance(output, SecretOutput):
            if not output.name or len(output.name) > 253 or not _DNS_SUBDOMAIN.match(output.name):
                problems.append(
                    Diagnostic(where, f"kubernetesSecret name {output.name!r} is not a valid Secret name (DNS-1123)")
                )
            if output.namespace is not None and not _DNS_LABEL.match(output.namespace):
                problems.append(Diagnostic(where, f"kubernetesSecret namespace {output.namespace!r} is not valid"))
            if not _SECRET_KEY.match(output.key) or len(output.key) > 253:
                problems.append(Diagnostic(where, f"kubernetesSecret key {output.key!r} is not a valid Secret key"))
    return problems


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
    timeout, minimum = catalogue.SCALE_TO_ZERO_TIMEOUT, catalogue.MIN_REPLICA
    if spec.min_replica > 0 and spec.scale_to_zero_timeout is not None:
        problems.append(
            Diagnostic(
                at(timeout.manifest_path),
                f"{timeout.name} needs {minimum.name} 0 (it is {spec.min_replica})",
                f"remove {timeout.name}, or set {minimum.name}: 0 to scale to zero when idle",
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
    problems.extend(check_outputs(spec))
    env_keys = {k for k, _ in spec.env}
    for key, _ in spec.secrets:
        if key in env_keys:
            problems.append(Diagnostic(at(f"spec.secrets.{key}"), f"{key} is both in env and in secrets; keep one"))
    for tag in spec.tags:
        if tag == OWNERSHIP_TAG or tag.startswith(BOOKKEEPING_PREFIXES):
            problems.append(Diagnostic(at("metadata.tags"), f"tag {tag!r} is reserved for hfops' own bookkeeping"))
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
    outputs: dict[str, EndpointSpec] = {}
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
        for output in spec.genstudio.outputs:
            output_id = output.output_id
            if output_id in outputs:
                other = outputs[output_id]
                what = "credential file " + repr(output_id[5:]) if isinstance(output, FileOutput) else output.describe()
                declared = any(path.startswith("spec.genstudio.outputs") for path, _ in spec.locations)
                problems.append(
                    Diagnostic(
                        spec.location_of("spec.genstudio.outputs" if declared else "spec.genstudio.file"),
                        f"{what} is also used by {other.address}",
                        "give one of them a distinct output (e.g. with {namespace}/{name} in it)"
                        if declared
                        else "set spec.genstudio.file to a distinct file for one of them",
                    )
                )
            else:
                outputs[output_id] = spec
    files = {k[5:]: s for k, s in outputs.items() if k.startswith("file:")}
    for path, spec in files.items():
        parent = posixpath.dirname(path)
        while parent:
            if parent in files:
                problems.append(
                    Diagnostic(
                        spec.location_of("spec.genstudio.outputs"),
                        f"credential file {path!r} needs {parent!r} to be a directory, but it is the credential "
                        f"file of {files[parent].address}",
                    )
                )
                break
            parent = posixpath.dirname(parent)
    return problems
