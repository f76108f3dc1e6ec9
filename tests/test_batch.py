"""Batch grading (autograder batch): both layouts, a mixed folder, a batch killed with SIGKILL and resumed, reruns
that change nothing, and scores written into nbgrader gradebooks on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import adversarial
import submissions as corpus
from autograder import batch, course
from autograder.checks import REGISTRY
from conftest import REFERENCE_NOTEBOOK, RELEASE_NOTEBOOK

FULL = sum(c.points for c in REGISTRY)


def test_discovers_nbgrader_and_flat_layouts(tmp_path):
    nbgrader_layout = tmp_path / "course" / "submitted"
    for student in ("ann", "bo b"):
        folder = nbgrader_layout / student / course.ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(RELEASE_NOTEBOOK, folder / "rnn_embeddings.ipynb")
    (nbgrader_layout / "cy" / course.ASSIGNMENT).mkdir(parents=True)  # submitted nothing
    found = batch.discover(tmp_path / "course")
    assert sorted(found) == ["ann", "bo_b", "cy"] and found["cy"] is None
    assert found["ann"].name == "rnn_embeddings.ipynb"
    flat = tmp_path / "lms-export"
    flat.mkdir()
    shutil.copy(RELEASE_NOTEBOOK, flat / "dee.ipynb")
    (flat / "notes.txt").write_text("not a submission")
    assert list(batch.discover(flat)) == ["dee"]


def test_a_submission_is_read_only_as_a_regular_file_inside_its_folder(tmp_path):
    """Issue 19: a link to the instructor's solution, a link anywhere on the way, a FIFO or a file outside the
    submissions folder is refused with its reason, never read; a plain notebook is read."""
    root = tmp_path / "submitted"
    (root / "ann" / course.ASSIGNMENT).mkdir(parents=True)
    plain = root / "ann" / course.ASSIGNMENT / "rnn_embeddings.ipynb"
    shutil.copy(RELEASE_NOTEBOOK, plain)
    assert batch.read_submission(plain, root) == RELEASE_NOTEBOOK.read_bytes()
    (root / "bo").mkdir()
    (root / "bo" / course.ASSIGNMENT).symlink_to(REFERENCE_NOTEBOOK.parent)  # a folder link on the way
    (root / "cy.ipynb").symlink_to(REFERENCE_NOTEBOOK)
    os.mkfifo(root / "dee.ipynb")
    found = batch.discover(tmp_path)
    for student, why in (("bo", "symbolic link"), ("cy", "symbolic link"), ("dee", "not a regular file")):
        with pytest.raises(batch.Refused, match=why):
            batch.read_submission(found[student], root)
    with pytest.raises(batch.Refused, match="outside the submissions folder"):
        batch.read_submission(REFERENCE_NOTEBOOK, root)


def test_one_grades_table_whichever_path_graded(tmp_path):
    """Issue 13: the batch's grades.csv and nbgrader-report's CSV have the same columns; the automatic points, the
    answers (empty until graded: never counted as 0) and the total, of 12 + 4 = 16."""
    import csv

    from autograder.nbgrader_report import StudentRow, write_csv

    output = batch.Output(tmp_path / "batch")
    points = {c.name: c.points for c in REGISTRY}
    output.write_csv(["ann", "bo"], {"ann": batch.Row("ann", "graded", total=FULL, points=points),
                                     "bo": batch.Row("bo", "error", reason="grading ran past its limit")})
    with (tmp_path / "batch" / "grades.csv").open() as f:
        from_batch = list(csv.DictReader(f))
    by_id = {course.check_cell_id(c.name): float(c.points) for c in REGISTRY}
    rows = [StudentRow("ann", "graded", 15.5, 16, {**by_id, "q1-answer": 2.0, "q2-answer": 1.5}),
            StudentRow("cy", "graded", FULL, 16, {**by_id, "q1-answer": None, "q2-answer": 2.0})]
    with write_csv(rows, tmp_path / "report.csv").open() as f:
        from_gradebook = list(csv.DictReader(f))
    assert list(from_batch[0]) == list(from_gradebook[0])  # one header
    ann = from_batch[0]
    assert (ann["automatic"], ann["automatic_max"], ann["answers"], ann["total"], ann["total_max"]) == \
        ("12", "12", "", "", "16")
    assert from_batch[1]["status"] == "error" and from_batch[1]["automatic"] == ""
    ann, cy = from_gradebook
    assert (ann["automatic"], ann["answers"], ann["answers_max"], ann["total"]) == ("12", "3.5", "4", "15.5")
    assert (cy["answers"], cy["total"], cy["q2-answer"]) == ("", "", "2")  # one answer still to grade


def test_a_task_that_runs_too_long_is_an_error_not_a_zero():
    result = batch.grade_task("slow", "x.ipynb", REFERENCE_NOTEBOOK.read_bytes(), None, timeout=0.01)
    assert result["row"]["status"] == "error" and "ran past" in result["row"]["reason"]
    assert result["row"]["total"] is None


def test_a_tasks_limit_follows_the_measured_pace(monkeypatch):
    """Issue 12: by default a batch task may take what the grading's measured pace allows (limits.grading_limit),
    not a constant; running past it is the grader's problem, said with the numbers."""
    from autograder import limits

    monkeypatch.setattr(limits, "grading_limit", lambda pace, groups=None: 0.5)
    result = batch.grade_task("paced", "x.ipynb", REFERENCE_NOTEBOOK.read_bytes(), None)
    reason = result["row"]["reason"]
    assert result["row"]["status"] == "error" and result["row"]["total"] is None
    assert "ran past its limit of 0 s (every probe's limit in turn at this machine's pace" in reason, reason
    assert "a grader problem" in reason


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """Reference, release, a mutant, a malformed file, an attack (flat), and a student folder with no notebook."""
    folder = tmp_path_factory.mktemp("submissions")
    built = tmp_path_factory.mktemp("built")
    shutil.copy(REFERENCE_NOTEBOOK, folder / "ref.ipynb")
    shutil.copy(RELEASE_NOTEBOOK, folder / "untouched.ipynb")
    mutant = next(m for m in corpus.MUTANTS if m.name == "SummarizeReturnsFirstStep")
    shutil.copy(corpus.build(mutant, built), folder / "first_step.ipynb")
    (folder / "not_json.ipynb").write_text("not a notebook")
    attack = next(a for a in adversarial.ATTACKS if a.name == "ReadsReferenceAndGraders")
    cells = {k: adversarial.fill(v, reference=REFERENCE_NOTEBOOK, judges="", out="", port=0, marker="")
             for k, v in attack.cells.items()}
    attacker = corpus.build(corpus.Submission("attack", cells), built, base=RELEASE_NOTEBOOK)
    shutil.copy(attacker, folder / "attacker.ipynb")
    (folder / "empty_handed").mkdir()
    (folder / "linked.ipynb").symlink_to(REFERENCE_NOTEBOOK)  # an uploaded archive keeps links (issue 19)
    return folder


