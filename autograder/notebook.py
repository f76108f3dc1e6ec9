"""Reads a submission notebook and keeps the program the student ran: every top-level statement of every code
cell, in order, except the lesson's own experiment cells (3000 epochs each) and its data-loading cell, whose names
the grader provides itself (GRADER_PROVIDED). Definitions (imports, defs, classes, literal constants) always run;
other statements run with a time budget, and one that fails costs nothing by itself: it is recorded with the names
it would have defined, so that a later failure can say why a name is missing. Problems are recorded, not raised."""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path


DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# The lesson's cells that grading never runs (nbgrader grade ids; locked in the source notebook): the two
# experiments, and the data loading, whose names the grader provides from its own (secretly permuted) data.
SKIPPED_CELLS = ("exp1", "exp2", "load-data")
GRADER_PROVIDED = ("tokens", "labels", "PAD", "VOCAB_SIZE")  # what the load-data cell defines that code may use
STATEMENT_SECONDS = 10.0  # one top-level statement that is not a definition (a student's own quick test, a plot)
STATEMENTS_SECONDS = 30.0  # all of them together; the rest are skipped, and recorded


@dataclass
class Block:
    """One kept top-level statement: the code cell it came from (counted among code cells, 1-based, as
    "code cell N"), its first line, and for a statement that is not a definition, the names it assigns."""

    cell: int
    line: int
    source: str
    kind: str = "definition"  # or "statement": runs with a time budget
    names: list[str] = field(default_factory=list)

    @property
    def filename(self) -> str:
        return f"code cell {self.cell}"

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


# Cell magics that run their body as the notebook's own code, in its namespace: grading keeps the body and drops
# the magic's line. Any other cell magic is not run (%%timeit defines nothing in the notebook's namespace in Jupyter
# either; %%bash, %%writefile are not Python), and the report names the cell.
PYTHON_CELL_MAGICS = ("time", "capture", "prun")


def _leading_blank_lines(source: str) -> tuple[int, str]:
    """How many whitespace-only lines start `source` (IPython drops them before anything else), and the rest."""
    lines = source.split("\n")
    count = 0
    while count < len(lines) - 1 and not lines[count].strip():
        count += 1
    return count, "\n".join(lines[count:])


def cell_magic(cell_source: str) -> str | None:
    """The name of the cell magic (`%%time`) a cell starts with, or None."""
    first = _leading_blank_lines(cell_source)[1].split("\n", 1)[0].strip()
    return first[2:].split(None, 1)[0] if first.startswith("%%") and first[2:].strip() else None


def _python_source(cell_source: str) -> str:
    """IPython syntax (%magics, !shell) rewritten as plain Python calls, which grading then drops. A cell under a
    cell magic that runs Python (PYTHON_CELL_MAGICS) keeps its body. Lines keep their numbers in the notebook."""
    skipped, source = _leading_blank_lines(cell_source)
    if cell_magic(source) in PYTHON_CELL_MAGICS:
        more, source = _leading_blank_lines(source.partition("\n")[2])
        skipped += 1 + more
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython a magic is a syntax error, reported for its cell
        return "\n" * skipped + source
    return "\n" * skipped + TransformerManager().transform_cell(source)


def _is_definition(node: ast.stmt) -> bool:
    """Imports, defs, classes and `NAME = <literal>` (or `= other_name`): cheap and side-effect free."""
    if isinstance(node, DEFINITIONS):
        return True
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


