"""What the notebook's test cells call: `check(name)` grades one check of the grading engine and prints its verdict.

- In Jupyter (a student running a public test cell), `nbgrader validate`, or any run that is not nbgrader's
  autograde: the check runs on the objects the kernel holds now, so an unsaved edit is what gets checked, and the
  cell's value is the check's points.
- Under `nbgrader autograde` (NBGRADER_EXECUTION=autograde) the kernel is the student's and decides nothing: the
  cell prints that it is graded outside the kernel, and the course's EngineScores preprocessor (in nbgrader's own
  process) replaces the cell's outputs with the engine's verdict and points (autograder/nbgrader_plugins.py).

A failure never raises: the verdict is printed (expected, observed, what to change) and the cell's value is 0, so
neither the cell's output nor the feedback shows a traceback of the hidden test. Anything the checks write to
standard error is captured, and shown on standard output after a failure (nbgrader gives 0 points to a cell that
wrote to stderr).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings

class GraderError(RuntimeError):
    """The grader itself failed (not the submission): the cell shows an error, and the instructor must look."""


def _autograding() -> bool:
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


@contextlib.contextmanager
def _quiet():
    """What the checked code prints (progress bars, warnings, stderr) goes to a buffer, shown only on a failure."""
    buffer = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(buffer):
        warnings.simplefilter("ignore")
        yield buffer


def _saved_code() -> bytes | None:
    """The code of the notebook this kernel runs, as grading extracts it, when Jupyter names the notebook
    (JPY_SESSION_NAME): a Check cell then draws the same secret plan as grading the saved file does."""
    from autograder.notebook import read_definitions

    path = os.environ.get("JPY_SESSION_NAME", "")
    if not path.endswith(".ipynb") or not os.path.isfile(path):
        return None
    definitions = read_definitions(path)
    return definitions.source.encode("utf-8", "surrogatepass") if definitions.blocks else None


WIDTH = 100  # a cell's output is preformatted text: nbgrader's feedback page clips long lines instead of wrapping


def verdict_text(verdict, report) -> str:
    """What a test cell shows for a verdict: the check, its status and points, the message, the notebook's
    problems (the same text in the kernel and in nbgrader's feedback), wrapped at WIDTH characters."""
    import textwrap

    from autograder.border import clean_text
    from autograder.checks import BY_NAME

    status = "passed" if verdict.passed else ("grader error" if verdict.internal_error else "failed")
    lines = [f"{BY_NAME[verdict.check].title}: {status} ({verdict.score:g} of {verdict.max_score:g} points)",
             clean_text(verdict.message, 4000)]
    if report.problems:
        lines.append(clean_text("Notebook problems: " + "; ".join(report.problems), 2000))
    from autograder.checks import PUBLIC, coverage_note

    if BY_NAME[verdict.check].visibility == PUBLIC:
        lines.append(f"Passing the public checks is not the grade: {coverage_note()}")
    return "\n".join(textwrap.fill(line, WIDTH, subsequent_indent="  ", break_long_words=False,
                                   break_on_hyphens=False) for text in lines for line in text.splitlines())


def check(name: str, namespace: dict | None = None) -> float | None:
    """Grades check `name` on this kernel's objects; prints its verdict; returns its points. Under nbgrader's
    autograde it grades nothing (see the module's docstring)."""
    if _autograding():  # before the name is looked up: the sandboxed kernel holds the public checks only
        print(f"`{name}` is graded by the grading engine outside this kernel; its verdict replaces this output.")
        return None
    from autograder.checks import BY_NAME, HIDDEN_INSTALLED

    if name not in BY_NAME:
        if not HIDDEN_INSTALLED:
            raise GraderError(f"`{name}` is a hidden check: it runs when your notebook is graded, not here")
        raise GraderError(f"no check named {name!r}; known: {sorted(BY_NAME)}")
    from autograder.grade import grade

    if namespace is None:  # the globals of the cell that called us: the notebook's own
        namespace = sys._getframe(1).f_globals
    with _quiet() as noise:
        try:
            report = grade("this notebook's kernel", names=[name], namespace=namespace,
                           secret_material=_saved_code())
        except Exception as err:  # noqa: BLE001 - reported as the grader's failure, never the student's
            raise GraderError(f"the grader failed ({type(err).__name__}: {err}); tell your instructor") from None
    verdict = next(v for v in report.verdicts if v.check == name)
    print(verdict_text(verdict, report))
    printed = noise.getvalue().replace("\r", "\n").strip()
    if printed and not verdict.passed:
        print("[what your code printed during the check, last lines]\n" + "\n".join(printed.splitlines()[-15:]))
    if verdict.internal_error:
        raise GraderError(f"the grader failed on {name}: {verdict.observed}")
    return float(verdict.score)
