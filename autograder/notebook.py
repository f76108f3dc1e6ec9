"""Reads a submission notebook and keeps only what grading needs: imports, function and class definitions, and
constants, never the data download or the training experiments. Problems are recorded, not raised."""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

KEPT_STATEMENTS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Definitions:
    """The definitions extracted from a notebook, as one source text, and what could not be read."""

    source: str = ""
    problems: list[str] = field(default_factory=list)


def _python_source(cell_source: str) -> str:
    """IPython syntax (%magics, !shell) rewritten as plain Python calls, which grading then drops."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython a magic is a syntax error, reported for its cell
        return cell_source
    return TransformerManager().transform_cell(cell_source)


def _is_constant(node: ast.stmt) -> bool:
    """`NAME = <literal>`: cheap and side-effect free, and a definition may refer to it."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return False
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not all(isinstance(t, ast.Name) for t in targets):
        return False
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def extract_definitions(nb: nbformat.NotebookNode) -> Definitions:
    """Keeps each code cell's top-level imports, defs, classes and literal constants, in notebook order."""
    result = Definitions()
    kept: list[str] = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        try:
            source = _python_source(cell.get("source", ""))
            tree = ast.parse(source)
        except SyntaxError as err:
            result.problems.append(f"code cell {index + 1} has a syntax error (line {err.lineno}: {err.msg}); "
                                   "its definitions were skipped")
            continue
        for node in tree.body:
            if isinstance(node, KEPT_STATEMENTS) or _is_constant(node):
                kept.append(f"# cell {index + 1}, line {node.lineno}\n{ast.get_source_segment(source, node)}")
    result.source = "\n\n".join(kept) + "\n"
    return result


def read_definitions(path: str | os.PathLike) -> Definitions:
    """extract_definitions for a notebook file; an unreadable file gives no source and one problem."""
    try:
        nb = nbformat.read(Path(path), as_version=4)
    except Exception as err:  # nbformat raises JSON, validation, OS and Unicode errors alike
        return Definitions(problems=[f"{path} could not be read as a notebook ({type(err).__name__}: {err})"])
    return extract_definitions(nb)


def load_definitions(path: str | os.PathLike) -> dict:
    """Executes a notebook's definitions in a fresh namespace and returns it (for the kit's own tests)."""
    definitions = read_definitions(path)
    if definitions.problems:
        raise ValueError("; ".join(definitions.problems))
    namespace: dict = {"__name__": "submission"}
    exec(compile(definitions.source, str(path), "exec"), namespace)  # noqa: S102 - trusted: the kit's own notebook
    return namespace