def _assigned_names(node: ast.stmt) -> list[str]:
    """Top-level names a statement binds (assignments, for/with targets, walrus), for messages."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    found: list[str] = []

    def visit(child):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store) and child.id not in found:
            found.append(child.id)
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return  # its own scope
        for grandchild in ast.iter_child_nodes(child):
            visit(grandchild)

    for child in ast.iter_child_nodes(node):
        visit(child)
    return found[:20]


def _is_magic(node: ast.stmt) -> bool:
    """A %magic or !shell line, as IPython rewrites it (get_ipython().run_line_magic(...)): not run in grading."""
    if not isinstance(node, (ast.Expr, ast.Assign)):
        return False
    call = node.value
    while isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
        call = call.func.value
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "get_ipython"


def _one_line_segment(line: str, node: ast.stmt) -> str:
    """The text of a statement that stands on one line with others. The parser's columns count UTF-8 bytes; this
    slices the one line (ast.get_source_segment splits the whole cell again for every statement: quadratic)."""
    return line.encode("utf-8", "surrogatepass")[node.col_offset:node.end_col_offset].decode("utf-8", "replace")


def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(isinstance(meta, dict) and meta.get("grade") and not meta.get("solution"))


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def extract_definitions(nb) -> Definitions:
    """Keeps each code cell's top-level statements, in notebook order. The notebook's test cells (nbgrader grade
    cells that are not solutions) are the grader's, not the student's, and SKIPPED_CELLS never run in grading.

    Total and bounded: whatever the notebook holds, this returns (never raises), in time linear in the code's size.
    A cell it cannot read (not text, too large, a syntax error, nested too deep to parse) is skipped and named in
    `problems`; past MAX_CODE_CELLS code cells or MAX_CODE_CHARS of code, the rest is skipped and named too."""
    result = Definitions()
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        result.problems.append("the notebook has no list of cells")
        return result
    code_cell, code_chars = 0, 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        code_cell += 1
        if _is_test_cell(cell) or _grade_id(cell) in SKIPPED_CELLS:
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)  # nbformat's on-disk form, should a caller pass it unread
        problem, stop = _cell_problem(source, code_cell, code_chars)
        if problem:
            result.problems.append(problem)
            if stop:
                break
            continue
        code_chars += len(source)
        try:
            _extract_cell(source, code_cell, result)
        except (RecursionError, MemoryError) as err:  # a statement nested too deep (or too large) to read
            result.blocks = [b for b in result.blocks if b.cell != code_cell]
            result.problems.append(f"code cell {code_cell} could not be read ({type(err).__name__}: an expression "
                                   "nested too deeply); its definitions were skipped")
    result.names = {name for block in result.blocks for name in block.names}
    return result


MAX_CODE_CELLS = 2000  # code cells graded; the lesson has about 20
MAX_CELL_CHARS = 500_000  # characters of code in one cell; the lesson's longest is under 2,000
MAX_CODE_CHARS = 2_000_000  # characters of code in the whole notebook


def _cell_problem(source, cell: int, so_far: int) -> tuple[str | None, bool]:
    """Why a code cell is not graded, found before it is parsed (or None), and whether the cells after it are
    skipped too."""
    if not isinstance(source, str):
        return f"code cell {cell}'s source is not text ({type(source).__name__}); its definitions were skipped", False
    if cell > MAX_CODE_CELLS:
        return f"the notebook has more than {MAX_CODE_CELLS} code cells; code cell {cell} and those after it were " \
               "skipped", True
    if len(source) > MAX_CELL_CHARS:
        return f"code cell {cell} holds {len(source):,} characters of code, more than the {MAX_CELL_CHARS:,} " \
               "graded; its definitions were skipped", False
    if so_far + len(source) > MAX_CODE_CHARS:
        return f"the notebook holds more than {MAX_CODE_CHARS:,} characters of code; code cell {cell} and those " \
               "after it were skipped", True
    magic = cell_magic(source)
    if magic is not None and magic not in PYTHON_CELL_MAGICS:
        return f"code cell {cell} runs under %%{magic[:40]}, which does not define names in the notebook's " \
               "namespace: it was not run in grading (define what grading needs in plain code cells)", False
    return None, False


def _extract_cell(cell_source: str, code_cell: int, result: Definitions) -> None:
    try:
        source = _python_source(cell_source)
        tree = ast.parse(source)
    except (SyntaxError, ValueError, TypeError) as err:
        line = getattr(err, "lineno", "?")
        result.problems.append(f"code cell {code_cell} has a syntax error (line {line}: "
                               f"{str(getattr(err, 'msg', err))[:200]}); its definitions were skipped")
        return
    lines = source.splitlines()
    for node in tree.body:
        if _is_magic(node):
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        segment = "\n".join(lines[first - 1: node.end_lineno])
        if first == node.lineno and node.end_lineno == node.lineno:  # `a = 1; b = 2`: its own part of the line
            segment = _one_line_segment(lines[first - 1], node) or segment
        kind = "definition" if _is_definition(node) else "statement"
        result.blocks.append(Block(cell=code_cell, line=first, source=segment.lstrip(), kind=kind,
                                   names=_assigned_names(node)))


MAX_NOTEBOOK_BYTES = 200 * 2**20  # a notebook file, outputs included (the lesson's, run: about 1 MB)


def read_notebook(path: str | os.PathLike):
    """The notebook (an nbformat NotebookNode), upgraded to nbformat 4; raises ValueError with a message a student
    can act on."""
    import nbformat  # not at the top: the worker, which never reads notebooks, starts faster without it

    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    except OSError as err:
        raise ValueError(f"{path} could not be read ({type(err).__name__})") from None
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path} is {size / 2**20:.0f} MB, more than the {MAX_NOTEBOOK_BYTES // 2**20} MB a "
                         "notebook may be: clear its outputs (Kernel > Restart & Clear Output) and save it again")
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


def answer_points(path: str | os.PathLike) -> dict[str, float]:
    """A notebook's manually graded answer cells (nbgrader grade id -> points): read, never scored, by the engine."""
    try:
        nb = read_notebook(path)
    except ValueError:
        return {}
    found = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("grade") and meta.get("solution") and meta.get("grade_id"):
            try:
                found[str(meta["grade_id"])] = float(meta.get("points", 0))
            except (TypeError, ValueError):
                continue
    return found


