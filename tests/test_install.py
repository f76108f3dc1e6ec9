"""The kit as its users install it: `autograder build` makes the two wheels; each is installed into a fresh venv
outside the repository (torch 2.13.0 first, then the wheel with the pinned constraints), and every documented command
runs from a temporary folder: the student package in a venv of its own; the grader package as Gradescope's setup.sh
installs it, then the instructor's commands, nbgrader, the batch and GitHub Classroom's workflow steps from that venv.
CI only (`make test-all`): two fresh venvs take a few minutes.

The student wheel is also opened and searched for the hidden checks' text (a fast test, in the default run).
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import REFERENCE_NOTEBOOK, RELEASE_NOTEBOOK, REPO

CONSTRAINTS = REPO / "requirements" / "constraints.txt"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory, worker_id) -> dict[str, Path]:
    """The two wheels, built once for the whole run (about 15 s), by whichever xdist worker asks first: the run's
    temporary folder, shared by its workers, holds them under a file lock (pytest-xdist's pattern for a session
    fixture made once). Without xdist, this session's own folder."""
    from filelock import FileLock

    from autograder.build import build

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    out = shared / "wheels"
    with FileLock(str(shared / "wheels.lock")):
        if not (out / "constraints.txt").is_file():
            build(out)
    return {"grader": next(out.glob("rnn_embeddings_kit-*.whl")),
            "student": next(out.glob("rnn_embeddings_student-*.whl")), "constraints": out / "constraints.txt"}


@pytest.fixture(scope="module")
def torch_dir(tmp_path_factory) -> Path:
    """torch 2.13.0 and what it requires, laid out as a site-packages, for the module's fresh venvs: the docs' first
    step, "install torch 2.13.0". This environment's own copy (pip installed it from the same wheel, under the same
    constraints), file by file as pip recorded them, hard-linked (copied where the two lie on different file
    systems); each venv then links them in turn, as pip would have left them. The rest of each install (the wheel,
    its pinned dependencies, its commands) is made fresh in every venv."""
    from importlib import metadata

    from packaging.requirements import Requirement

    folder = tmp_path_factory.mktemp("torch")
    wanted, seen = ["torch"], set()
    while wanted:
        dist = metadata.distribution(wanted.pop())
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        wanted += [r.name for r in map(Requirement, dist.requires or [])
                   if r.marker is None or r.marker.evaluate({"extra": ""})]
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if ".." in Path(file).parts or not source.is_file():  # its console scripts (bin/) are the venv's own
                continue
            target = folder / file
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
    assert (folder / "torch" / "__init__.py").is_file() and "torch" in seen, seen
    return folder


def _venv(folder: Path, wheel: Path, torch: Path) -> Path:
    """A fresh venv with torch 2.13.0 (from `torch`) and the wheel (pinned constraints); returns its bin/."""
    # A clean environment: an earlier test may have loaded a course's nbgrader_config.py in this process, which
    # puts the checkout on PYTHONPATH; pip would then find the kit "already satisfied" and install nothing.
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300, env=clean)
    site = next((folder / "lib").glob("python3*/site-packages"))
    for entry in torch.iterdir():  # hard links: the layout pip leaves, without writing 1 GB again
        if entry.name == "bin" or (site / entry.name).exists():  # the venv's own pip and setuptools win
            continue
        if entry.is_dir():
            shutil.copytree(entry, site / entry.name, copy_function=os.link)
        else:
            os.link(entry, site / entry.name)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    found = subprocess.run([*pip[:3], "show", "torch"], capture_output=True, text=True, timeout=120, env=clean)
    assert "Version: 2.13.0" in found.stdout, found.stdout + found.stderr
    shipped = wheel.parent / "constraints.txt"  # autograder build writes it beside the wheels
    assert shipped.read_bytes() == CONSTRAINTS.read_bytes()
    done = subprocess.run([*pip, "-c", str(shipped), str(wheel)], timeout=1200, capture_output=True,
                          text=True, env=clean)
    assert done.returncode == 0, done.stderr[-3000:]
    found = subprocess.run([str(folder / "bin" / "python"), "-c", "import autograder; print(autograder.__file__)"],
                           cwd=folder, capture_output=True, text=True, timeout=120, env=clean)
    assert found.stdout.startswith(str(folder)), (found.stdout, found.stderr, done.stdout[-2000:])
    assert (folder / "bin" / "autograder").is_file()
    return folder / "bin"


