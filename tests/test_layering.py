"""The packages' layering (docs/design.md): hybrid <- envs <- agents, no import circle, and no
module so long that it holds several concepts.

Every import counts, at module level or inside a function (``import x`` and ``from x import
y``, also under ``TYPE_CHECKING``): a function-level import that runs back up is a circle
that only happens to work because of the order in which modules are first imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hybrid", "envs", "agents")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the three packages it imports (anywhere in its code)."""
    paths = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # ``from package import module`` imports the module; otherwise the name's module.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base
                    for alias in node.names
                ]
            for target in targets:
                while target and target not in paths:  # ``import a.b.c`` of a name: its module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_imports_run_down_the_layers():
    """hybrid imports nothing from envs or agents, envs nothing from agents."""
    below = {"hybrid": ("envs", "agents"), "envs": ("agents",), "agents": ()}
    upward = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for target in targets
        for forbidden in below[name.split(".")[0]]
        if target == forbidden or target.startswith(forbidden + ".")
    ]
    assert upward == []


MAX_LINES = 700
"""A package module longer than this holds more than one concept: split it where one ends."""
LONG_FILES: set[str] = set()
"""Files allowed to be longer (none)."""


def test_no_package_module_is_too_long():
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }
    assert {p: n for p, n in lengths.items() if n > MAX_LINES and p not in LONG_FILES} == {}


def test_the_graph_sees_function_level_imports():
    """The check would catch a circle closed inside a function (it reads every import)."""
    graph = import_graph()
    assert "agents.ppo" in graph["agents.comparison"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


if __name__ == "__main__":
    for cycle in cycles(import_graph()):
        print(" <-> ".join(cycle))
