"""One grades table, whichever path graded: the same columns in `autograder batch`'s DIR/grades.csv and in
`autograder nbgrader-report COURSE --out grades.csv` (nbgrader autograde, or a batch written into the gradebook with
--gradebook, then the answers graded in formgrader).

    student, status, automatic, automatic_max, answers, answers_max, total, total_max,
    <each check's points>, <each answer's points>, reason

`automatic` is the checks' points (of 12), `answers` the instructor's points for the written answers (of 4; empty
until every answer is graded), `total` their sum (empty until then: never a total that silently counts an ungraded
answer as 0). The batch grades no answers, so its answers are empty; the gradebook holds both.
"""

from __future__ import annotations

import csv
import functools
import io

from autograder.checks import REGISTRY


@functools.cache
def answer_points() -> dict[str, float]:
    """The manually graded answer cells of the lesson (grade id -> points), read from its nbgrader source."""
    from autograder.notebook import answer_points as read
    from autograder.resources import lesson_file

    return read(lesson_file("rnn_embeddings.ipynb"))


def header() -> list[str]:
    return ["student", "status", "automatic", "automatic_max", "answers", "answers_max", "total", "total_max",
            *(c.name for c in REGISTRY), *answer_points(), "reason"]


def line(student: str, status: str, checks: dict[str, float | None] | None = None,
         answers: dict[str, float | None] | None = None, reason: str = "") -> list[str]:
    """One row: `checks` (check name -> points) when the checks were graded, `answers` (grade id -> points, None
    while not graded) when known."""
    answers = answers or {}
    automatic_max = sum(c.points for c in REGISTRY)
    answers_max = sum(answer_points().values())
    automatic = sum(checks.get(c.name) or 0 for c in REGISTRY) if checks is not None else None
    graded = [answers.get(a) for a in answer_points()]
    answer_sum = sum(graded) if graded and all(p is not None for p in graded) else None
    total = automatic + answer_sum if automatic is not None and answer_sum is not None else None
    return [student, status, _num(automatic), _num(automatic_max), _num(answer_sum), _num(answers_max), _num(total),
            _num(automatic_max + answers_max),
            *(_num(checks.get(c.name)) if checks is not None else "" for c in REGISTRY),
            *(_num(answers.get(a)) for a in answer_points()), " ".join(reason.split())]


def text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header())
    writer.writerows(rows)
    return buffer.getvalue()


def _num(value) -> str:
    return "" if value is None else f"{value:g}"
