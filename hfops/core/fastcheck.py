"""A strict, dependency-free check that a document conforms to the manifest schema.

Importing jsonschema costs about 0.2 s (it loads every metaschema), which would make `hfops
validate` and every other command slow to start. Valid manifests, the common case, are
confirmed here instead; only a document this check does not accept is handed to jsonschema,
which then produces the located error messages. The check is never more lenient than jsonschema:
it understands only the keywords our schema uses, compares strictly (True is not 1, 1.0 is not
an integer here), and answers "no" for anything it does not understand, which only costs the
jsonschema fallback.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_KNOWN = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "$ref",
        "title",
        "description",
        "default",
        "type",
        "properties",
        "additionalProperties",
        "required",
        "const",
        "enum",
        "pattern",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "items",
        "uniqueItems",
        "maxItems",
        "propertyNames",
    }
)


@lru_cache(maxsize=64)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def conforms(instance: Any, schema: Any, root: dict[str, Any]) -> bool:
    """True only if `instance` certainly satisfies `schema`."""
    if schema is True:
        return True
    if not isinstance(schema, dict) or not set(schema) <= _KNOWN:
        return False
    if "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return False
        target = root.get("$defs", {}).get(ref[len("#/$defs/") :])
        if target is None or not conforms(instance, target, root):
            return False
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_TYPES.get(kind, lambda _v: False)(instance) for kind in kinds):
            return False
    if "const" in schema and not _same(instance, schema["const"]):
        return False
    if "enum" in schema and not any(_same(instance, choice) for choice in schema["enum"]):
        return False
    if isinstance(instance, str):
        if "pattern" in schema and not _regex(schema["pattern"]).search(instance):
            return False
        if len(instance) < schema.get("minLength", 0) or len(instance) > schema.get("maxLength", len(instance)):
            return False
    if isinstance(instance, (int, float)) and not isinstance(instance, bool):
        if "minimum" in schema and not instance >= schema["minimum"]:
            return False
        if "maximum" in schema and not instance <= schema["maximum"]:
            return False
    if isinstance(instance, dict):
        if any(key not in instance for key in schema.get("required", ())):
            return False
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        names = schema.get("propertyNames", True)
        for key, value in instance.items():
            if not isinstance(key, str) or not conforms(key, names, root):
                return False
            if key in properties:
                if not conforms(value, properties[key], root):
                    return False
            elif extra is False or not conforms(value, extra, root):
                return False
    if isinstance(instance, list):
        if len(instance) > schema.get("maxItems", len(instance)):
            return False
        if schema.get("uniqueItems") and any(_same(a, b) for i, a in enumerate(instance) for b in instance[i + 1 :]):
            return False
        if "items" in schema and not all(conforms(item, schema["items"], root) for item in instance):
            return False
    return True
