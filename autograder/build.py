"""`autograder build`: the kit's two artifacts, from one source tree, as wheels in dist/.

- the **grader package** (`rnn-embeddings-kit`): everything; what instructors, the batch, nbgrader's course and the
  Classroom workflow install. Built from pyproject.toml, which ships reference/ and data_fixtures/ as package data.
- the **student package** (`rnn-embeddings-student`): `autograder check`, the public checks and what they run on (the
  engine, the sandbox, the worker), the lesson's data helpers and `fakenews-lesson`, the fixture and tokenizer, and the
  helper module the notebook imports. Not autograder/hidden/ (the hidden checks' registry, judges, thresholds, messages
  and probes), not the solved notebook, not the instructor's commands. Its modules are listed here, by name: a module
  added to the kit stays out of it until it is added to STUDENT_MODULES.

Both provide the `autograder` package and command, so install one of them per environment (the grader package holds
everything the student package does).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder import resources

GRADER_NAME, STUDENT_NAME = "rnn-embeddings-kit", "rnn-embeddings-student"
STUDENT_MODULES = (
    "__init__.py", "__main__.py", "cli.py", "checks.py", "spec.py", "judging.py", "judges.py", "grade.py", "report.py", "disclosure.py", "integrity.py", "border.py",
    "notebook.py", "plan.py", "recipe.py", "recompute.py", "training_model.py", "runner.py", "limits.py",
    "sandbox.py", "worker.py", "probe_kit.py", "probes.py", "spy.py", "nbgrader_cells.py", "data.py", "resources.py", "lesson_cli.py",
)
STUDENT_LESSON_FILES = ("fakenews_lesson.py",)  # beside the notebook in the release too; not the solved notebook
STUDENT_FIXTURE_FILES = ("FakeNewsNet.csv", "fakenews_tokenizer.model")
STUDENT_EXCLUDED_REQUIREMENTS = ("nbgrader", "dask", "pytest", "cryptography")  # grading a course or a class: the grader package's
GRADER_SOURCES = ("pyproject.toml", "README.md", "autograder", "reference", "data_fixtures")


def _project() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((resources.CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _wheel(source: Path, out: Path) -> Path:
    """pip builds the wheel of the project in `source` (its pyproject.toml) into `out`; returns the wheel's path."""
    before = set(out.glob("*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out),
                           str(source)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pip wheel failed for {source}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    built = sorted(set(out.glob("*.whl")) - before) or sorted(out.glob("*.whl"), key=lambda p: p.stat().st_mtime)[-1:]
    return built[-1]


def _copy_sources(names, target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints")
    for name in names:
        path = resources.CHECKOUT / name
        if path.is_dir():
            shutil.copytree(path, target / name, ignore=ignore)
        else:
            shutil.copy2(path, target / name)


def student_pyproject(project: dict) -> str:
    import json

    requirements = [r for r in project["dependencies"]
                    if not r.split("[")[0].split(">")[0].split("=")[0].strip() in STUDENT_EXCLUDED_REQUIREMENTS]
    requirements += ["jinja2>=3.1", "notebook>=7"]  # the feedback page; Jupyter (the grader package: via nbgrader)
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{STUDENT_NAME}"
version = "{project['version']}"
description = "The RNN embeddings lesson for students: its helpers, its data and `autograder check` (public checks)."
readme = "README.md"
requires-python = "{project['requires-python']}"
dependencies = {json.dumps(requirements)}

[project.scripts]
autograder = "autograder.cli:main"
fakenews-lesson = "autograder.lesson_cli:main"

[tool.setuptools]
packages = ["autograder", "autograder.lesson", "autograder.fixture"]

[tool.setuptools.package-data]
"autograder.fixture" = {json.dumps(list(STUDENT_FIXTURE_FILES))}
"""


STUDENT_README = """# rnn-embeddings-student

The RNN embeddings lesson's student package: the helpers the notebook imports, the offline data, and
`autograder check rnn_embeddings.ipynb` (the public checks). The hidden checks run when your instructor grades.
"""


def stage_student_package(folder: Path) -> Path:
    """The student package's `autograder/` in `folder` (what its wheel installs): the whitelisted modules, the
    helper module and the fixture as package data. Returns the package folder."""
    package = Path(folder) / "autograder"
    package.mkdir(parents=True)
    for name in STUDENT_MODULES:
        shutil.copy2(resources.CHECKOUT / "autograder" / name, package / name)
    for sub, names, source in (("lesson", STUDENT_LESSON_FILES, resources.CHECKOUT / "reference"),
                               ("fixture", STUDENT_FIXTURE_FILES, resources.CHECKOUT / "data_fixtures")):
        (package / sub).mkdir()  # package data, as in the grader package (no __init__.py)
        for name in names:
            shutil.copy2(source / name, package / sub / name)
    return package


def build(out: Path) -> dict[str, Path]:
    """Builds both wheels into `out`; returns {"grader": path, "student": path}."""
    if not (resources.CHECKOUT / "pyproject.toml").is_file() or not (resources.CHECKOUT / "reference").is_dir():
        raise FileNotFoundError(f"`autograder build` needs the kit's source tree; {resources.CHECKOUT} is not one")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    built = {}
    with tempfile.TemporaryDirectory(prefix="rnn-kit-build-") as tmp:
        grader = Path(tmp) / "grader"  # a clean copy: no stale build/ of an earlier build can slip into the wheel
        grader.mkdir()
        _copy_sources(GRADER_SOURCES, grader)
        built["grader"] = _wheel(grader, out)

        student = Path(tmp) / "student"
        stage_student_package(student)
        (student / "pyproject.toml").write_text(student_pyproject(_project()), encoding="utf-8")
        (student / "README.md").write_text(STUDENT_README, encoding="utf-8")
        built["student"] = _wheel(student, out)
    # The versions the kit is tested with travel with the wheels: `pip install -c constraints.txt WHEEL` needs no
    # checkout of the kit.
    built["constraints"] = out / "constraints.txt"
    shutil.copyfile(resources.CHECKOUT / "requirements" / "constraints.txt", built["constraints"])
    return built
