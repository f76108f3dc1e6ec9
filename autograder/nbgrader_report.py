"""The report of an nbgrader run: one row per student, from the gradebook, the course folders and nbgrader's log.

`nbgrader export` writes 0 for a student whose notebook could not be autograded (a time-out the kernel did not
survive, a notebook nbgrader could not read), exactly as for a real zero. Here such a student is an `error`, with
nbgrader's reason, and no score (a kernel that dies no longer stops autograding: the course's
ExecuteUntilTheKernelDies):

    graded      autograded (or its checks scored by `autograder batch --gradebook`): score, max_score, the points
                of each check and each answer cell (`reason` names the cell where the kernel died, if it did: the
                engine graded the code all the same)
    error       submitted, but autograding failed (nbgrader removed the autograded copy); `reason` says why
    submitted   submitted, not autograded yet
    missing     in the gradebook, nothing submitted
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import ASSIGNMENT, COURSE_ID

ERROR_START = re.compile(r"There was an error processing assignment: (?P<path>\S+)"
                         r"|While processing assignment (?P<path2>\S+), the kernel became unresponsive")
EXCEPTION_LINE = re.compile(r"^\s*(?P<type>[\w.]*(?:Error|Exception|Interrupt)): ?(?P<message>.*)$")
UNRESPONSIVE = "the kernel became unresponsive and could not be interrupted (an endless loop that ignores interrupts?)"


@dataclass
class StudentRow:
    student: str
    status: str
    score: float | None = None
    max_score: float | None = None
    points: dict[str, float | None] = field(default_factory=dict)  # grade id -> points (None: not graded yet)
    reason: str = ""


def failures_from_log(log: Path, assignment: str = ASSIGNMENT) -> dict[str, str]:
    """student id -> why nbgrader could not autograde them, from the log (the last failure of each student)."""
    if not log.is_file():
        return {}
    failures: dict[str, str] = {}
    student = None
    for line in log.read_text(errors="replace").splitlines():
        start = ERROR_START.search(line)
        if start:
            parts = Path(start["path"] or start["path2"]).parts
            student = parts[-2] if len(parts) >= 2 and parts[-1] == assignment else None
            if student:
                failures[student] = UNRESPONSIVE if start["path2"] else "autograding failed (see nbgrader.log)"
            continue
        if line.startswith("[") and "|" in line.split("]")[0] and "Traceback" not in line:
            student = None  # the next log record: that student's traceback is over
            continue
        found = EXCEPTION_LINE.match(line)
        if student and found:
            kind = found["type"].rsplit(".", 1)[-1]
            detail = f"{kind}: {found['message']}".strip()
            failures[student] = ("the kernel died (os._exit, out of memory, a crash in native code): " + detail
                                 if kind == "DeadKernelError" else detail)
    return failures


def course_report(course: Path, assignment: str = ASSIGNMENT, db_url: str | None = None,
                  course_id: str = COURSE_ID) -> list[StudentRow]:
    """Every student of the gradebook, and every folder in submitted/, with a status."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course).resolve()
    db_url = db_url or f"sqlite:///{course / 'gradebook.db'}"
    failures = failures_from_log(course / "nbgrader.log", assignment)
    submitted_dir = course / "submitted"
    rows = []
    with Gradebook(db_url, course_id) as gb:
        try:
            notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        except MissingEntry:
            raise ValueError(f"the gradebook {db_url} has no assignment {assignment!r}; run nbgrader "
                             "generate_assignment first") from None
        students = {s.id for s in gb.students}
        if submitted_dir.is_dir():
            students |= {p.parent.name for p in submitted_dir.glob(f"*/{assignment}") if p.is_dir()}
        for student in sorted(students):
            submitted = (submitted_dir / student / assignment).is_dir()
            autograded = all((course / "autograded" / student / assignment / f"{nb}.ipynb").is_file()
                             for nb in notebooks)
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                submission = None
            if autograded and submission is None:
                rows.append(StudentRow(student, "error", reason="autograded, but not in the gradebook"))
            elif autograded or (submission is not None and _checks_scored(submission)):
                row = StudentRow(student, "graded", submission.score, submission.max_score)
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        row.points[grade.name] = None if grade.needs_manual_grade else grade.score
                if autograded:  # nbgrader's autograde; else `autograder batch --gradebook` scored the checks
                    failed, died = _findings(course / "autograded" / student / assignment, notebooks)
                    if failed:
                        row.status, row.reason = "error", failed
                    elif died:  # graded all the same, by the engine: the instructor should know
                        row.reason = died
                rows.append(row)
            elif not submitted and submission is None:
                rows.append(StudentRow(student, "missing"))
            else:
                reason = failures.get(student)
                rows.append(StudentRow(student, "error" if reason else "submitted", reason=reason or ""))
    return rows


