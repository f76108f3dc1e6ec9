"""Grades a whole class on Dask's distributed scheduler: a local cluster by default, or an existing one.

    autograder batch SUBMISSIONS --out DIR [--workers N] [--scheduler ADDRESS] [--gradebook URL] [--regrade]

SUBMISSIONS is nbgrader's layout (`submitted/<student>/<assignment>/*.ipynb`, or the course folder holding
`submitted/`) or a flat folder of `<student>.ipynb`, as learning-management systems export them. Each task grades one
submission (`grade()`: its own sandboxed worker processes, one at a time, so a task uses about one core) on a Dask
worker; the notebook travels with the task and the reports come back with its result, so workers need no shared
folder with the machine running this command.

Nothing is lost. Only this process writes DIR, and each student's folder `DIR/students/<student>/` (results.json,
feedback.html, junit.xml, row.json) appears in one atomic rename when that student is done. A batch that is killed
and started again grades only the students without a folder (or whose notebook changed since); `--regrade` grades
everyone again. `DIR/grades.csv`, one row per student in the one grades table's columns (autograder/grades_table.py:
status, the automatic points and each check's, the answers left to grade, the reason), is rewritten atomically after
every student. A submission whose grading crashed or ran past its limit is `error`, with the reason, and no score:
not a 0. The limit follows the work: once a grading has measured this machine's pace on the
grading data (autograder/limits.py), it may take every probe's limit in turn plus an allowance
(`limits.grading_limit`); `--timeout` sets a fixed number of seconds instead.
"""

from __future__ import annotations

import hashlib
import io
import logging
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.border import clean_text
from autograder.checks import REGISTRY
from autograder.course import ASSIGNMENT

STATUS_GRADED, STATUS_ERROR = "graded", "error"
LOG = logging.getLogger("autograder.batch")


@dataclass
class Row:
    student: str
    status: str
    total: float | None = None
    max_total: float = float(sum(c.points for c in REGISTRY))
    points: dict[str, float] = field(default_factory=dict)  # check -> points (graded rows only)
    reason: str = ""
    isolation: str = ""
    sha256: str = ""  # of the notebook graded: a changed submission is graded again
    seconds: float = 0.0


def _safe_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", name).lstrip(".") or "_"


MAX_SUBMISSION_BYTES = 200 * 2**20  # what read_submission reads of one notebook (notebook.MAX_NOTEBOOK_BYTES too)


class Refused(ValueError):
    """A submitted file the grader does not open, and why (recorded as the student's row)."""


def read_submission(path: Path, root: Path) -> bytes:
    """The bytes of a submitted notebook, read only when it is a regular file inside `root` reached without any
    symbolic link (an uploaded archive keeps links: one pointing at the instructor's solution must not be graded),
    not a FIFO or a device, and at most MAX_SUBMISSION_BYTES."""
    import stat

    path, root = Path(path), Path(root)
    real_root = os.path.realpath(root)
    try:
        relative = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        raise Refused(f"{path.name} is outside the submissions folder") from None
    expected = os.path.join(real_root, relative)
    if os.path.realpath(path) != expected:
        raise Refused(f"{relative} is, or lies in, a symbolic link: submissions are read only as regular files")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise Refused(f"{relative} could not be opened ({type(err).__name__})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{relative} is not a regular file")
        if info.st_size > MAX_SUBMISSION_BYTES:
            raise Refused(f"{relative} is {info.st_size / 2**20:.0f} MB, more than the "
                          f"{MAX_SUBMISSION_BYTES // 2**20} MB a notebook may be")
        return f.read(MAX_SUBMISSION_BYTES + 1)


def discover(submissions: Path, assignment: str = ASSIGNMENT) -> dict[str, Path | None]:
    """student id -> their notebook (None: a student folder without one). Both layouts, mixed if need be.

    An id is the student's name made safe for a folder; two names that make the same id (`carol smith`,
    `carol_smith`) both stay, each id then suffixed with a hash of its own name, and a warning is logged."""
    root = Path(submissions)
    if (root / "submitted").is_dir():
        root = root / "submitted"
    if not root.is_dir():
        raise ValueError(f"{submissions} is not a folder of submissions")
    entries: list[tuple[str, Path | None]] = []  # (the name as it stands, the notebook)
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():  # kept, so that reading it is refused and recorded (read_submission)
            entries.append((entry.stem if entry.suffix == ".ipynb" else entry.name, entry))
        elif entry.suffix == ".ipynb" and not entry.is_dir():  # a FIFO or device too: refused when read
            entries.append((entry.stem, entry))
        elif entry.is_dir():
            folder = entry / assignment if (entry / assignment).is_dir() else entry
            notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
            preferred = [p for p in notebooks if p.stem == assignment]
            entries.append((entry.name, (preferred or notebooks or [None])[0]))
    by_id: dict[str, list[tuple[str, Path | None]]] = {}
    for name, notebook in entries:
        by_id.setdefault(_safe_id(name), []).append((name, notebook))
    found: dict[str, Path | None] = {}
    for student, named in by_id.items():
        if len(named) == 1:
            found[student] = named[0][1]
            continue
        LOG.warning("%d submissions map to the student id %r (%s): each is kept under an id of its own", len(named),
                    student, ", ".join(repr(clean_text(n, 80)) for n, _ in named))
        for name, notebook in named:
            found[f"{student}-{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"] = notebook
    return dict(sorted(found.items()))


