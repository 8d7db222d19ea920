"""The manifest JSON Schema (shipped in the package) and validation into located diagnostics.

`schemas/endpoint.schema.json` at the repository root is the single source of truth; the package
carries the same file (`hfops/schemas/`, a link in the source tree, a real file in a wheel). This
module turns jsonschema's errors into short messages with the field path and a "did you mean" hint.
Values under `secrets` and `genstudio.apiKey` are never echoed back.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from hfops.core.fastcheck import conforms

if TYPE_CHECKING:  # jsonschema is imported only when a document does not conform (see fastcheck)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_FILE = "endpoint.schema.json"
_SENSITIVE_ROOTS = (("spec", "secrets"), ("spec", "genstudio", "apiKey"))


@lru_cache(maxsize=1)
def endpoint_schema() -> dict[str, Any]:
    text = resources.files("hfops").joinpath("schemas").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def strict_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A Draft 2020-12 validator where `integer` means an integer as written, not `512.0`.

    JSON Schema counts a float with no fractional part as an integer; YAML `15.0` is a float, and
    the API refuses it (`scaleToZeroTimeout: 15.0` is a 400 at create) and GenStudio reads
    `context_window: 512.0` as malformed. Booleans are never numbers either. The fast check
    (`fastcheck.conforms`) applies the same rule, so it is never more lenient than this.
    """
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    strict = validators.extend(Draft202012Validator, type_checker=checker)  # type: ignore[no-untyped-call]  # untyped in jsonschema
    # The schema itself is checked against the metaschema by the test suite, not on every run.
    validator: Draft202012Validator = strict(schema)
    return validator


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return strict_validator(endpoint_schema())


@lru_cache(maxsize=1)
def defaults_schema() -> dict[str, Any]:
    """The schema of a `kind: Defaults` document, derived from the Endpoint schema.

    Same fields, all optional: a Defaults document supplies any part of an endpoint's spec.
    `metadata` has a name (for messages), an optional namespace it is limited to, and tags.
    """
    import copy

    schema = copy.deepcopy(endpoint_schema())
    schema["title"] = "hfops Defaults (hfops/v1)"
    schema["properties"]["kind"] = {"const": "Defaults"}
    schema["properties"]["metadata"]["properties"]["name"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
    }

    def optional(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("required", None)
            for value in node.values():
                optional(value)

    optional(schema["properties"]["spec"])
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    return schema


@lru_cache(maxsize=1)
def _defaults_validator() -> Draft202012Validator:
    return strict_validator(defaults_schema())


def validate_defaults_document(document: Any) -> list[SchemaIssue]:
    if conforms(document, defaults_schema(), defaults_schema()):
        return []
    return _issues(_defaults_validator(), document)


def dotted(path: tuple[str | int, ...] | list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_sensitive(path: tuple[str | int, ...]) -> bool:
    return any(path[: len(root)] == root for root in _SENSITIVE_ROOTS)


def _show(value: Any, path: tuple[str | int, ...]) -> str:
    if _is_sensitive(path):
        return "(sensitive value)"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else type(value).__name__


def _schema_at(path: tuple[str | int, ...]) -> dict[str, Any]:
    node: dict[str, Any] = endpoint_schema()
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            extra = node.get("additionalProperties")
            node = extra if isinstance(extra, dict) else {}
        if "$ref" in node:
            node = endpoint_schema()["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


class SchemaIssue:
    """One schema violation: the path it concerns, the message, an optional hint."""

    __slots__ = ("hint", "message", "path")

    def __init__(self, path: tuple[str | int, ...], message: str, hint: str | None = None) -> None:
        self.path = path
        self.message = message
        self.hint = hint

    def __repr__(self) -> str:
        return f"SchemaIssue({dotted(self.path)!r}, {self.message!r})"


def _describe(error: ValidationError) -> list[SchemaIssue]:
    path = tuple(error.absolute_path)
    kind = error.validator
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    expected: Any = error.validator_value
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        issues = []
        for key in sorted(k for k in error.instance if k not in allowed):
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else (f"allowed: {', '.join(allowed)}" if allowed else None)
            )
            issues.append(SchemaIssue((*path, key), f"unknown field '{key}'", hint))
        return issues
    if kind == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else str(error.message)
        return [SchemaIssue((*path, missing), f"missing required field '{missing}'")]
    if kind == "type":
        wanted = expected
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        value = error.instance
        if names == ["integer"] and isinstance(value, float) and value.is_integer() and not _is_sensitive(path):
            return [
                SchemaIssue(
                    path,
                    f"must be an integer, not the decimal number {value!r}",
                    f"write {int(value)}, without the decimal point",
                )
            ]
        return [SchemaIssue(path, f"must be {want}, not {_type_name(value)}")]
    if kind == "const":
        return [SchemaIssue(path, f"must be {error.validator_value!r}, not {_show(error.instance, path)}")]
    if kind == "enum":
        choices = ", ".join(repr(c) for c in expected)
        hint = None
        if isinstance(error.instance, str):
            close = difflib.get_close_matches(error.instance, [str(c) for c in expected], n=1)
            hint = f"did you mean '{close[0]}'?" if close else None
        return [SchemaIssue(path, f"must be one of {choices}, not {_show(error.instance, path)}", hint)]
    if kind == "pattern":
        described = _schema_at(path).get("description")
        detail = f": {described}" if described else ""
        return [SchemaIssue(path, f"invalid value {_show(error.instance, path)}{detail}")]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        relation = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return [SchemaIssue(path, f"must be {relation} {error.validator_value}, not {error.instance}")]
    if kind in ("minLength", "maxLength"):
        relation = "at least" if kind == "minLength" else "at most"
        return [SchemaIssue(path, f"must be {relation} {error.validator_value} characters long")]
    if kind == "uniqueItems":
        return [SchemaIssue(path, "must not repeat items")]
    if kind == "maxItems":
        return [SchemaIssue(path, f"must have at most {error.validator_value} items")]
    if kind == "propertyNames":
        return [SchemaIssue(path, f"invalid name {_show(error.instance, ())}: use letters, digits and '_'")]
    message = error.message if not _is_sensitive(path) else "invalid value"
    return [SchemaIssue(path, message)]


def validate_document(document: Any) -> list[SchemaIssue]:
    """All schema violations of one manifest document, ordered by path."""
    if conforms(document, endpoint_schema(), endpoint_schema()):
        return []
    return _issues(_validator(), document)


def _issues(validator: Draft202012Validator, document: Any) -> list[SchemaIssue]:
    issues: list[SchemaIssue] = []
    errors = list(validator.iter_errors(document))
    bad_keys: set[tuple[str | int, ...]] = set()
    for error in errors:
        if "propertyNames" in error.schema_path:
            # jsonschema reports the offending key as the instance, at the parent's path. A key
            # under `secrets` may itself be a pasted `NAME=value`: never show it there.
            parent = tuple(error.absolute_path)
            bad_keys.add((*parent, str(error.instance)))
            sensitive = _is_sensitive((*parent, ""))
            shown = "(sensitive value)" if sensitive else repr(error.instance)
            where = parent if sensitive else (*parent, str(error.instance))
            issues.append(
                SchemaIssue(
                    where, f"invalid key {shown}: use letters, digits and '_', not starting with a digit"
                )
            )
    for error in errors:
        if "propertyNames" in error.schema_path or tuple(error.absolute_path)[:4] in {
            k[:4] for k in bad_keys if tuple(error.absolute_path)[: len(k)] == k
        }:
            continue
        issues.extend(_describe(error))
    issues.sort(key=lambda i: [str(p) for p in i.path])
    return issues