@pytest.fixture(scope="module")
def uninterrupted(mixed_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    rows = batch.run_batch(mixed_folder, out, workers=2, progress=False)
    return out, rows


def _csv(out: Path) -> str:
    return (out / "grades.csv").read_text()


@pytest.mark.slow
@pytest.mark.ci_only  # the batch on Dask, end to end (about 80 s with the three tests sharing its run)
def test_batch_grades_a_mixed_folder(uninterrupted):
    out, rows = uninterrupted
    lines = _csv(out).splitlines()
    assert len(lines) == 1 + 7 and len({line.split(",")[0] for line in lines[1:]}) == 7
    assert rows["linked"].status == "error" and "symbolic link" in rows["linked"].reason
    assert rows["ref"].total == FULL and rows["untouched"].total == 0 and rows["not_json"].total == 0
    assert rows["first_step"].points["summarize_is_last_state"] == 0 and 0 < rows["first_step"].total < FULL
    if rows["attacker"].isolation == "bwrap":  # each task grades in its own sandbox
        assert rows["attacker"].total == 0
    assert rows["empty_handed"].status == "error" and rows["empty_handed"].total is None
    assert "empty_handed,error,,12,,4,,16," in _csv(out)  # an error has no score, not a 0
    for student, row in rows.items():
        folder = out / "students" / student
        assert (folder / "row.json").is_file()
        if row.status == "graded":
            assert {p.name for p in folder.iterdir()} == {"row.json", "results.json", "feedback.html", "junit.xml",
                                                          "instructor.txt"}


@pytest.mark.slow
@pytest.mark.ci_only
def test_rerun_changes_nothing_unless_asked(uninterrupted, mixed_folder):
    out, _ = uninterrupted
    before = {p: p.stat().st_mtime_ns for p in (out / "students").rglob("*")}
    csv_before = _csv(out)
    batch.run_batch(mixed_folder, out, workers=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in (out / "students").rglob("*")} == before
    assert _csv(out) == csv_before


@pytest.mark.slow
@pytest.mark.ci_only
def test_batch_killed_with_sigkill_resumes_without_regrading(mixed_folder, uninterrupted, tmp_path):
    """Four of the mixed folder's students, two of them graded for real (ref, then untouched; workers=1 takes them
    in order): killed once three are written, the rerun grades only the fourth, and the table is the uninterrupted
    run's, row for row."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name in ("empty_handed", "not_json.ipynb", "ref.ipynb", "untouched.ipynb"):
        source = mixed_folder / name
        shutil.copytree(source, folder / name) if source.is_dir() else shutil.copy(source, folder / name)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "batch", str(folder), "--out", str(out), "--workers", "1"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    done: list[Path] = []
    while time.monotonic() < deadline and process.poll() is None:
        # A student's folder is written as `.name.XXXX` (staging) and renamed: only finished ones count.
        done = [p for p in (out / "students").glob("[!.]*/row.json")] if (out / "students").is_dir() else []
        if len(done) >= 3:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the batch finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    kept = {p.parent.name: p.stat().st_mtime_ns for p in done}
    assert len(kept) == 3, kept
    rows = batch.run_batch(folder, out, workers=2, progress=False)
    assert {s: (out / "students" / s / "row.json").stat().st_mtime_ns for s in kept} == kept  # not regraded
    whole = _csv(uninterrupted[0]).splitlines()
    assert _csv(out).splitlines() == whole[:1] + [line for line in whole[1:] if line.split(",")[0] in rows]
    assert len(rows) == 4 and not list((out / "students").glob(".*"))


def _read_back(url: str) -> dict[str, tuple]:
    from nbgrader.api import Gradebook

    with Gradebook(url, course.COURSE_ID) as gb:
        out = {}
        for student in gb.students:
            sub = gb.find_submission(course.ASSIGNMENT, student.id)
            checks = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades if g.name.startswith("check-")}
            out[student.id] = (sub.score, sub.max_score, checks)
        return out


def _assert_gradebook_matches(url: str, rows: dict, course_folder: Path) -> None:
    from autograder.gradebook import write_scores
    from autograder.nbgrader_report import course_report

    assert write_scores(list(rows.values()), url) == len(rows)
    assert write_scores(list(rows.values()), url) == len(rows)  # idempotent: same students, same scores
    back = _read_back(url)
    assert set(back) == set(rows)
    for student, row in rows.items():
        score, max_score, checks = back[student]
        assert max_score == FULL + 4  # the two answers, graded by hand in formgrader
        if row.status == "graded":
            assert score == row.total
            assert checks == {course.check_cell_id(c): p for c, p in row.points.items()}
        else:
            assert set(checks.values()) == {None}
    # the one grades table from that gradebook, with no nbgrader course run: the batch's students and points
    reported = {r.student: r for r in course_report(course_folder, db_url=url)}
    for student, row in rows.items():
        if row.status == "graded":
            assert reported[student].status == "graded", reported[student]
            assert {c: reported[student].points[course.check_cell_id(c)] for c in row.points} == row.points
        else:
            assert reported[student].status != "graded"


@pytest.mark.slow
@pytest.mark.ci_only
def test_scores_reach_an_sqlite_gradebook(uninterrupted, tmp_path):
    _assert_gradebook_matches(f"sqlite:///{tmp_path / 'gradebook.db'}", uninterrupted[1], tmp_path)


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres():
    """A real PostgreSQL server in a temporary folder, on a free loopback port; stopped afterwards."""
    import socket

    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; `make test` does it as root)")
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="kit-postgres-"))  # not under pytest's 0700 folder: postgres must reach it
    home.chmod(0o755)
    data = home / "pgdata"
    data.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
        as_postgres = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *argv: subprocess.run([*as_postgres, *argv], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    run(str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "server.log"), "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE gradebook")
        connection.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.ci_only
def test_scores_reach_a_postgresql_gradebook(uninterrupted, postgres, tmp_path):
    _assert_gradebook_matches(postgres, uninterrupted[1], tmp_path)


def test_two_names_that_make_one_id_are_both_kept(tmp_path, caplog):
    """Issue 10: `carol smith.ipynb` and `carol_smith.ipynb` both map to carol_smith: both are graded, each under
    an id of its own, with a warning, never one silently dropped."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("carol smith", "carol_smith", "dee"):
        (flat / f"{name}.ipynb").write_text("{}")
    (flat / "alice").mkdir()
    (flat / "alice" / "alice.ipynb").write_text("{}")
    with caplog.at_level("WARNING", logger="autograder.batch"):
        found = batch.discover(flat)
    carols = sorted(k for k in found if k.startswith("carol_smith"))
    assert len(found) == 4 and len(carols) == 2 and all(len(k) == len("carol_smith-") + 8 for k in carols)
    assert {found[k].name for k in carols} == {"carol smith.ipynb", "carol_smith.ipynb"}
    assert "map to the student id 'carol_smith'" in caplog.text
    assert batch.discover(flat) == found  # the same ids every time: a restart finds its own folders


def test_the_local_cluster_admits_only_peers_with_its_runs_certificate():
    """Issue 19, neighbours: the batch's tasks run as the instructor, outside any sandbox. Code on the same machine
    that finds the scheduler's port (a student's, in a grading sandbox or an nbgrader kernel) cannot connect: not in
    plain TCP, not in TLS without a certificate, not with a certificate of its own making."""
    import operator

    from dask.distributed import Client
    from distributed.security import Security

    cluster = batch.local_cluster(1)
    try:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with Client(cluster, security=cluster.security) as ours:
            assert ours.submit(operator.add, 1, 2).result() == 3
        for target, security in ((address, None), (address.replace("tls://", "tcp://"), None),
                                 (address, Security.temporary())):
            with pytest.raises(Exception):  # noqa: B017 - which one depends on the layer that refuses
                Client(target, security=security, timeout=5).close()
    finally:
        cluster.close()