def grade_task(student: str, name: str, notebook: bytes, data: dict | None, timeout: float | None = None,
               policy: str = "fix") -> dict:
    """Runs on a Dask worker: grades one notebook; returns its row and its reports as plain data. The grading may
    take `timeout` seconds, or, by default, what its measured pace allows (limits.grading_limit)."""
    import concurrent.futures

    from autograder import limits
    from autograder.grade import grade
    from autograder.recipe import DataPaths
    from autograder.report import write_all

    start = time.perf_counter()
    deadline = {"at": start + (timeout if timeout is not None else limits.BEFORE_PACE), "why": None}

    def paced(pace) -> None:
        if timeout is None:
            bound = limits.grading_limit(pace)
            deadline.update(at=time.perf_counter() + bound,
                            why=f"its limit of {bound:.0f} s (every probe's limit in turn at this machine's pace: "
                                f"{pace.epoch_seconds * 1e3:.1f} ms per full-batch epoch on {pace.rows} rows)")

    with tempfile.TemporaryDirectory(prefix="batch-") as tmp:
        path = Path(tmp) / (_safe_id(Path(name).name) or "submission.ipynb")
        path.write_bytes(notebook)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(grade, path, parallel=1, data=DataPaths(**data) if data else None, on_pace=paced)
        report = None
        try:
            while report is None:
                try:
                    report = future.result(timeout=max(0.0, min(5.0, deadline["at"] - time.perf_counter())))
                except concurrent.futures.TimeoutError:
                    if time.perf_counter() >= deadline["at"]:
                        raise
        except concurrent.futures.TimeoutError:
            pool.shutdown(wait=False)
            limit = deadline["why"] or f"{(timeout if timeout is not None else limits.BEFORE_PACE):.0f} s"
            return {"row": asdict(Row(student, STATUS_ERROR, reason=f"grading ran past {limit}: a grader "
                                      "problem (each worker stops at its own limit before this)")), "files": {}}
        except Exception as err:  # noqa: BLE001 - recorded as this student's error; the batch goes on
            return {"row": asdict(Row(student, STATUS_ERROR, reason=f"grading failed: {type(err).__name__}: {err}")),
                    "files": {}}
        pool.shutdown(wait=False)
        row = Row(student, STATUS_GRADED, total=report.score, max_total=report.max_score,
                  points={v.check: v.score for v in report.verdicts}, isolation=report.isolation,
                  seconds=round(time.perf_counter() - start, 2))
        if report.internal_error:
            row.status = STATUS_ERROR
            row.reason = "grader error on " + ", ".join(v.check for v in report.verdicts if v.internal_error)
        elif report.integrity:  # for the instructor: where to look (autograder.integrity); the points stand
            row.reason = (f"{len(report.integrity)} integrity flag(s), in students/{student}/instructor.txt; the "
                          f"first: {report.integrity[0]}")
        paths = write_all(report, Path(tmp) / "out", policy)
        files = {p.name: p.read_bytes() for p in paths.values()}
    return {"row": asdict(row), "files": files}


