"""The fast conformance check is never more lenient than jsonschema (it only saves its import)."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from hfops.core.fastcheck import conforms
from hfops.core.schema import defaults_schema, endpoint_schema, strict_validator

ROOT = Path(__file__).resolve().parents[1]


def documents() -> list[Any]:
    found: list[Any] = []
    for path in sorted(
        [*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("manifests/**/*.yaml"), *ROOT.glob("tests/data/bad/*.yaml")]
    ):
        if "alias" in path.name:
            continue  # alias bombs expand exponentially in any tree walk; hfops refuses them before
        try:
            found.extend(d for d in yaml.safe_load_all(path.read_text()) if d is not None)
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
    return found


VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    15.0,
    512.0,
    2.5,
    100,
    10**6,
    "",
    "x",
    "X_1",
    "gpu",
    "hfops/v1",
    "Endpoint",
    "-bad",
    "a" * 40,
    [],
    ["a"],
    ["a", "a"],
    {},
    {"fromEnv": "A"},
    {"x": 1},
]


def mutations(document: dict[str, Any], rng: random.Random, count: int) -> list[Any]:
    out = []
    for _ in range(count):
        mutated = copy.deepcopy(document)
        node: Any = mutated
        path: list[Any] = []
        while isinstance(node, dict) and node and rng.random() < 0.8:
            key = rng.choice(sorted(node))
            path.append(key)
            if not isinstance(node[key], dict):
                break
            node = node[key]
        parent: Any = mutated
        for key in path[:-1]:
            parent = parent[key]
        if path:
            choice = rng.random()
            if choice < 0.15:
                parent.pop(path[-1])
            elif choice < 0.3:
                parent[path[-1] + "x"] = rng.choice(VALUES)
            else:
                parent[path[-1]] = rng.choice(VALUES)
        out.append(mutated)
    return out


@pytest.mark.parametrize("schema_of", [endpoint_schema, defaults_schema], ids=["endpoint", "defaults"])
def test_never_accepts_what_jsonschema_rejects(schema_of: Any) -> None:
    schema = schema_of()
    validator = strict_validator(schema)  # the validator hfops uses: `integer` excludes 512.0
    rng = random.Random(20261125)
    seen_valid = seen_invalid = 0
    for document in documents():
        if schema_of is defaults_schema and isinstance(document, dict) and document.get("kind") == "Endpoint":
            document = {**document, "kind": "Defaults"}
        candidates = [document]
        if isinstance(document, dict):
            candidates += mutations(document, rng, 150)
        for candidate in candidates:
            valid = validator.is_valid(candidate)
            if conforms(candidate, schema, schema):
                assert valid, candidate
            seen_valid += valid
            seen_invalid += not valid
    assert seen_valid > 20 and seen_invalid > 1000  # both sides were really exercised


def test_accepts_the_shipped_examples() -> None:
    schema = endpoint_schema()
    for document in yaml.safe_load_all((ROOT / "examples" / "chat-scale-to-zero.yaml").read_text()):
        assert conforms(document, schema, schema)


INTEGER_FIELDS = [
    ("scaling", "minReplica", 0.0),
    ("scaling", "maxReplica", 1.0),
    ("scaling", "scaleToZeroTimeout", 15.0),
    ("image", "maxInputTokens", 256.0),
    ("image", "maxTotalTokens", 512.0),
    ("genstudio", "contextWindow", 512.0),
]


@pytest.mark.parametrize(("section", "key", "value"), INTEGER_FIELDS, ids=[k for _, k, _ in INTEGER_FIELDS])
def test_integers_written_as_decimals_are_refused_by_both_checks(section: str, key: str, value: float) -> None:
    """JSON Schema itself calls 15.0 an integer; the API and GenStudio do not, so neither does hfops."""
    schema = endpoint_schema()
    document: dict[str, Any] = {
        "apiVersion": "hfops/v1",
        "kind": "Endpoint",
        "metadata": {"name": "x"},
        "spec": {
            "model": {"repository": "gpt2"},
            "compute": {
                "vendor": "aws",
                "region": "us-east-1",
                "accelerator": "cpu",
                "instanceType": "intel-icl",
                "instanceSize": "x1",
            },
        },
    }
    document["spec"].setdefault(section, {})[key] = int(value)
    assert conforms(document, schema, schema) and strict_validator(schema).is_valid(document)
    document["spec"][section][key] = value
    assert Draft202012Validator(schema).is_valid(document)  # what plain JSON Schema would let through
    assert not conforms(document, schema, schema)
    assert not strict_validator(schema).is_valid(document)
