"""The architecture, enforced: which package may import which, and no import cycle anywhere.

The graph is built from the source (ast), counting every import: at module top, inside functions,
and under `if TYPE_CHECKING:`. `from a import b` is an edge to the module `a.b` when that is a module
of the project, else to `a`. Parent packages are not counted as imported (their `__init__` files are
kept empty or light, which the last test checks).

Layers of `shared/`, lowest first; a package imports only from packages below it (and itself):
platform, drift, repo, chain, model, serving, events, jobs, pages. `drift` imports nothing else from `shared`.
`functions/` imports the core only inside handlers, except the binding-time constants
(`shared.platform.names`, `shared.platform.settings.blob_source`). `devhost/` imports nothing from
`shared` or `functions`: it knows the FunctionApp and host.json only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", "node_modules", ".git", "bench/.venv-evidently"}
LAYERS = ("platform", "drift", "repo", "chain", "model", "serving", "events", "jobs", "pages")
BINDING_TIME = {"shared.platform.names", "shared.platform.settings"}


def project_modules() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if any(part.startswith(".") or part in SKIP for part in relative.parts):
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            modules[".".join(parts)] = path
    return modules


MODULES = project_modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports_of(module: str) -> list[tuple[str, bool]]:
    """(imported project module, at module top) for every import statement of `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    package = module if _is_package(module) else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.append((target, id(node) in top_level))
    return found


GRAPH = {module: sorted({target for target, _ in imports_of(module)}) for module in MODULES}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "shared" else None


def test_the_graph_sees_the_project():
    assert {"function_app", "shared.chain.runs", "shared.drift.decide", "devhost.host"} <= set(MODULES)
    assert "shared.platform.storage" in GRAPH["shared.chain.runs"]


def test_drift_imports_nothing_else_from_shared():
    wrong = [(m, t) for m in MODULES if layer(m) == "drift" for t in GRAPH[m]
             if t.startswith("shared") and layer(t) != "drift"]
    assert wrong == []


@pytest.mark.parametrize("package", LAYERS)
def test_each_layer_imports_only_layers_below_it(package):
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    wrong = [(m, t) for m in MODULES if layer(m) == package for t in GRAPH[m]
             if t.startswith("shared") and (layer(t) not in allowed or t == "shared")]
    assert wrong == [], f"{package} may import only {sorted(allowed)}"


def test_every_core_module_is_in_a_layer():
    loose = [m for m in MODULES if m.startswith("shared.") and layer(m) not in LAYERS]
    assert loose == []


def test_functions_import_the_core_only_inside_handlers():
    wrong = [(m, t) for m in MODULES if m.startswith("functions") or m == "function_app"
             for t, top in imports_of(m) if top and t.startswith("shared") and t not in BINDING_TIME]
    assert wrong == []


def test_devhost_knows_only_the_function_app():
    wrong = [(m, t) for m in MODULES if m.startswith("devhost") for t in GRAPH[m]
             if t.startswith(("shared", "functions"))]
    assert wrong == []


def find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, []):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


def test_no_import_cycle_anywhere():
    assert find_cycles(GRAPH) == []


def test_package_inits_of_the_core_import_nothing_at_module_top():
    heavy = [(m, t) for m in MODULES if m.startswith("shared") and _is_package(m)
             for t, top in imports_of(m) if top]
    # shared.drift's __init__ re-exports its config and error types (stdlib-only modules) for callers.
    assert [(m, t) for m, t in heavy if m != "shared.drift"] == []


def test_the_cli_talks_to_the_app_only_over_http_and_storage():
    wrong = [(m, t) for m in MODULES if m.startswith("cli") for t in GRAPH[m]
             if t.startswith(("functions", "devhost")) or t == "function_app"]
    assert wrong == []
