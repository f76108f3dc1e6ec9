"""The kit as an nbgrader course, run for real: generate_assignment, autograde, generate_feedback and export in a
temporary course on the fixture, with five students:

    release         the untouched student release            0 automatic points
    first-step      mutant SummarizeReturnsFirstStep         partial points, the CLI's verdicts check by check
    kernel-dies     train() calls os._exit(1) (as an           the same points as `autograder batch`, the cell
                    out-of-memory kill would end it)         named where the kernel died
    mallory         stubs; at top level rebinds `check` to    0 automatic points (issue 10: scores come from
                    return 99, points AUTOGRADER_NOTEBOOK at   the engine, and the kernel is sandboxed)
                    the source, rewrites every classmate's
                    notebook it can find
    zoe             the solved notebook, graded after         full automatic points, her file unchanged
                    mallory; its train() writes to stderr:
                    tqdm, a warning, a print to sys.stderr
                    and os.write(2)
"""

from __future__ import annotations

import csv
import html
import re
import shutil
import socket
import tempfile
from pathlib import Path

import nbformat
import pytest

import submissions as corpus
from autograder import batch, course
from autograder.checks import REGISTRY
from autograder.nbgrader_report import course_report

AUTO_POINTS = sum(c.points for c in REGISTRY)
MUTANTS = {"first-step": "SummarizeReturnsFirstStep"}  # NoZeroGrad and the rest: tests/test_corpus.py
STDERR_WRITER = corpus.Submission("StderrWriter", corpus.loop(
    "    import os, sys, warnings\n"
    "    from tqdm import tqdm\n"
    "    print('training on', device, file=sys.stderr)\n"
    "    os.write(2, b'straight to file descriptor 2\\n')\n"
    "    warnings.warn('a warning from train()')\n"
    + corpus.REFERENCE_LOOP.replace('progress(range(epochs), desc="training")', "tqdm(range(epochs))")))
KERNEL_DIES = corpus.Submission("KernelDies", corpus.loop(
    "    import os\n"
    "    os._exit(1)  # as if the kernel were killed for memory\n" + corpus.REFERENCE_LOOP))


MALLORY = '''import glob, os, socket
try:  # a listener of the grader's machine, on its loopback (an autograder batch's scheduler, a gradebook)
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("reached the grader's network")
except OSError as err:
    print("no network:", err)
import autograder.nbgrader_cells as cells
cells.check = lambda name, namespace=None: 99.0
os.environ["AUTOGRADER_NOTEBOOK"] = "{root}/source/rnn_embeddings/rnn_embeddings.ipynb"
for path in glob.glob("{root}/submitted/*/*/*.ipynb") + glob.glob("{root}/autograded/*/*/*.ipynb") + \\
        glob.glob("../../*/rnn_embeddings/*.ipynb"):
    try:
        text = open(path).read()
        with open(path, "w") as f:
            f.write(text.replace("optimizer.step()", "pass"))
        print("rewrote", path)
    except OSError as err:
        print("refused", path, err)
'''


def _mallory(root, folder, port):
    source = MALLORY.format(root=root, port=port) + "\n\n" + corpus.TRAIN_HEAD.splitlines()[0] + "\n    raise NotImplementedError()\n"
    return corpus.build(corpus.Submission("mallory", {"train": source}), folder,
                        base=course.ASSIGNMENT_DIR / "rnn_embeddings.ipynb")


