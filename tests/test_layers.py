"""The architecture, enforced by folder: which hfops layers may import what (by AST).

    hfops/core/       pure: model, field catalogue, manifest loading, diff, plan, render
    hfops/adapters/   the outside world: huggingface_hub, TGI, files, credential sinks, retry, console
    hfops/workflows/  plan, apply, credentials, status, verify, destroy, import, demo
    hfops/cli/        parse, call one workflow, render, exit code
    hfops/emulator/   a separate program: imports nothing else from hfops
    hfops/operator/   the Kubernetes operator (kopf): another caller of the workflows, like the CLI

Each layer imports only itself and the layers below it; only adapters import huggingface_hub,
httpx2 or tenacity; nothing imports the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hfops"
# What each layer may import from hfops (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "adapters": {"core"},
    "workflows": {"core", "adapters", "emulator"},  # the demo runs the built-in emulator
    "cli": {"core", "adapters", "workflows", "emulator"},
    "emulator": set(),
    "operator": {"core", "adapters", "workflows"},
}
NETWORK_LIBRARIES = ("huggingface_hub", "httpx2", "tenacity", "kubernetes")


def imports_of(path: Path, *, names: bool = False) -> set[str]:
    """Modules a file imports; with `names`, also `module.name` for each `from module import name`."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if names:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if len(p.relative_to(PACKAGE).parts) > 1)


def test_every_module_is_in_a_layer() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py"], f"modules outside a layer folder: {top}"
    assert {p.relative_to(PACKAGE).parts[0] for p in modules()} <= set(ALLOWED)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layering(path: Path) -> None:
    layer = path.relative_to(PACKAGE).parts[0]
    imported = imports_of(path)
    layers_used = {i.split(".")[1] for i in imported if i.startswith("hfops.") and i.count(".") >= 1}
    foreign = layers_used - {layer} - ALLOWED[layer]
    assert not foreign, f"{layer} module imports {sorted(foreign)}"
    network = {i for i in imported if i.split(".")[0] in NETWORK_LIBRARIES}
    if layer != "adapters":
        assert not network, f"{layer} module imports {sorted(network)}: only adapters may"


def test_no_import_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in modules():
        name = "hfops." + path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        name = name.removesuffix(".__init__")
        graph[name] = {i for i in imports_of(path, names=True) if i.startswith("hfops.")}
    for name in graph:  # `from hfops.x import y`: module x.y if there is one, else module x
        graph[name] = {i if i in graph else i.rpartition(".")[0] for i in graph[name]} & set(graph)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, node, nxt]))
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_cli_start_does_not_import_huggingface_hub() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hfops.cli\n"
        "heavy = [m for m in ('huggingface_hub', 'httpx2', 'jsonschema', 'kubernetes') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_manifest_schemas_are_valid_json_schema() -> None:
    # Checked here rather than at every run of hfops, to keep start-up fast.
    from jsonschema import Draft202012Validator

    from hfops.core.schema import defaults_schema, endpoint_schema

    Draft202012Validator.check_schema(endpoint_schema())
    Draft202012Validator.check_schema(defaults_schema())


def test_packaged_schema_is_the_repository_schema() -> None:
    packaged = PACKAGE / "schemas" / "endpoint.schema.json"
    assert packaged.read_text() == (PACKAGE.parent / "schemas" / "endpoint.schema.json").read_text()
