"""The kit's structure: no import circle (counting imports inside functions too, so none runs back up), and every
module importable alone, in a fresh interpreter, in any order."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "autograder"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The kit's modules that `path` imports, wherever the import statement stands (module level or in a function)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name.startswith("autograder"):
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = set(modules())
    graph = {name: imports_of(path, known) - {name} for name, path in modules().items()}
    for name in graph:  # importing a.b runs a/__init__.py first: that is not an edge of a's making
        graph[name] = {m for m in graph[name] if m != "autograder"}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_not_even_inside_functions():
    """Is the import graph of the kit's modules, counting imports made inside functions, free of circles? (A lazy
    import that closes a circle is an import running back up: the layering it breaks is the same.)"""
    assert cycles(import_graph()) == []


def test_public_modules_do_not_import_hidden_ones():
    """Does only the registry (checks.py) and the grader-only modules reach into autograder.hidden? The student
    package ships without it."""
    grader_only = {"autograder.calibrate", "autograder.build", "autograder.test_graders", "autograder.gradescope"}
    reaching = {name for name, deps in import_graph().items()
                if not name.startswith("autograder.hidden") and any(d.startswith("autograder.hidden") for d in deps)}
    assert reaching <= {"autograder.checks"} | grader_only, reaching


def test_hidden_modules_use_no_private_name_of_a_public_one():
    """Does the hidden side import only public names (no `_helper`) of the shared modules?"""
    private = []
    for name, path in modules().items():
        if not name.startswith("autograder.hidden"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autograder"):
                private += [f"{name}: {node.module}.{a.name}" for a in node.names
                            if a.name.startswith("_") and not (node.module or "").startswith("autograder.hidden")]
    assert private == []


def _import_alone(name: str) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    return name, "" if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.ci_only  # a fresh interpreter per module (about 40 s); the import graph above is checked in every run
def test_every_module_imports_alone_in_a_fresh_interpreter():
    """Can each module be imported first, on its own? (An import circle shows up as an ImportError of a partially
    initialized module when the wrong one comes first.)"""
    names = [n for n in modules() if n not in ("autograder.__main__",)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = {name: error for name, error in pool.map(_import_alone, names) if error}
    assert failures == {}