def _shorten_the_experiments(notebook, out=None):
    """The notebook with its two experiments trained for 30 epochs instead of 3000 (as in tests/test_differential.py),
    written to `out` (default: in place); returns its path. The course's source and every student's copy get it, so
    the locked cell is unchanged for nbgrader, and each kernel runs in seconds what took it about 15 s. No check
    reads the experiments (the engine grades the code), and a kernel that dies in train() still dies in the first
    experiment's cell."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "exp1")
    assert "EPOCHS, LR = 3000, 1e-3" in cell.source
    cell.source = cell.source.replace("EPOCHS, LR = 3000, 1e-3", "EPOCHS, LR = 30, 1e-3")
    nbformat.write(nb, out or notebook)
    return out or notebook


def _submit(root, student, notebook):
    folder = root / "submitted" / student / course.ASSIGNMENT
    folder.mkdir(parents=True)
    shutil.copy(notebook, folder / f"{course.ASSIGNMENT}.ipynb")


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """The course after generate_assignment, autograde, generate_feedback and export; the CLI's reports beside."""
    root = course.make_course(tmp_path_factory.mktemp("course"))
    _shorten_the_experiments(root / "source" / course.ASSIGNMENT / f"{course.ASSIGNMENT}.ipynb")
    built = tmp_path_factory.mktemp("notebooks")
    listener = socket.create_server(("127.0.0.1", 0))  # what mallory's kernel tries to reach
    by_name = {m.name: m for m in corpus.MUTANTS}
    students = {"release": course.ASSIGNMENT_DIR / "rnn_embeddings.ipynb",
                "kernel-dies": corpus.build(KERNEL_DIES, built),
                "mallory": _mallory(root, built, listener.getsockname()[1]), "zoe": corpus.build(STDERR_WRITER, built)}
    students |= {student: corpus.build(by_name[mutant], built) for student, mutant in MUTANTS.items()}
    students = {student: _shorten_the_experiments(notebook, built / f"{student}.ipynb")
                for student, notebook in students.items()}
    for student, notebook in students.items():
        _submit(root, student, notebook)
    runs = {}
    # nbgrader's temporary folder, private (mode 0700, as a TMPDIR of one's own is) and short (the kernels' sockets
    # live in it): the kernels run from it and leave nothing of theirs there (torch's compiler cache may stay)
    scratch = Path(tempfile.mkdtemp(prefix="nbg-"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TMPDIR", str(scratch))
            for command in (("generate_assignment", course.ASSIGNMENT), ("autograde", course.ASSIGNMENT),
                            ("generate_feedback", course.ASSIGNMENT), ("export",)):
                runs[command[0]] = course.nbgrader(root, *command, timeout=1200)
        left = sorted(p.name for p in scratch.iterdir() if p.name.startswith(("autograder-", "kernel-kit-")))
    finally:
        listener.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print("AUTOGRADE-ERR", runs["autograde"].stderr[-3000:])
    assert not left, f"nbgrader's kernels left {left} in its temporary folder"
    assert runs["generate_assignment"].returncode == 0, runs["generate_assignment"].stderr
    from autograder.grade import grade
    from autograder.runner import run_in_process

    # What `autograder grade` gives each mutant; graded by the trusted runner, whose verdicts are the sandbox's
    # (tests/test_grading.py, test_the_trusted_runner_gives_the_sandboxs_verdicts).
    cli = {student: grade(students[student], runner=run_in_process, parallel=1) for student in MUTANTS}
    assert (root / "submitted" / "zoe" / course.ASSIGNMENT / f"{course.ASSIGNMENT}.ipynb").read_bytes() == \
        students["zoe"].read_bytes(), "a kernel rewrote a classmate's submission"
    return root, runs, cli


def _words(page) -> str:
    """A feedback page's text with its line breaks undone (verdicts are wrapped at nbgrader_cells.WIDTH)."""
    return " ".join(html.unescape(page.read_text()).split())


def _points(root) -> dict[str, dict[str, float | None]]:
    return {row.student: row.points for row in course_report(root)}


@pytest.mark.slow
@pytest.mark.ci_only  # real nbgrader over a course of 5 students: about 2 min
def test_autograde_scores_reference_full_and_release_zero(graded_course):
    """The solved notebook (zoe's: the reference, its train() writing to stderr) gets every check's points."""
    root, runs, _ = graded_course
    points = _points(root)
    checks = {c.name: c.points for c in REGISTRY}
    assert {k: points["zoe"][course.check_cell_id(c.name)] for k, c in zip(checks, REGISTRY)} == checks
    assert all(points["release"][course.check_cell_id(c.name)] == 0 for c in REGISTRY)
    assert points["release"]["q1-answer"] == 0  # an untouched answer cell: nbgrader's own zero


@pytest.mark.slow
@pytest.mark.ci_only
def test_mutants_get_the_clis_verdicts_check_by_check(graded_course):
    root, _, cli = graded_course
    points = _points(root)
    for student, report in cli.items():
        expected = {course.check_cell_id(v.check): v.score for v in report.verdicts}
        got = {grade_id: points[student][grade_id] for grade_id in expected}
        assert got == expected, student
        assert 0 < sum(got.values()) < AUTO_POINTS, student  # partial


@pytest.mark.slow
@pytest.mark.ci_only
def test_the_log_holds_nothing_to_ignore(graded_course):
    """Issue 13: no warning an instructor cannot act on: nbgrader's false "checksum has changed" for untouched
    hidden-test cells (nbgrader issue #1961), SQLAlchemy's autoflush warnings, the kernel's connection notes. (No
    student here changed a locked cell: those would still be reported.)"""
    _, runs, _ = graded_course
    for command in ("autograde", "generate_feedback", "export"):
        text = runs[command].stderr
        assert "SAWarning" not in text and "Ctrl-C will not work" not in text and "without encryption" not in text
        assert "not recognized" not in text, text[-2000:]
    assert "has changed!" not in runs["autograde"].stderr


@pytest.mark.slow
@pytest.mark.ci_only
def test_stderr_does_not_cost_points(graded_course):
    root, _, _ = graded_course
    points = _points(root)["zoe"]
    assert sum(points[course.check_cell_id(c.name)] for c in REGISTRY) == AUTO_POINTS
    nb = nbformat.read(root / "autograded" / "zoe" / course.ASSIGNMENT / "rnn_embeddings.ipynb", 4)
    experiment = next(c for c in nb.cells if c.metadata["nbgrader"].get("grade_id") == "exp1")
    assert any(o.get("name") == "stderr" for o in experiment.outputs)  # it did write to stderr


@pytest.mark.slow
@pytest.mark.ci_only
def test_a_dead_kernel_gets_the_points_autograder_batch_gives(graded_course):
    """Issue 13: one outcome per submission. The kernel dies in the first cell that trains; nbgrader goes on, the
    engine grades the code, and the points are those of `autograder batch`, check by check; the report and the
    feedback name the cell, and the verdicts say the process ended without an error (not "read the error")."""
    root, runs, _ = graded_course
    assert runs["autograde"].returncode == 0, runs["autograde"].stderr[-3000:]
    rows = {row.student: row for row in course_report(root)}
    dead = rows["kernel-dies"]
    assert dead.status == "graded" and "the kernel died while running code cell" in dead.reason, dead
    assert {s for s, r in rows.items() if r.status == "graded"} == set(rows)
    notebook = root / "submitted" / "kernel-dies" / course.ASSIGNMENT / f"{course.ASSIGNMENT}.ipynb"
    batch_row = batch.grade_task("kernel-dies", notebook.name, notebook.read_bytes(), None, timeout=900)["row"]
    assert batch_row["status"] == "graded"
    assert {c.name: dead.points[course.check_cell_id(c.name)] for c in REGISTRY} == batch_row["points"]
    assert 0 < batch_row["total"] < AUTO_POINTS  # the public model checks pass; every check that trains fails
    with (root / "grades.csv").open() as f:  # nbgrader's export: the same automatic points, no silent zero
        exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)}
    assert exported["kernel-dies"] == batch_row["total"] and exported["zoe"] == AUTO_POINTS
    page = _words(root / "feedback" / "kernel-dies" / course.ASSIGNMENT / "rnn_embeddings.html")
    assert "the kernel died while running code cell" in page and "raised no error" in page
    assert "read the error, and fix the line it names" not in page


