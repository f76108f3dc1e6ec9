"""What the notebook's test cells call: `check(name)` grades one check of the grading engine and returns its points,
which nbgrader reads as the cell's score (a test cell whose last value is a number gets that many points).

Two ways to grade, one engine:

- Under `nbgrader autograde` (nbgrader sets NBGRADER_EXECUTION=autograde) the first test cell grades the notebook
  file nbgrader is executing (the submission with its test cells restored) exactly as `autograder grade` does:
  definitions read from the file, every check at once, probes in worker processes with time limits. Later cells read
  the same report. The points therefore match the CLI's check by check, and nothing the student's kernel holds (a
  patched torch, a changed global) reaches the judges.
- Anywhere else (a student running a public test cell in Jupyter, `nbgrader validate`) the check runs on the objects
  the kernel holds now, so an unsaved edit is what gets checked.

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
from pathlib import Path

NOTEBOOK = "rnn_embeddings.ipynb"  # the assignment's notebook (course.ASSIGNMENT); the file autograde executes
_reports: dict[tuple, object] = {}  # (notebook path, mtime) -> its GradeReport, for the other test cells


class GraderError(RuntimeError):
    """The grader itself failed (not the submission): the cell shows an error, and the instructor must look."""


def _autograding() -> bool:
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


def _notebook_file() -> Path:
    named = Path(os.environ.get("AUTOGRADER_NOTEBOOK", NOTEBOOK))
    if named.is_file():
        return named
    found = sorted(Path.cwd().glob("*.ipynb"))
    if len(found) == 1:
        return found[0]
    raise GraderError(f"cannot tell which notebook to grade in {Path.cwd()} (found {[p.name for p in found]}); "
                      "set AUTOGRADER_NOTEBOOK")


@contextlib.contextmanager
def _quiet():
    """What the checked code prints (progress bars, warnings, stderr) goes to a buffer, shown only on a failure."""
    buffer = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(buffer):
        warnings.simplefilter("ignore")
        yield buffer


def _report_for(name: str, namespace: dict):
    from autograder.grade import grade

    if not _autograding():
        return grade("this notebook's kernel", names=[name], namespace=namespace)
    path = _notebook_file().resolve()
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _reports:
        _reports[key] = grade(path)
    return _reports[key]


def check(name: str, namespace: dict | None = None) -> float:
    """Grades check `name`; prints its verdict; returns its points (nbgrader's partial credit for the cell)."""
    from autograder.checks import BY_NAME

    if name not in BY_NAME:
        raise GraderError(f"no check named {name!r}; known: {sorted(BY_NAME)}")
    if namespace is None:  # the globals of the cell that called us: the notebook's own
        namespace = sys._getframe(1).f_globals
    with _quiet() as noise:
        try:
            report = _report_for(name, namespace)
        except Exception as err:  # noqa: BLE001 - reported as the grader's failure, never the student's
            raise GraderError(f"the grader failed ({type(err).__name__}: {err}); tell your instructor") from None
    verdict = next(v for v in report.verdicts if v.check == name)
    check_ = BY_NAME[name]
    status = "passed" if verdict.passed else ("grader error" if verdict.internal_error else "failed")
    print(f"{check_.title}: {status} ({verdict.score:g} of {verdict.max_score:g} points)")
    print(verdict.message)
    if report.problems:
        print("Notebook problems: " + "; ".join(report.problems))
    printed = noise.getvalue().replace("\r", "\n").strip()
    if printed and not verdict.passed:
        print("[what your code printed during the check, last lines]\n" + "\n".join(printed.splitlines()[-15:]))
    if verdict.internal_error:
        raise GraderError(f"the grader failed on {name}: {verdict.observed}")
    return float(verdict.score)
