"""Writes a batch's scores into an nbgrader gradebook (SQLite or PostgreSQL), through nbgrader's own API, so that
formgrader, manual grading of the answers, feedback and `nbgrader export` work as usual.

Each graded student gets a submission whose test cells (`check-<name>`) carry the batch's points as their automatic
score; the answer cells are left for manual grading. A student whose grading failed gets a submission whose test
cells are marked as needing a manual grade, so formgrader shows them, rather than a score of 0.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from autograder.course import ASSIGNMENT, COURSE_ID, check_cell_id, make_course, nbgrader


def ensure_assignment(db_url: str, course_id: str = COURSE_ID, assignment: str = ASSIGNMENT) -> None:
    """Adds the assignment (its notebook, cells and points) to the gradebook if it is not there, with real
    `nbgrader generate_assignment` on the kit's source."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory(prefix="gradebook-") as tmp:
        done = nbgrader(make_course(Path(tmp)), "generate_assignment", assignment,
                        f"--CourseDirectory.db_url={db_url}", f"--CourseDirectory.course_id={course_id}")
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stderr[-2000:]}")


def write_scores(rows, db_url: str, course_id: str = COURSE_ID, assignment: str = ASSIGNMENT) -> int:
    """Puts each row's points in the gradebook; returns how many students were written."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    ensure_assignment(db_url, course_id, assignment)
    written = 0
    with warnings.catch_warnings(), Gradebook(db_url, course_id) as gb:
        warnings.simplefilter("ignore", category=SAWarning)  # nbgrader's own autoflush warnings, as in autograde
        for row in rows:
            gb.update_or_create_student(row.student)
            submission = gb.update_or_create_submission(assignment, row.student)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    check = grade.name.removeprefix("check-")
                    if grade.name != check_cell_id(check):
                        continue  # an answer cell: the instructor's
                    if row.status == "graded":
                        grade.auto_score = float(row.points.get(check, 0.0))
                        grade.needs_manual_grade = False
                    else:
                        grade.auto_score = None
                        grade.needs_manual_grade = True
            gb.db.commit()
            written += 1
    return written
