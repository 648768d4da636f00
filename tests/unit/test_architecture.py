"""The architecture as a test that reads the imports (``ast``), so it cannot come back.

- No TRE module imports the synthetic world: the TRE is every ``fivesafes``
  module except ``fivesafes.synth``, ``fivesafes.demo`` and ``fivesafes.cli``.
- No import circles among ``fivesafes`` modules.

Imports counted: every ``import``/``from ... import`` anywhere in a module, at
module level or inside a function (a deferred import is still a dependency; it
only hides a circle from the interpreter). Imports under ``if TYPE_CHECKING:``
are left out (they are never executed). A package's ``__init__`` counts as the
package module; ``from pkg import name`` depends on ``pkg.name`` when that is a
module, else on ``pkg``. See docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "fivesafes"
OUTSIDE_TRE = ("fivesafes.synth", "fivesafes.demo", "fivesafes.cli")
PENDING: set[str] = set()  # every TRE module is free of the simulator


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The fivesafes modules ``name`` imports."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = name.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                pkg = ".".join(base + ([node.module] if node.module else []))
            else:
                pkg = node.module or ""
            targets = [
                f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in modules else pkg for a in node.names
            ]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith(ROOT) and target != name:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _outside_tre(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in OUTSIDE_TRE)


def test_the_graph_sees_imports() -> None:
    graph = import_graph()
    assert "fivesafes.synth.world" in graph
    assert "fivesafes.synth" in graph["fivesafes.demo.run"] or any(
        m.startswith("fivesafes.synth") for m in graph["fivesafes.demo.run"]
    )


def test_no_tre_module_imports_the_synthetic_world() -> None:
    offenders = {
        name: sorted(m for m in deps if m == "fivesafes.synth" or m.startswith("fivesafes.synth."))
        for name, deps in import_graph().items()
        if not _outside_tre(name) and name not in PENDING
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_cycles_are_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []
