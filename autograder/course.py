"""Turns reference/ into an nbgrader course and the student release in assignment/, with real nbgrader."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference"
FIXTURE = REPO / "data_fixtures"
ASSIGNMENT_DIR = REPO / "assignment"
ASSIGNMENT = "rnn_embeddings"  # the nbgrader assignment name, and the notebook's stem
COURSE_ID = "rnn-embeddings"
LESSON_FILES = ("rnn_embeddings.ipynb", "fakenews_lesson.py")
FIXTURE_FILES = ("FakeNewsNet.csv", "fakenews_tokenizer.model")  # shipped to students in data/

NBGRADER_CONFIG = f'''\
"""nbgrader configuration for the RNN embeddings course (written by `autograder course`)."""
c = get_config()
c.CourseDirectory.course_id = "{COURSE_ID}"
c.CourseDirectory.root = "."
'''


def make_course(root: Path) -> Path:
    """Writes an nbgrader course folder: nbgrader_config.py and source/<assignment>/ with the lesson and data."""
    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    config = root / "nbgrader_config.py"
    if not config.exists():
        config.write_text(NBGRADER_CONFIG)
    for name in LESSON_FILES:
        shutil.copy2(REFERENCE / name, source / name)
    (source / "data").mkdir(exist_ok=True)
    for name in FIXTURE_FILES:
        shutil.copy2(FIXTURE / name, source / "data" / name)
    return root


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Runs an nbgrader command in a course folder; the interpreter's bin/ goes on PATH (nbgrader calls alembic)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, text=True,
                          capture_output=True, check=False)


def generate_release(out: Path = ASSIGNMENT_DIR) -> Path:
    """`nbgrader generate_assignment` on reference/, copied to `out` (replacing what nbgrader writes)."""
    with tempfile.TemporaryDirectory(prefix="rnn-course-") as tmp:
        root = make_course(Path(tmp))
        done = nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}\n{done.stderr}")
        release = root / "release" / ASSIGNMENT
        out.mkdir(parents=True, exist_ok=True)
        for name in LESSON_FILES + ("data",):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        for item in release.iterdir():
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, out / item.name)
    return out
