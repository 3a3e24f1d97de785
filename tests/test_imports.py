"""No import cycle in quartdash: a module never needs, however indirectly, a module that
needs it.

The graph is read from the source (``ast``), not from what an import happens to load:
every ``import`` and ``from ... import`` counts, at module level, inside a function, or
under ``if TYPE_CHECKING:``. A cycle hidden from the interpreter by a deferred or
type-only import is still two modules that cannot be read, changed or tested apart.

Edges: ``from a.b import c`` needs ``a.b.c`` when that is a module, else ``a.b``. A module
also needs the packages it lives in, since importing it runs their ``__init__`` first,
except the top ``quartdash`` package: its ``__init__`` is the public facade, always
imported before anything inside it, so it is the graph's root rather than a node of a
cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import quartdash

ROOT = Path(quartdash.__file__).resolve().parent
TOP = "quartdash"


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _known(name: str, known: dict[str, Path]) -> str | None:
    """``name`` if it is a module of the package, else its nearest enclosing one."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of the package that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    needed: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            needed.update(filter(None, (_known(alias.name, known) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, one level up per extra dot
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                target = _known(f"{base}.{alias.name}", known)
                if target is not None:
                    needed.add(target)
    # Importing a.b.c runs a/__init__ and a/b/__init__ first (but see TOP).
    parent = name.rpartition(".")[0]
    while parent and parent != TOP:
        needed.add(parent)
        parent = parent.rpartition(".")[0]
    needed.discard(name)
    return {module for module in needed if module.split(".")[0] == TOP}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def tangles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of two or more modules (Tarjan): each is a
    set of modules that all need each other, and holds at least one cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per tangle, as the modules along it (the first repeated at the end)."""
    return [_one_cycle(component, edges) for component in tangles(edges)]


def _one_cycle(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's smallest module (breadth first)."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(edges[node] & component):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component of 2+ has one


def test_the_graph_sees_every_kind_of_import() -> None:
    """The reader itself: module level, TYPE_CHECKING, deferred and relative imports."""
    edges = graph()
    assert "quartdash.cluster.registry" in edges["quartdash.app"]  # module level
    assert "quartdash.cluster.redis" in edges["quartdash.cluster.factory"]  # in a function
    assert "quartdash.cluster.backplane" in edges["quartdash.cluster.registry"]  # TYPE_CHECKING
    assert "quartdash.signals" in edges["quartdash"]  # `from quartdash import signals`


def test_cycles_are_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}}
    assert sorted(cycles(edges)) == [["a", "b", "c", "a"], ["e", "e2", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_quartdash() -> None:
    edges = graph()
    report = []
    for component in tangles(edges):
        report.append("  " + " -> ".join(_one_cycle(component, edges)) + ", among:")
        report += [f"    {source} -> {target}" for source in sorted(component)
                   for target in sorted(edges[source] & component)]
    assert not report, "import cycles in quartdash:\n" + "\n".join(report)