class Output:
    """DIR: students/<student>/ (one atomic rename each), grades.csv (rewritten atomically)."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.students = self.out / "students"
        self.students.mkdir(parents=True, exist_ok=True)

    def done(self) -> dict[str, Row]:
        rows = {}
        for folder in self.students.iterdir():
            if folder.name.startswith(".") or not (folder / "row.json").is_file():
                continue
            try:
                rows[folder.name] = Row(**json.loads((folder / "row.json").read_text()))
            except (ValueError, TypeError):
                continue  # unreadable: graded again
        return rows

    def save(self, row: Row, files: dict[str, bytes]) -> None:
        staging = Path(tempfile.mkdtemp(prefix=f".{row.student}.", dir=self.students))
        for name, content in files.items():
            (staging / name).write_bytes(content)
        (staging / "row.json").write_text(json.dumps(asdict(row), indent=1))
        for path in staging.iterdir():
            with path.open("rb") as f:
                os.fsync(f.fileno())
        final = self.students / row.student
        if final.exists():  # a regrade: the old folder leaves in one rename, the new one arrives in another
            old = Path(tempfile.mkdtemp(prefix=f".{row.student}.old.", dir=self.students))
            os.replace(final, old / "folder")
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)

    def clean(self) -> None:
        """Leftovers of a batch killed while saving: staging folders (their student is graded again)."""
        for folder in self.students.glob(".*"):
            shutil.rmtree(folder, ignore_errors=True)

    def write_csv(self, students: list[str], rows: dict[str, Row]) -> Path:
        """grades.csv in the one table's columns (autograder/grades_table.py): the answers empty, the batch grades
        none of them."""
        from autograder import grades_table

        lines = []
        for student in students:
            row = rows.get(student) or Row(student, "pending")
            graded = row.total is not None and row.status == STATUS_GRADED
            lines.append(grades_table.line(student, row.status, row.points if graded else None,
                                           reason=clean_text(row.reason, 300)))
        buffer = io.StringIO(grades_table.text(lines))
        path = self.out / "grades.csv"
        tmp = path.with_name(".grades.csv.tmp")
        tmp.write_text(buffer.getvalue())
        os.replace(tmp, path)
        return path


def local_cluster(workers: int):
    """The batch's own Dask cluster on this machine: TLS with a certificate made for this run (distributed's
    Security.temporary(), held in this process's memory and handed to its workers), required of every peer. Its
    tasks run as the instructor, outside any sandbox: student code on the same machine (a grading sandbox, an
    nbgrader kernel) that finds the scheduler's port cannot submit one without the certificate."""
    from dask.distributed import LocalCluster
    from distributed.security import Security

    security = Security.temporary()
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=logging.ERROR, protocol="tls://", security=security)


def run_batch(submissions: Path, out: Path, *, workers: int | None = None, scheduler: str | None = None,
              regrade: bool = False, data=None, timeout: float | None = None, progress: bool = True,
              assignment: str = ASSIGNMENT, policy: str = "fix") -> dict[str, Row]:
    """Grades every submission not graded yet; returns every student's row (grades.csv holds the same). Each
    student's reports say of the hidden checks what the feedback `policy` lets them (autograder.disclosure);
    instructor.txt beside them is complete."""
    from dask.distributed import Client, as_completed
    from tqdm import tqdm

    found = discover(submissions, assignment)
    root = Path(submissions) / "submitted" if (Path(submissions) / "submitted").is_dir() else Path(submissions)
    students = sorted(found)
    output = Output(out)
    output.clean()
    rows = {s: r for s, r in output.done().items() if s in found}
    todo = []
    for student in students:
        notebook = found[student]
        if notebook is None:
            row = Row(student, STATUS_ERROR, reason="no notebook in the submission folder")
            if rows.get(student) != row:
                output.save(row, {})
                rows[student] = row
            continue
        try:
            content = read_submission(notebook, root)
        except Refused as err:
            row = Row(student, STATUS_ERROR, reason=f"not graded: {clean_text(str(err), 300)}")
            if rows.get(student) != row:
                output.save(row, {})
                rows[student] = row
            continue
        sha = hashlib.sha256(content).hexdigest()
        if regrade or student not in rows or rows[student].sha256 != sha:
            todo.append((student, notebook, sha, content))
    output.write_csv(students, rows)
    if not todo:
        return rows

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = local_cluster(workers or max(1, os.cpu_count() or 1))
        client = Client(cluster, security=cluster.security)
    data_json = vars(data) if data is not None else None
    try:
        futures = {}
        for student, notebook, sha, content in todo:
            future = client.submit(grade_task, student, notebook.name, content, data_json, timeout, policy,
                                   key=f"grade-{student}-{sha[:12]}", pure=False, retries=0)
            futures[future] = (student, sha)
        bar = tqdm(total=len(todo), desc="grading", unit="notebook", disable=not progress)
        for future in as_completed(futures):
            student, sha = futures[future]
            try:
                result = future.result()
                row, files = Row(**result["row"]), result["files"]
            except Exception as err:  # noqa: BLE001 - a worker that died (memory, a crash): this student's error
                row, files = Row(student, STATUS_ERROR, reason=f"the grading task failed: {type(err).__name__}: "
                                                                 f"{str(err)[:300]}"), {}
            row.sha256 = sha
            output.save(row, files)
            rows[student] = row
            output.write_csv(students, rows)
            bar.update(1)
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return rows
