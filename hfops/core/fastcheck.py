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
from collections.abc import Callable
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
    """True only if `instance` certainly satisfies `schema`.

    The schema is compiled once into a tree of closures (`_compile`), each of which knows which of
    its keywords are present: 5,000 manifests are 225,000 schema nodes to check, and reading the
    keywords of each node again for each one was most of the time spent loading them.
    """
    return _compiled(schema, root)(instance)


Check = Callable[[Any], bool]
_COMPILED: dict[tuple[int, int], tuple[Any, Any, Check]] = {}


def _compiled(schema: Any, root: dict[str, Any]) -> Check:
    key = (id(schema), id(root))
    cached = _COMPILED.get(key)
    if cached is not None and cached[0] is schema and cached[1] is root:
        return cached[2]
    check = _compile(schema, root, {})
    # The schema objects are kept with their check, so their ids cannot be reused by others.
    _COMPILED[key] = (schema, root, check)
    return check


def _yes(_value: Any) -> bool:
    return True


def _no(_value: Any) -> bool:
    return False


def _compile(schema: Any, root: dict[str, Any], refs: dict[str, Check]) -> Check:
    """The check of one schema node; `refs` holds the checks of `$defs` entries being compiled."""
    if schema is True:
        return _yes
    if not isinstance(schema, dict) or not set(schema) <= _KNOWN:
        return _no
    checks: list[Check] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            return _no
        name = ref[len("#/$defs/") :]
        target = root.get("$defs", {}).get(name)
        if target is None:
            return _no
        if name not in refs:
            # A forward cell first: a definition may refer to itself, directly or not.
            cell: list[Check] = []
            refs[name] = lambda value: cell[0](value)
            cell.append(_compile(target, root, refs))
        checks.append(refs[name])
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        predicates = tuple(_TYPES.get(kind, _no) for kind in kinds)
        if len(predicates) == 1:
            checks.append(predicates[0])
        else:
            checks.append(lambda value: any(p(value) for p in predicates))
    if "const" in schema:
        const = schema["const"]
        checks.append(lambda value: _same(value, const))
    if "enum" in schema:
        choices = tuple(schema["enum"])
        checks.append(lambda value: any(_same(value, choice) for choice in choices))
    string_checks = _string_checks(schema)
    if string_checks is not None:
        checks.append(lambda value: not isinstance(value, str) or string_checks(value))
    number_checks = _number_checks(schema)
    if number_checks is not None:
        checks.append(
            lambda value: not isinstance(value, (int, float)) or isinstance(value, bool) or number_checks(value)
        )
    object_check = _object_check(schema, root, refs)
    if object_check is not _yes:
        checks.append(object_check)
    list_check = _list_check(schema, root, refs)
    if list_check is not None:
        checks.append(lambda value: not isinstance(value, list) or list_check(value))
    return _all_of(checks)


def _all_of(checks: list[Check]) -> Check:
    """One check that passes when each passes, without a generator per call for the usual few."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)
    if len(checks) == 3:
        first, second, third = checks
        return lambda value: first(value) and second(value) and third(value)
    every = tuple(checks)

    def check(value: Any) -> bool:
        for one in every:  # noqa: SIM110  (all() would make a generator per call)
            if not one(value):
                return False
        return True

    return check


def _string_checks(schema: dict[str, Any]) -> Check | None:
    if not {"pattern", "minLength", "maxLength"} & set(schema):
        return None
    search = _regex(schema["pattern"]).search if "pattern" in schema else None
    shortest = schema.get("minLength", 0)
    longest = schema.get("maxLength")

    def check(value: str) -> bool:
        if search is not None and not search(value):
            return False
        return not (len(value) < shortest or (longest is not None and len(value) > longest))

    return check


def _number_checks(schema: dict[str, Any]) -> Check | None:
    if "minimum" not in schema and "maximum" not in schema:
        return None
    has_min, low = "minimum" in schema, schema.get("minimum")
    has_max, high = "maximum" in schema, schema.get("maximum")

    def check(value: Any) -> bool:
        if has_min and not value >= low:
            return False
        return not (has_max and not value <= high)

    return check


def _object_check(schema: dict[str, Any], root: dict[str, Any], refs: dict[str, Check]) -> Check:
    required = tuple(schema.get("required", ()))
    properties = {key: _compile(sub, root, refs) for key, sub in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is False else _compile(extra, root, refs)
    names = _compile(schema.get("propertyNames", True), root, refs)
    if not required and not properties and extra_check is _yes and names is _yes:
        return _yes

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for key in required:
            if key not in value:
                return False
        for key, item in value.items():
            if not isinstance(key, str) or (names is not _yes and not names(key)):
                return False
            sub = properties.get(key)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra_check is None or not extra_check(item):
                return False
        return True

    return check


def _list_check(schema: dict[str, Any], root: dict[str, Any], refs: dict[str, Check]) -> Check | None:
    if not {"maxItems", "uniqueItems", "items"} & set(schema):
        return None
    most = schema.get("maxItems")
    unique = bool(schema.get("uniqueItems"))
    items = _compile(schema["items"], root, refs) if "items" in schema else None

    def check(value: list[Any]) -> bool:
        if most is not None and len(value) > most:
            return False
        if unique and any(_same(a, b) for i, a in enumerate(value) for b in value[i + 1 :]):
            return False
        return items is None or all(items(item) for item in value)

    return check
