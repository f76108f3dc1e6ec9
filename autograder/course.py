"""Turns reference/ into an nbgrader course and the student release in assignment/, with real nbgrader."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder import kernel_sandbox, resources

# `autograder release` writes the checkout's assignment/ (drift-tested); an installed kit writes ./assignment.
ASSIGNMENT_DIR = resources.CHECKOUT / "assignment" if (resources.CHECKOUT / "reference").is_dir() else \
    Path("assignment")
ASSIGNMENT = "rnn_embeddings"  # the nbgrader assignment name, and the notebook's stem
COURSE_ID = "rnn-embeddings"
# What source/<assignment>/ holds besides the data; nbgrader copies all of it into the release.
LESSON_FILES = ("rnn_embeddings.ipynb", "fakenews_lesson.py", "README.md", ".github/workflows/grade.yml")
FIXTURE_FILES = ("FakeNewsNet.csv", "fakenews_tokenizer.model")  # shipped to students in data/
CELL_TIMEOUT = 900  # seconds; see the comment in NBGRADER_CONFIG

NBGRADER_CONFIG = '''\
"""nbgrader configuration for the RNN embeddings course (written by `autograder course`; edit freely)."""
import os
import sys

c = get_config()  # noqa: F821 - nbgrader provides it
ROOT = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "{course_id}"
c.CourseDirectory.root = ROOT

# The grading engine (the `autograder` package) is what the hidden test cells import at autograde time. It lives in
# the kit, not in source/, so nbgrader never copies it into release/ or feedback/. KIT is the folder it is imported
# from when the kit is a checkout rather than an installed package; the kernels nbgrader starts get it on PYTHONPATH.
KIT = {kit!r}
if KIT:
    sys.path.insert(0, KIT)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (KIT, os.environ.get("PYTHONPATH")) if p)

# nbgrader's gradebook makes SQLAlchemy warn "Object of type <SubmittedAssignment> not in session, add operation
# along 'Assignment.submissions' will not proceed" (SAWarning) three times for every new submission: nbgrader builds
# related rows before adding them to the session, and adds them right after. Nothing to act on: silenced for
# nbgrader's gradebook module only.
import warnings  # noqa: E402

from sqlalchemy.exc import SAWarning  # noqa: E402

warnings.filterwarnings("ignore", category=SAWarning, module=r"nbgrader\\.api")

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades, IgnorePattern, LimitOutput,
    OverwriteKernelspec, SaveAutoGrades,
)

from autograder.nbgrader_plugins import (  # noqa: E402
    EngineScores, ExecuteUntilTheKernelDies, FeedbackWithoutHiddenTests, GradedStderrToStdout,
    OverwriteCellsKnowingHiddenTests,
)

# The student's kernel runs in a sandbox (autograder/kernel_sandbox.py): only its notebook's folder is writable, no
# other student's files, no course folder, no gradebook. The kernelspec lives in this folder's kernels/.
os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("JUPYTER_PATH")) if p)
c.Execute.kernel_name = "{kernel_name}"

# Per-cell time limit, in seconds. The longest cells: each experiment (3000 epochs on one thread: about 8 s on the
# fixture; on 23,000 headlines about 150 s on a quiet 2-core machine and 200 s beside two busy processes,
# benchmarks/README.md: this limit is about 4 times that), and the first hidden test cell (EngineScores grades the
# whole notebook there: about 15 s on the fixture; the engine's own time limits follow the data, autograder/limits.py).
c.Execute.timeout = {timeout}

# The scores come from the grading engine, not from the student's kernel: EngineScores (in nbgrader's process)
# grades the notebook nbgrader executed with the sandboxed engine and writes each test cell's verdict and points
# over what the kernel produced. Its grading data: the kit's fixture, or c.EngineScores.data = "/path/to/csv".
# nbgrader gives a graded cell 0 points if it wrote to stderr: GradedStderrToStdout keeps such text as stdout.
# A kernel that dies no longer abandons the notebook (ExecuteUntilTheKernelDies, nbgrader's Execute otherwise; its
# settings are c.Execute's): the cell it died in says so, and the engine grades the code as `autograder batch` does.
# The rest is nbgrader's default list.
c.Autograde.autograde_preprocessors = [
    ExecuteUntilTheKernelDies, EngineScores, GradedStderrToStdout, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]

# nbgrader's sanitizing list, with OverwriteCells replaced: nbgrader warns that the checksum of every hidden-test cell
# "has changed" for every student, untouched copies included (nbgrader issue #1961); this one warns only when the
# student changed the cell. It restores the cell's source (hidden tests included) either way, as nbgrader does.
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCellsKnowingHiddenTests, CheckCellMetadata,
]

# Feedback shows each check's verdict (the test cell prints it) but not the hidden tests' source, nor a traceback
# quoting it.
c.GenerateFeedback.preprocessors = [GetGrades, FeedbackWithoutHiddenTests, CSSHTMLHeaderPreprocessor]
# What the feedback says of a hidden check (docs/instructors.md, "Feedback policy"): "verdict" (passed or not),
# "observed" (what was expected and what was observed) or "fix" (also what to change). Feedback goes out after the
# deadline here, so the default is the whole message. The autograded notebooks (formgrader) are always complete.
c.FeedbackWithoutHiddenTests.hidden_feedback = "fix"

# The SQLite gradebook waits up to 60 s for a lock held by another nbgrader process (formgrader, a second
# autograde) instead of failing with "database is locked". For PostgreSQL, put its URL here.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db") + "?timeout=60"

# Failures (a kernel that died, a notebook that could not be run) are logged here; `autograder nbgrader-report`
# reads them to mark those students as errors, not zeros.
c.NbGrader.logfile = os.path.join(ROOT, "nbgrader.log")
'''


def kit_path() -> str | None:
    """The folder `autograder` is imported from, when that is a checkout (None for an installed package)."""
    parent = Path(__file__).resolve().parent.parent
    return None if parent.name in ("site-packages", "dist-packages") else str(parent)


def make_course(root: Path) -> Path:
    """Writes an nbgrader course folder: nbgrader_config.py (an existing one is kept) and source/<assignment>/ with
    the lesson, the student README and CI workflow, and the data."""
    root = Path(root)
    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    config = root / "nbgrader_config.py"
    if not config.exists():
        config.write_text(NBGRADER_CONFIG.format(course_id=COURSE_ID, kit=kit_path(), timeout=CELL_TIMEOUT,
                                                 kernel_name=kernel_sandbox.KERNEL_NAME))
    kernel_sandbox.kernelspec(root)
    for name in LESSON_FILES:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(resources.lesson_file(name), source / name)
    (source / "data").mkdir(exist_ok=True)
    for name in FIXTURE_FILES:
        shutil.copy2(resources.fixture_dir() / name, source / "data" / name)
    return root


def nbgrader(root: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Runs an nbgrader command in a course folder; the interpreter's bin/ goes on PATH (nbgrader calls alembic)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, text=True,
                          capture_output=True, check=False, timeout=timeout)


def generate_release(out: Path = ASSIGNMENT_DIR) -> Path:
    """`nbgrader generate_assignment` on reference/, copied to `out` (replacing what nbgrader writes)."""
    with tempfile.TemporaryDirectory(prefix="rnn-course-") as tmp:
        root = make_course(Path(tmp))
        done = nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")
        release = root / "release" / ASSIGNMENT
        out.mkdir(parents=True, exist_ok=True)
        for name in LESSON_FILES + ("data", ".github"):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        shutil.copytree(release, out, dirs_exist_ok=True)
    return out


def check_cell_source(check) -> str:
    """The source of the notebook's test cell for one check of the registry: the public checks run where students
    can run them; a hidden check's call sits in nbgrader's hidden region, which the release does not contain."""
    from autograder.checks import PUBLIC

    visibility = "public: run this cell to check your work" if check.visibility == PUBLIC else \
        "hidden: it runs when your notebook is graded"
    points = f"{check.points:g} point{'s' if check.points != 1 else ''}"
    call = f'check("{check.name}");  # the verdict is printed; the ";" keeps the points from echoing as Out[]'
    lines = [f"# Check `{check.name}` ({points}, {visibility}).", f"# It checks: {check.title}.",
             "from autograder.nbgrader_cells import check", ""]
    if check.visibility == PUBLIC:
        lines.append(call)
    else:
        lines += ["### BEGIN HIDDEN TESTS", call, "### END HIDDEN TESTS"]
    return "\n".join(lines)


def check_cell_id(name: str) -> str:
    """The nbgrader grade id of the test cell of check `name`."""
    return f"check-{name}"