def _gradescope_setup(wheels: dict[str, Path], root: Path) -> Path:
    """`autograder gradescope`'s zip holding the built wheel, laid out as Gradescope does, and its setup.sh run as
    Gradescope runs it (root; apt-get only if something is missing; torch from pip's own index, since the PyTorch
    index is out of this machine's reach). Returns the venv's bin/."""
    from autograder.gradescope import make_zip, unpack

    archive = make_zip(root.parent / "zip", kit=str(wheels["grader"]))  # the wheel and its constraints, in the zip
    unpack(archive, root)
    assert (root / "source" / wheels["grader"].name).is_file() and not (root / "source" / "kit.txt").exists()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_CONSTRAINT")}
    clean |= {"GRADESCOPE_ROOT": str(root), "TORCH_INDEX_URL": ""}
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=clean, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert oct((root / "source").stat().st_mode & 0o777) == "0o700" and (root / "source" / "key").stat().st_mode & 0o077 == 0
    found = subprocess.run([str(root / "venv" / "bin" / "python"), "-c", "import autograder; print(autograder.__file__)"],
                           cwd=root, capture_output=True, text=True, timeout=120, env=clean)
    assert found.stdout.startswith(str(root / "venv")), (found.stdout, found.stderr)
    return root / "venv" / "bin"


def _run(bin_dir: Path, *args: str, cwd: Path, timeout: float = 900, env: dict | None = None):
    """Runs a command of the fresh venv: its bin/ first on PATH (nbgrader calls alembic) and the test run's own
    environment (tox's bin/, PYTHONPATH, VIRTUAL_ENV) left out, so nothing falls back to the checkout's kit."""
    environment = dict(os.environ, **(env or {}))
    ours = {str(Path(sys.executable).parent), os.environ.get("VIRTUAL_ENV", "") + "/bin"}
    environment["PATH"] = os.pathsep.join([str(bin_dir)] + [p for p in environment["PATH"].split(os.pathsep)
                                                            if p and p not in ours])
    for name in ("PYTHONPATH", "VIRTUAL_ENV"):
        environment.pop(name, None)
    command = [str(bin_dir / args[0]) if (bin_dir / args[0]).is_file() else args[0], *args[1:]]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def _hidden_texts() -> set[str]:
    """Every string literal of the hidden checks' modules longer than 24 characters (hints, titles, messages), but
    those a public check says too ("Fix the error first (see train_returns_losses).")."""
    from autograder.build import STUDENT_MODULES

    public = "\n".join((REPO / "autograder" / name).read_text() for name in STUDENT_MODULES)
    texts = set()
    for path in (REPO / "autograder" / "hidden").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 24:
                texts.add(node.value)
            if isinstance(node, ast.JoinedStr):  # the literal parts of f-strings
                texts.update(v.value for v in node.values if isinstance(v, ast.Constant) and len(v.value) > 24)
    return {text for text in texts if text not in public}


def test_student_wheel_holds_no_hidden_grader(wheels):
    """No hidden check's judge, threshold, probe or message text, and no solved notebook, in the student package."""
    from autograder.hidden import HIDDEN_CHECKS
    from autograder.hidden.judges import Thresholds

    with zipfile.ZipFile(wheels["student"]) as wheel:
        names = wheel.namelist()
        text = "\n".join(wheel.read(n).decode("utf-8", "replace") for n in names if n.endswith((".py", ".txt")))
    assert not [n for n in names if "/hidden/" in n or n.endswith(".ipynb")], names
    assert "autograder/fixture/FakeNewsNet.csv" in names and "autograder/lesson/fakenews_lesson.py" in names
    assert {n.split("/")[0] for n in names} == {"autograder", wheels["student"].name.split("-")[0] + "-"
                                                + wheels["student"].name.split("-")[1] + ".dist-info"}
    hidden = _hidden_texts()
    assert len(hidden) > 40
    for literal in hidden:
        assert literal not in text, literal
    for check in HIDDEN_CHECKS:
        assert f"def {check.judge}(" not in text and check.hint not in text and check.title not in text
    for name, value in Thresholds().__dict__.items():  # neither a threshold's definition nor its use
        assert f"{name}: float" not in text and f"t.{name}" not in text and f"thresholds.{name}" not in text, name
    for name in ("probe_training", "probe_end_to_end", "class Thresholds", "class GraderRNN", "GraderRNN("):
        assert name not in text


