"""Reads a submission notebook and keeps only what grading needs: imports, function and class definitions, and
constants, never the data download or the training experiments. Problems are recorded, not raised."""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path


KEPT_STATEMENTS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Block:
    """One kept top-level statement: the code cell it came from (1-based among all cells) and its first line."""

    cell: int
    line: int
    source: str

    @property
    def filename(self) -> str:
        return f"cell {self.cell}"

    def compile(self):
        """Compiled so that tracebacks say `cell N`, line numbers as in the notebook cell."""
        return compile("\n" * (self.line - 1) + self.source, self.filename, "exec")


@dataclass
class Definitions:
    """The definitions extracted from a notebook, the names they define, and what could not be read."""

    blocks: list[Block] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return "\n\n".join(f"# {b.filename}, line {b.line}\n{b.source}" for b in self.blocks) + "\n"

    def to_json(self) -> dict:
        return {"blocks": [vars(b) for b in self.blocks], "problems": self.problems}

    @classmethod
    def from_json(cls, data: dict) -> "Definitions":
        return cls(blocks=[Block(**b) for b in data["blocks"]], problems=list(data["problems"]))


def _python_source(cell_source: str) -> str:
    """IPython syntax (%magics, !shell) rewritten as plain Python calls, which grading then drops."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython a magic is a syntax error, reported for its cell
        return cell_source
    return TransformerManager().transform_cell(cell_source)


def _kept_assignment(node: ast.stmt) -> bool:
    """`NAME = <literal>` or `NAME = other_name`: cheap, side-effect free, and a definition may refer to it."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return False
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not all(isinstance(t, ast.Name) for t in targets):
        return False
    if isinstance(node.value, (ast.Name, ast.Attribute)):
        return True
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(isinstance(meta, dict) and meta.get("grade") and not meta.get("solution"))


def extract_definitions(nb) -> Definitions:
    """Keeps each code cell's top-level imports, defs, classes and literal constants, in notebook order. The
    notebook's test cells (nbgrader grade cells that are not solutions) are the grader's, not the student's: skipped."""
    result = Definitions()
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or _is_test_cell(cell):
            continue
        try:
            source = _python_source(cell.get("source", ""))
            tree = ast.parse(source)
        except (SyntaxError, ValueError) as err:
            line = getattr(err, "lineno", "?")
            result.problems.append(f"cell {index + 1} has a syntax error (line {line}: {getattr(err, 'msg', err)}); "
                                   "its definitions were skipped")
            continue
        for node in tree.body:
            if isinstance(node, KEPT_STATEMENTS) or _kept_assignment(node):
                segment = ast.get_source_segment(source, node, padded=True) or ""
                first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                if getattr(node, "decorator_list", None):
                    segment = "\n".join(source.splitlines()[first - 1: node.end_lineno])
                result.blocks.append(Block(cell=index + 1, line=first, source=segment.lstrip()))
                result.names |= _defined_names(node)
    return result


def read_notebook(path: str | os.PathLike):
    """The notebook (an nbformat NotebookNode), upgraded to nbformat 4; raises ValueError with a message a student
    can act on."""
    import nbformat  # not at the top: the worker, which never reads notebooks, starts faster without it

    path = Path(path)
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start})") from None
    except Exception as err:  # nbformat raises JSON, validation and OS errors alike
        raise ValueError(f"{path} could not be read as a Jupyter notebook ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:200] if str(err) else ''})") from None


ANSWER_STUB = "YOUR ANSWER HERE"  # what nbgrader leaves in a manually graded answer cell (ClearSolutions.text_stub)


def unanswered_questions(path: str | os.PathLike) -> list[str]:
    """The grade ids of manually graded answer cells still holding nbgrader's stub (or nothing)."""
    try:
        nb = read_notebook(path)
    except ValueError:
        return []
    found = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
            if cell.source.strip() in ("", ANSWER_STUB):
                found.append(meta.get("grade_id", "?"))
    return found


def read_definitions(path: str | os.PathLike) -> Definitions:
    """extract_definitions for a notebook file; an unreadable file gives no definitions and one problem."""
    try:
        nb = read_notebook(path)
    except ValueError as err:
        return Definitions(problems=[str(err)])
    return extract_definitions(nb)


def execute_definitions(definitions: Definitions, namespace: dict | None = None) -> tuple[dict, list[dict]]:
    """Runs each block in one namespace, going on past failures; returns the namespace and the failures."""
    import linecache

    namespace = namespace if namespace is not None else {"__name__": "submission"}
    cells: dict[str, list[str]] = {}
    for block in definitions.blocks:  # so that tracebacks quote the student's lines
        lines = cells.setdefault(block.filename, [])
        block_lines = block.source.splitlines(keepends=True)
        lines.extend(["\n"] * max(0, block.line - 1 + len(block_lines) - len(lines)))
        lines[block.line - 1: block.line - 1 + len(block_lines)] = block_lines
    for filename, lines in cells.items():
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    failures = []
    for block in definitions.blocks:
        try:
            exec(block.compile(), namespace)  # noqa: S102 - the student's definitions, inside the worker
        except BaseException as err:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from student code too
            failures.append({"cell": block.cell, "line": block.line, "type": type(err).__name__,
                             "message": str(err)[:300]})
    return namespace, failures


def load_definitions(path: str | os.PathLike) -> dict:
    """Executes a notebook's definitions in a fresh namespace and returns it (for the kit's own tests)."""
    definitions = read_definitions(path)
    namespace, failures = execute_definitions(definitions)
    if definitions.problems or failures:
        raise ValueError("; ".join(definitions.problems + [str(f) for f in failures]))
    return namespace
