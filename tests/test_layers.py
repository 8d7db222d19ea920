"""The architecture, enforced: which hfops modules may import what (kopf's import-linter, by AST).

- the pure core (model, yaml_source, schema, manifest, diff, plan, render) never imports
  huggingface_hub, httpx2, the adapters, or the CLI;
- only the adapters (live, hub, tgi, retry) import huggingface_hub;
- the emulator imports nothing else from hfops;
- nothing imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hfops"
PURE = {
    "errors",
    "model",
    "yaml_source",
    "schema",
    "manifest",
    "diff",
    "plan",
    "render",
    "redact",
    "hardware",
    "importer",
    "fastcheck",
}
ADAPTERS = {"live", "hub", "tgi", "retry"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layering(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    name = relative.with_suffix("").as_posix().replace("/", ".")
    imported = imports_of(path)
    hfops_imports = {i for i in imported if i == "hfops" or i.startswith("hfops.")}
    if relative.parts[0] == "emulator":
        assert {i for i in hfops_imports if not i.startswith("hfops.emulator")} == set(), name
        return
    assert not any(i == "hfops.cli" or i.startswith("hfops.cli.") for i in imported) or name in (
        "cli",
        "demo",
    ), f"{name} imports the CLI"
    third_party_hub = {i for i in imported if i.split(".")[0] in ("huggingface_hub", "httpx2", "tenacity")}
    if name in PURE:
        assert not third_party_hub, f"pure module {name} imports {third_party_hub}"
        touched = {i.split(".")[1] for i in hfops_imports if i.count(".") >= 1}
        assert touched <= PURE, f"pure module {name} imports {touched - PURE}"
    elif name not in ADAPTERS:
        assert not third_party_hub, f"{name} must reach huggingface_hub through an adapter"


def test_cli_start_does_not_import_huggingface_hub() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hfops.cli\n"
        "heavy = [m for m in ('huggingface_hub', 'httpx2', 'jsonschema') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_manifest_schemas_are_valid_json_schema() -> None:
    # Checked here rather than at every run of hfops, to keep start-up fast.
    from jsonschema import Draft202012Validator

    from hfops.schema import defaults_schema, endpoint_schema

    Draft202012Validator.check_schema(endpoint_schema())
    Draft202012Validator.check_schema(defaults_schema())


def test_packaged_schema_is_the_repository_schema() -> None:
    packaged = PACKAGE / "schemas" / "endpoint.schema.json"
    assert packaged.read_text() == (PACKAGE.parent / "schemas" / "endpoint.schema.json").read_text()