def test_grader_wheel_ships_what_it_reads(wheels):
    with zipfile.ZipFile(wheels["grader"]) as wheel:
        names = set(wheel.namelist())
    for path in ("autograder/lesson/rnn_embeddings.ipynb", "autograder/lesson/fakenews_lesson.py",
                 "autograder/lesson/README.md", "autograder/lesson/.github/workflows/grade.yml",
                 "autograder/fixture/FakeNewsNet.csv", "autograder/fixture/fakenews_tokenizer.model",
                 "autograder/hidden/judges.py", "autograder/hidden/probes.py"):
        assert path in names, path
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"autograder"}


def _check_cell_notebook(folder: Path) -> Path:
    """The reference's code up to the `shapes` Check cell (hidden test cells left out, as in the release), beside
    the release's helper module: what a student runs in Jupyter before the first check."""
    nb = nbformat.read(REFERENCE_NOTEBOOK, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "BEGIN HIDDEN TESTS" in cell.source:
            continue
        cells.append(nbformat.v4.new_code_cell(cell.source))
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "check-shapes":
            break
    path = folder / "first_check.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    shutil.copy(RELEASE_NOTEBOOK.parent / "fakenews_lesson.py", folder / "fakenews_lesson.py")
    return path


@pytest.mark.slow
@pytest.mark.ci_only
def test_student_package_in_a_fresh_venv(wheels, torch_dir, tmp_path):
    bin_dir = _venv(tmp_path / "venv", wheels["student"], torch_dir)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(RELEASE_NOTEBOOK, work / "release.ipynb")
    shutil.copy(REFERENCE_NOTEBOOK, work / "reference.ipynb")
    done = _run(bin_dir, "autograder", "check", "release.ipynb", cwd=work)
    assert done.returncode == 1 and "NotImplementedError" in done.stdout, done.stdout + done.stderr
    done = _run(bin_dir, "autograder", "check", "reference.ipynb", cwd=work)
    assert done.returncode == 0 and re.search(r"^total +3 / 3", done.stdout, re.M), done.stdout + done.stderr
    assert "3 of 12 points are checked here; 9 more when your notebook is graded" in done.stdout
    done = _run(bin_dir, "autograder", "grade", "reference.ipynb", cwd=work)
    assert done.returncode == 2 and "student package" in done.stderr
    site = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
    assert not (site / "autograder" / "hidden").exists() and not (site / "fakenews_lesson.py").exists()

    notebook = _check_cell_notebook(work)
    script = ("import nbclient, nbformat, sys\n"
              f"nb = nbformat.read({str(notebook)!r}, 4)\n"
              f"nbclient.NotebookClient(nb, timeout=600, kernel_name='python3', "
              f"resources={{'metadata': {{'path': {str(work)!r}}}}}).execute()\n"
              f"nbformat.write(nb, {str(notebook)!r})\n")
    done = _run(bin_dir, "python", "-c", script, cwd=work, env={"MPLBACKEND": "agg"})
    assert done.returncode == 0, done.stderr[-3000:]
    last = nbformat.read(notebook, 4).cells[-1]
    values = [o for o in last.outputs if o.output_type == "execute_result"]
    printed = "".join(o.get("text", "") for o in last.outputs)
    assert values == [] and "passed (1 of 1 points)" in printed, last.outputs  # no stray Out[] under the verdict
    assert "points are checked here; 9 more when your notebook is graded" in " ".join(printed.split())


@pytest.mark.slow
@pytest.mark.ci_only
def test_grader_package_in_a_fresh_venv(wheels, tmp_path):
    """The grader package installed by the Gradescope zip's setup.sh (a venv, torch, the wheel under its
    constraints), then every instructor's command from that venv."""
    bin_dir = _gradescope_setup(wheels, tmp_path / "autograder")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(REFERENCE_NOTEBOOK, work / "reference.ipynb")
    done = _run(bin_dir, "fakenews-lesson", "train-tokenizer", "fixture", "--vocab-size", "200",
                "--model-prefix", "tok", cwd=work)
    assert done.returncode == 0 and (work / "tok.model").is_file(), done.stderr

    done = _run(bin_dir, "autograder", "release", "--out", "release", cwd=work)
    assert done.returncode == 0 and (work / "release" / "rnn_embeddings.ipynb").is_file(), done.stderr
    assert "raise NotImplementedError()" in (work / "release" / "rnn_embeddings.ipynb").read_text()
    done = _run(bin_dir, "autograder", "calibrate", "--seeds", "1", cwd=work)  # a checkout's command: says so
    assert done.returncode == 2 and "source tree" in done.stderr, done.stderr

    # nbgrader: the course, the release, one student autograded, the report.
    done = _run(bin_dir, "autograder", "course", "course", cwd=work)
    assert done.returncode == 0, done.stderr
    course = work / "course"
    assert "KIT = None" in (course / "nbgrader_config.py").read_text()  # the installed engine, not a checkout
    done = _run(bin_dir, "nbgrader", "generate_assignment", "rnn_embeddings", cwd=course)
    assert done.returncode == 0, done.stdout + done.stderr
    submitted = course / "submitted" / "alice" / "rnn_embeddings"
    submitted.mkdir(parents=True)
    shutil.copy(REFERENCE_NOTEBOOK, submitted / "rnn_embeddings.ipynb")
    done = _run(bin_dir, "nbgrader", "autograde", "rnn_embeddings", cwd=course, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    done = _run(bin_dir, "autograder", "nbgrader-report", ".", "--out", "report.csv", cwd=course)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(course / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["status"] == "graded" and rows[0]["automatic"] == "12", rows  # the one grades table's columns
    assert rows[0]["answers"] == "" and rows[0]["total_max"] == "16"  # the answers wait for formgrader

    # The batch, on two students.
    submissions = work / "submissions"
    submissions.mkdir()
    shutil.copy(REFERENCE_NOTEBOOK, submissions / "ada.ipynb")
    shutil.copy(RELEASE_NOTEBOOK, submissions / "bo.ipynb")
    done = _run(bin_dir, "autograder", "batch", "submissions", "--out", "grades", "--workers", "2", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(work / "grades" / "grades.csv", newline="") as handle:
        totals = {row["student"]: float(row["automatic"]) for row in csv.DictReader(handle)}
    assert totals["ada"] == 12 and totals["bo"] < 12, totals
    results = json.loads((work / "grades" / "students" / "ada" / "results.json").read_text())
    assert sum(t["score"] for t in results["tests"]) == 12 and (work / "grades" / "students" / "ada" / "feedback.html").is_file()

    # GitHub Classroom: the workflow's install and grade steps, their shell exactly as grade.yml writes them, in a
    # copy of a student repository, with the kit variable pointing at the built grader wheel. The runner's Python
    # is this venv: it holds torch 2.13.0 (the runner's own set-up, which the install step then finds already
    # there) and the same wheel under the same constraints (setup.sh's install above), so the install step's pip
    # commands check the variables and the wheel and install nothing; the grade step grades and writes the summary.
    _classroom_steps(bin_dir, wheels, tmp_path)


def _classroom_steps(bin_dir: Path, wheels: dict[str, Path], tmp_path: Path) -> None:
    import yaml

    workflow = yaml.safe_load((RELEASE_NOTEBOOK.parent / ".github" / "workflows" / "grade.yml").read_text())
    steps = {step.get("id") or step.get("name"): step for step in workflow["jobs"]["grade"]["steps"]}
    repo = tmp_path / "student-repo"
    shutil.copytree(RELEASE_NOTEBOOK.parent, repo)
    shutil.copy(REFERENCE_NOTEBOOK, repo / "rnn_embeddings.ipynb")
    summary = tmp_path / "summary.md"
    env = {"KIT": str(wheels["grader"]), "CONSTRAINTS": str(wheels["grader"].parent / "constraints.txt"),
           "GITHUB_STEP_SUMMARY": str(summary), "AUTOGRADER_KEY": "the course's key"}
    for step in ("install", "grade"):
        done = _run(bin_dir, "bash", "-e", "-o", "pipefail", "-c", steps[step]["run"], cwd=repo, env=env,
                    timeout=1500)
        assert done.returncode == 0, f"{step}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    assert re.search(r"^total +12 / 12", summary.read_text(), re.M), summary.read_text()
    for path in steps["Keep results.json and the feedback page"]["with"]["path"].split():
        assert (repo / path).is_file(), path