@pytest.mark.slow
@pytest.mark.ci_only
def test_feedback_shows_verdicts_without_hidden_tests(graded_course):
    root, runs, _ = graded_course
    assert runs["generate_feedback"].returncode == 0, runs["generate_feedback"].stderr
    pages = sorted((root / "feedback").glob(f"*/{course.ASSIGNMENT}/rnn_embeddings.html"))
    assert {p.parent.parent.name for p in pages} == {"release", "kernel-dies", "mallory", "zoe",
                                                     *MUTANTS}
    hidden_calls = [f'check(&quot;{c.name}&quot;)' for c in REGISTRY if c.visibility == "hidden"]
    for page in pages:
        text = page.read_text()
        assert "HIDDEN TESTS" not in text, page
        assert not [call for call in hidden_calls if call in text], page
    first_step = _words(root / "feedback" / "first-step" / course.ASSIGNMENT / "rnn_embeddings.html")
    assert "the state after the FIRST step" in first_step  # the verdict is there, the test's code is not
    assert re.search(r"last hidden state: failed \(0 of 2 points\)", first_step)


@pytest.mark.slow
@pytest.mark.ci_only
def test_grading_engine_is_not_copied_to_students(graded_course):
    root, _, _ = graded_course
    for folder in ("release", "feedback"):
        python_files = {p.name for p in (root / folder).rglob("*.py")}
        assert python_files <= {"fakenews_lesson.py"}, folder
        assert not list((root / folder).rglob("autograder")), folder


@pytest.mark.slow
@pytest.mark.ci_only
def test_a_kernel_can_neither_forge_its_score_nor_touch_a_classmate(graded_course):
    """Issue 10: mallory's kernel rebinds check(), points it at the instructor's notebook and rewrites every
    notebook it can reach; the engine's scores replace the kernel's outputs (0 for stubs), the kernel saw only its
    own folder, and zoe, graded after her, keeps full marks. Issue 19: it cannot reach a listener on the grader's
    loopback either."""
    root, _, _ = graded_course
    points = _points(root)
    assert sum(v or 0 for k, v in points["mallory"].items() if k.startswith("check-")) == 0
    assert sum(v or 0 for k, v in points["zoe"].items() if k.startswith("check-")) == AUTO_POINTS
    executed = nbformat.read(root / "autograded" / "mallory" / course.ASSIGNMENT / f"{course.ASSIGNMENT}.ipynb", 4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "submitted/zoe" not in printed and "autograded/zoe" not in printed, printed[:2000]
    # Issue 19: the kernel has no network (Unix sockets to nbgrader, a network namespace of its own), where bubblewrap
    # runs; where it cannot, the kernel is not sandboxed at all and says so.
    from autograder import sandbox

    if sandbox.best().level == "bwrap":
        assert "no network:" in printed and "reached the grader's network" not in printed, printed[:2000]
