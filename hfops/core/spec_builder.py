"""Manifest documents -> EndpointSpec: `kind: Defaults` merged per field, schema, conversion.

Pure. Each value keeps where it was written (`Located`), so an error in a merged field points at
the Defaults file line that supplied it, not at the endpoint that inherited it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hfops.core import fields as catalogue
from hfops.core.errors import Diagnostic, Location
from hfops.core.model import (
    API_VERSION,
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
from hfops.core.sensitive import is_placeholder
from hfops.core.spec_checks import check_spec
from hfops.core.yaml_source import YamlDocument

DEFAULTS_KIND = "Defaults"
# A word of the placeholder hfops prints for secrets; files without it are not searched for it.
PLACEHOLDER_WORD = "sensitive"
assert PLACEHOLDER_WORD in catalogue.SENSITIVE
KINDS = ("Endpoint", DEFAULTS_KIND)


@dataclass(frozen=True)
class SourceDocument:
    """One YAML document and the file it came from."""

    file: str
    document: YamlDocument

    @property
    def kind(self) -> object:
        data = self.document.data
        return data.get("kind") if isinstance(data, dict) else None


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

    def layer_index(self, path: tuple[str | int, ...]) -> int:
        """Which layer wrote `path`: 0 the endpoint itself, higher a less specific Defaults document."""
        for index, layer in enumerate(self.layers):
            if _holds(layer.document.data, path):
                return index
        return len(self.layers)

    def plain_text(self, path: tuple[str | int, ...]) -> str | None:
        for layer in self.layers:
            if _holds(layer.document.data, path):
                return layer.document.plain_text.get(path)
        return None


def _holds(data: Any, path: tuple[str | int, ...]) -> bool:
    """Whether a document's value has `path` (the document wrote it, if only as `null`)."""
    node = data
    for part in path:
        if isinstance(node, dict):
            if part not in node:
                return False
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int):
            if not 0 <= part < len(node):
                return False
            node = node[part]
        else:
            return False
    return True