def _checks_scored(submission) -> bool:
    """Every check's test cell holds an automatic score (what `autograder batch --gradebook` writes)."""
    checks = [g for nb in submission.notebooks for g in nb.grades if g.name.startswith("check-")]
    return bool(checks) and all(g.auto_score is not None and not g.needs_manual_grade for g in checks)


def _findings(folder: Path, notebooks: list[str]) -> tuple[str, str]:
    """What the autograded notebooks say beyond the points: test cells where the grader itself failed
    (GraderError: those points are not the student's doing), and the cell a kernel died in (the notebook was graded
    all the same, by the engine; see nbgrader_plugins.ExecuteUntilTheKernelDies)."""
    import nbformat

    from autograder.nbgrader_plugins import KERNEL_DIED

    failed, died = [], []
    for name in notebooks:
        nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and output.get("ename") == "GraderError":
                    failed.append(f"{cell.metadata.get('nbgrader', {}).get('grade_id', '?')}: {output.get('evalue')}")
                elif output.get("output_type") == "error" and output.get("ename") == KERNEL_DIED:
                    died.append(output.get("evalue", ""))
    return "; ".join(failed), "; ".join(died)


def write_csv(rows: list[StudentRow], path: Path) -> Path:
    """The one grades table (autograder/grades_table.py): the same columns as `autograder batch`'s grades.csv, with
    the answers' points once they are graded in formgrader."""
    from autograder import grades_table
    from autograder.checks import REGISTRY
    from autograder.course import check_cell_id

    lines = []
    for row in rows:
        checks = {c.name: row.points.get(check_cell_id(c.name)) for c in REGISTRY} if row.status == "graded" else None
        answers = {a: row.points.get(a) for a in grades_table.answer_points()}
        lines.append(grades_table.line(row.student, row.status, checks, answers, row.reason))
    Path(path).write_text(grades_table.text(lines))
    return Path(path)


def score_text(row: StudentRow) -> str:
    """A student's score in words: the automatic points, and the answers' once the instructor has graded them
    ("12 / 12 automatic, answers not graded yet (4)": never "12 / 16", which reads as final)."""
    from autograder import grades_table
    from autograder.checks import REGISTRY, TOTAL_POINTS
    from autograder.course import check_cell_id

    if row.status != "graded":
        return "-"
    automatic = sum(row.points.get(check_cell_id(c.name)) or 0 for c in REGISTRY)
    answers = grades_table.answer_points()
    graded = [row.points.get(a) for a in answers]
    if any(p is None for p in graded):
        return f"{automatic:g} / {TOTAL_POINTS:g} automatic, answers not graded yet ({sum(answers.values()):g})"
    return f"{automatic + sum(graded):g} / {TOTAL_POINTS + sum(answers.values()):g} ({automatic:g} automatic + " \
           f"{sum(graded):g} answers)"


def table(rows: list[StudentRow]) -> str:
    lines = [f"{'student':<24} {'status':<10} {'score':<52}  reason", "-" * 100]
    for row in rows:
        lines.append(f"{row.student:<24} {row.status:<10} {score_text(row):<52}  {row.reason}")
    counts = {s: sum(r.status == s for r in rows) for s in ("graded", "error", "submitted", "missing")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)


def _num(value) -> str:
    return "" if value is None else f"{value:g}"