def manual_points(notebook: str | os.PathLike | None = None) -> float:
    """The points of the answers the instructor grades: the lesson's own answer cells (the grader package holds the
    solved lesson), else those of the notebook being checked (the student package, for what it tells the student)."""
    from autograder.resources import lesson_file

    try:
        source = lesson_file("rnn_embeddings.ipynb")
    except FileNotFoundError:
        source = notebook
    return sum(answer_points(source).values()) if source is not None and Path(source).is_file() else 0.0


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


class StatementTimeout(BaseException):
    """Raised in a top-level statement that ran past its budget (a BaseException: `except Exception` lets it by)."""


def execute_definitions(definitions: Definitions, namespace: dict | None = None, *,
                        budget: tuple[float, float] | None = None) -> tuple[dict, list[dict]]:
    """Runs each block in one namespace, going on past failures; returns the namespace and the failures.

    With `budget` (seconds per statement, seconds for all statements), statements that are not definitions are
    interrupted past their time (SIGALRM: the main thread only) and, once the total is spent, skipped."""
    import linecache
    import signal
    import threading
    import time

    namespace = namespace if namespace is not None else {"__name__": "submission"}
    cells: dict[str, list[str]] = {}
    for block in definitions.blocks:  # so that tracebacks quote the student's lines
        lines = cells.setdefault(block.filename, [])
        block_lines = block.source.splitlines(keepends=True)
        lines.extend(["\n"] * max(0, block.line - 1 + len(block_lines) - len(lines)))
        lines[block.line - 1: block.line - 1 + len(block_lines)] = block_lines
    for filename, lines in cells.items():
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    timed = budget is not None and threading.current_thread() is threading.main_thread()
    left = budget[1] if budget else float("inf")
    failures = []

    def interrupt(signum, frame):
        raise StatementTimeout()

    previous = signal.signal(signal.SIGALRM, interrupt) if timed else None
    try:
        for block in definitions.blocks:
            record = {"cell": block.cell, "line": block.line, "kind": block.kind, "names": block.names}
            if block.kind == "statement" and timed and left <= 0:
                failures.append({**record, "type": "Skipped", "message": "not run: the time for top-level "
                                 f"statements ({budget[1]:.0f} s) was spent by earlier ones"})
                continue
            start = time.monotonic()
            if block.kind == "statement" and timed:
                signal.setitimer(signal.ITIMER_REAL, max(0.01, min(budget[0], left)))
            try:
                exec(block.compile(), namespace)  # noqa: S102 - the student's code, inside the worker
            except StatementTimeout:
                failures.append({**record, "type": "Timeout", "message": f"still running after {budget[0]:.0f} s; "
                                 "grading does not run long top-level work (your experiments)"})
            except BaseException as err:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from student code too
                try:
                    message = str(err)[:300]
                except Exception:  # noqa: BLE001
                    message = "(its message could not be read)"
                failures.append({**record, "type": type(err).__name__, "message": message})
            finally:
                if block.kind == "statement" and timed:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    left -= time.monotonic() - start
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return namespace, failures


def load_definitions(path: str | os.PathLike) -> dict:
    """Executes a notebook's definitions in a fresh namespace and returns it (for the kit's own tests)."""
    definitions = read_definitions(path)
    namespace, failures = execute_definitions(definitions)
    if definitions.problems or failures:
        raise ValueError("; ".join(definitions.problems + [str(f) for f in failures]))
    return namespace
