"""Extraction of the program the student ran (autograder/notebook.py), on notebooks built in memory: which statements
are kept, how each is classified and numbered, what is left out and what is reported."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.notebook import Definitions, execute_definitions, extract_definitions, read_definitions



def notebook(*cells):
    return new_notebook(cells=[new_code_cell(c) if isinstance(c, str) else c for c in cells])


def graded(source: str, grade_id: str, *, solution: bool = False, grade: bool = True):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": grade, "solution": solution, "locked": not solution,
                                 "points": 1}
    return cell


def test_definitions_and_statements_are_kept_in_order_with_their_cells_and_lines():
    """Are imports, defs, classes and literal constants definitions, the rest statements, each with its code cell
    (counted among code cells only) and its first line?"""
    nb = notebook("import torch\nX = 3\n\n\ndef f():\n    return X\n", new_markdown_cell("# text"),
                  "y = f() + 1\nprint(y)\n")
    found = extract_definitions(nb)
    assert [(b.cell, b.line, b.kind) for b in found.blocks] == [
        (1, 1, "definition"), (1, 2, "definition"), (1, 5, "definition"), (2, 1, "statement"), (2, 2, "statement")]
    assert found.names == {"torch", "X", "f", "y"} and found.problems == []
    assert found.blocks[2].source == "def f():\n    return X"


def test_a_decorated_definition_starts_at_its_decorator():
    found = extract_definitions(notebook("import functools\n\n@functools.lru_cache\ndef f(x):\n    return x\n"))
    assert found.blocks[1].line == 3 and found.blocks[1].source.startswith("@functools.lru_cache")


def test_statements_sharing_a_line_are_kept_apart_even_after_wide_characters():
    """Are `a = 1; b = 2` two statements, each with its own text, when the line holds non-ASCII characters before
    them (the parser's columns count UTF-8 bytes)?"""
    found = extract_definitions(notebook('s = "naïve — ünïcödé"; t = 2; print(s)\n'))
    assert [b.source for b in found.blocks] == ['s = "naïve — ünïcödé"', "t = 2", "print(s)"]


def test_the_graders_cells_and_the_lessons_experiments_are_left_out():
    """Are nbgrader test cells (graded, not solutions) and the experiment and data-loading cells never run, while a
    solution cell is kept?"""
    nb = notebook(graded("def train():\n    pass\n", "train", solution=True),
                  graded("check('shapes')\n", "check-shapes"),
                  graded("EPOCHS = 3000\n", "exp1", grade=False),
                  graded("tokens = load()\n", "load-data", grade=False))
    found = extract_definitions(nb)
    assert [b.source for b in found.blocks] == ["def train():\n    pass"]


def test_line_magics_are_dropped_and_the_rest_of_the_cell_kept():
    found = extract_definitions(notebook("%matplotlib inline\n!ls\nimport math\nZ = math.pi\n"))
    assert [b.source for b in found.blocks] == ["import math", "Z = math.pi"]


def test_a_syntax_error_skips_its_cell_only_and_says_where():
    found = extract_definitions(notebook("def ok():\n    return 1\n", "def broken(:\n", "Z = 2\n"))
    assert [b.source for b in found.blocks] == ["def ok():\n    return 1", "Z = 2"]
    assert found.problems and "code cell 2 has a syntax error (line 1" in found.problems[0]


def test_an_unreadable_file_gives_one_problem_and_no_definitions(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    found = read_definitions(path)
    assert found.blocks == [] and len(found.problems) == 1 and "could not be read as a Jupyter notebook" in found.problems[0]


def test_definitions_survive_the_trip_to_the_worker():
    found = extract_definitions(notebook("import math\nZ = math.pi\n"))
    assert Definitions.from_json(found.to_json()).blocks == found.blocks


def test_a_failing_statement_costs_nothing_by_itself_and_is_recorded_with_its_names():
    """Does execution go on past a statement that raises, recording the names it would have defined?"""
    found = extract_definitions(notebook("A = 1\nB = undefined_name + 1\ndef f():\n    return A\n"))
    namespace, failures = execute_definitions(found, {"__name__": "__main__"})
    assert namespace["f"]() == 1 and "B" not in namespace
    assert failures and failures[0]["names"] == ["B"] and failures[0]["type"] == "NameError"
    assert (failures[0]["cell"], failures[0]["line"]) == (1, 2)


def test_nbformat_3_notebooks_are_read(tmp_path):
    path = tmp_path / "old.ipynb"
    nbformat.write(notebook("Z = 1\n"), path, version=3)
    assert [b.source for b in read_definitions(path).blocks] == ["Z = 1"]


@pytest.mark.parametrize("magic", ["%%time", "%%capture", "%%capture out --no-stderr", "%%prun -q"])
def test_a_cell_under_a_python_cell_magic_is_graded_by_its_body(magic):
    """Is a train cell that starts with %%time (or %%capture) graded like the same cell without it, its lines
    numbered as in the notebook?"""
    found = extract_definitions(notebook(f"{magic}\nimport math\n\ndef train(x):\n    return math.tau\n"))
    assert [(b.line, b.source) for b in found.blocks] == [(2, "import math"),
                                                          (4, "def train(x):\n    return math.tau")]
    assert found.names == {"math", "train"} and found.problems == []


@pytest.mark.parametrize("magic", ["%%bash", "%%timeit -n 1"])
def test_a_cell_magic_that_defines_nothing_is_named_and_the_rest_graded(magic):
    """%%bash is not Python; %%timeit runs its body in a namespace of its own, in Jupyter too."""
    found = extract_definitions(notebook(f"{magic}\necho hi\n", "def train():\n    pass\n"))
    assert [b.source for b in found.blocks] == ["def train():\n    pass"]
    assert found.problems == [f"code cell 1 runs under {magic.split()[0]}, which does not define names in the "
                              "notebook's namespace: it was not run in grading (define what grading needs in plain "
                              "code cells)"]


def test_blank_lines_at_the_top_of_a_cell_keep_the_line_numbers():
    found = extract_definitions(notebook("\n\nx = f()\n", "\n%%time\n\ny = 2\n"))
    assert [(b.cell, b.line) for b in found.blocks] == [(1, 3), (2, 4)]