class LayeredLocations:
    """Where an endpoint's fields were written, over its layers (its own document first): the
    `FieldLocator` an `EndpointSpec` keeps for errors found after loading. Lines are found only
    when asked for (`yaml_source.LazyLines`)."""

    def __init__(self, layers: Sequence[SourceDocument]) -> None:
        self._layers = tuple(layers)

    def locate(self, path: str) -> Location | None:
        key = tuple(path.split("."))
        for layer in self._layers:
            line = layer.document.lines.get(key)
            if line is not None:
                return Location(layer.file, line, path)
        return None

    def declares(self, path: str) -> bool:
        key = tuple(path.split("."))
        return any(_holds(layer.document.data, key) for layer in self._layers)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Per-field merge: mappings merge key by key, anything else (lists, scalars) is replaced.

    `null` unsets, as in a JSON Merge Patch (RFC 7386) or a kustomize patch: the key is removed,
    whatever a less specific layer said, so the field takes its built-in default.
    """
    merged = dict(base)
    for key, value in override.items():
        if value is None and _UNSETTABLE.match(str(key)):
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = without_nulls(value)
    return merged


def without_nulls(value: Any) -> Any:
    """A spec with every `key: null` removed (at any depth of mappings): null means "not set".

    Only under a key that could name a field or a variable: `{HF_TOKEN=hf_...}` (a value pasted
    into a key, which YAML reads as a key with a null value) stays, so the schema refuses it.
    """
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None or not _UNSETTABLE.match(str(k))}
    return value


_UNSETTABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _spec_without_nulls(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data.get("spec"), dict):
        return data
    return {**data, "spec": without_nulls(data["spec"])}


def build_specs(
    sources: Sequence[SourceDocument], *, default_namespace: str | None
) -> tuple[list[EndpointSpec], list[Diagnostic]]:
    """Validate every document; merge Defaults into endpoints; convert endpoints to specs."""
    defaults, endpoints, problems = classify_documents(sources)
    specs, spec_problems = build_endpoint_specs(endpoints, defaults, default_namespace=default_namespace)
    return specs, problems + spec_problems


def classify_documents(
    sources: Sequence[SourceDocument],
) -> tuple[list[SourceDocument], list[SourceDocument], list[Diagnostic]]:
    """Split documents into Defaults and endpoints; the problems of the Defaults and of the rest.

    What `build_specs` does before it builds any endpoint: the endpoints can then be built in
    parts (by file, in another process) with the same Defaults and give what one call gives.
    """
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
            issues = validate_defaults_document(_spec_without_nulls(data))
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
    return defaults, endpoints, problems


def build_endpoint_specs(
    endpoints: Sequence[SourceDocument], defaults: Sequence[SourceDocument], *, default_namespace: str | None
) -> tuple[list[EndpointSpec], list[Diagnostic]]:
    """The specs of endpoint documents (from `classify_documents`) under these Defaults, in order."""
    problems: list[Diagnostic] = []
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
        return Located(_spec_without_nulls(data), [source])
    spec: dict[str, Any] = {}
    tags: list[str] = []
    for layer in chosen:
        spec = _merge(spec, _mapping(layer.document.data.get("spec")))
        layer_tags = _mapping(layer.document.data.get("metadata")).get("tags")
        tags += [t for t in (layer_tags if isinstance(layer_tags, list) else []) if t not in tags]
    merged = dict(data)
    own_spec = data.get("spec")
    merged["spec"] = without_nulls(
        _merge(spec, own_spec) if isinstance(own_spec, dict) else (own_spec if own_spec is not None else spec)
    )
    own_tags = metadata.get("tags")
    if tags and isinstance(data.get("metadata"), dict) and (own_tags is None or isinstance(own_tags, list)):
        merged["metadata"] = dict(metadata)
        merged["metadata"]["tags"] = tags + [t for t in (own_tags or []) if t not in tags]
    return Located(merged, [source, *reversed(chosen)])


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def placeholder_problems(located: Located) -> list[Diagnostic]:
    """Every string holding `(sensitive value)`: the text hfops prints in place of a secret.

    A manifest copied from redacted output (a terminal, a CI log) has it where a value was;
    applying it would overwrite the real value with that text, so it is refused wherever it is.
    """
    problems: list[Diagnostic] = []
    if all(PLACEHOLDER_WORD in layer.document.text_free_of for layer in located.layers):
        return problems  # no file it came from has the word: no value can hold the placeholder

    def walk(node: object, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, str(key)))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))
        elif isinstance(node, str) and is_placeholder(node):
            problems.append(
                Diagnostic(
                    located.location(path),
                    f"{catalogue.SENSITIVE!r} is the placeholder hfops prints in place of a secret, not a value",
                    "declare the value under spec.secrets as {fromEnv: ENV_VAR_NAME} and set that variable"
                    if path[:2] == ("spec", "env")
                    else "write the real value (secrets go under spec.secrets as {fromEnv: ENV_VAR_NAME})",
                )
            )

    walk(located.data, ())
    return problems


def _parse_located(located: Located, *, default_namespace: str | None) -> tuple[EndpointSpec | None, list[Diagnostic]]:
    data = located.data
    issues = validate_document(data)
    problems = [Diagnostic(located.location(i.path), i.message, i.hint or _hint_for(i.path)) for i in issues]
    placeholders = placeholder_problems(located)
    if problems and not all(i.message.startswith("unknown field") for i in issues):
        # The semantic checks that do not depend on a broken field still run, in the same run
        # (a bad name does not hide minReplica above maxReplica until it is fixed).
        return None, problems + placeholders + _checks_beside(located, [i.path for i in issues])
    if problems:
        # Only unknown keys: the rest is well-formed, so its semantic errors are reported in the
        # same run (with the unknown keys ignored) instead of one round trip later.
        known = Located(_without_unknown(data, [i.path for i in issues]), located.layers)
        spec = _to_spec(known, default_namespace=default_namespace)
        return None, problems + placeholders + check_spec(spec, layer_of=_layer_of(located))
    spec = _to_spec(located, default_namespace=default_namespace)
    problems = placeholders + check_spec(spec, layer_of=_layer_of(located))
    return spec, problems


# A value that makes a broken or missing required field well-formed, so the rest can be checked.
_SKELETON: dict[str, Any] = {
    "apiVersion": API_VERSION,
    "kind": "Endpoint",
    "metadata": {"name": "x"},
    "spec": {
        "model": {"repository": "x"},
        "compute": {"vendor": "x", "region": "x", "accelerator": "cpu", "instanceType": "x", "instanceSize": "x1"},
    },
}
# Fields whose semantic rules read each other (TGI's limits read image and env together, the
# declared window reads the image's limit): a broken one silences the rules of its whole group.
_GROUPS = {"image": "limits", "env": "limits", "genstudio": "limits"}


def _group(path: Sequence[str | int]) -> tuple[str, ...]:
    if len(path) >= 2 and path[0] == "spec":
        return ("spec", _GROUPS.get(str(path[1]), str(path[1])))
    return tuple(str(p) for p in path[:2])


def _without_paths(data: dict[str, Any], paths: list[tuple[str | int, ...]]) -> dict[str, Any]:
    """`data` without the values at `paths` (a path through a list drops that whole list)."""
    import copy

    pruned = copy.deepcopy(data)
    for path in paths:
        node: Any = pruned
        for depth, part in enumerate(path):
            if not isinstance(node, dict) or part not in node:
                break
            if depth == len(path) - 1 or not isinstance(node[part], (dict, list)):
                node.pop(part)
                break
            if isinstance(node[part], list):
                node.pop(part)
                break
            node = node[part]
    return pruned


def _checks_beside(located: Located, broken: list[tuple[str | int, ...]]) -> list[Diagnostic]:
    """Semantic problems of a document with schema errors, from the fields that are not broken.

    The broken values are removed and required ones stood in for (never reported); the rules of a
    group a broken field belongs to are skipped, so no problem follows from a stand-in value.
    """
    pruned = _without_paths(located.data, broken)
    if not isinstance(pruned.get("metadata"), dict) or not isinstance(pruned.get("spec"), dict):
        return []
    candidate = _merge(_SKELETON, pruned)
    if validate_document(candidate):
        return []  # still not well-formed (a broken parent): nothing more can be said safely
    try:
        spec = _to_spec(Located(candidate, located.layers), default_namespace=None)
    except (KeyError, TypeError, ValueError):
        return []
    touched = {_group(path) for path in broken}
    if touched & {("metadata", "name"), ("metadata", "namespace")}:
        touched.add(("spec", "limits"))  # outputs expand {name} and {namespace}
    return [
        d
        for d in check_spec(spec, layer_of=_layer_of(located))
        if _group(d.location.field.replace("[", ".[").split(".")) not in touched
    ]


def _layer_of(located: Located) -> Callable[[str], int]:
    return lambda field: located.layer_index(tuple(field.split(".")))


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
        locations=LayeredLocations(located.layers),
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
