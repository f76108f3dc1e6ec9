"""The nbgrader packaging, piece by piece (the whole run is tests/test_nbgrader_course.py): the test cells and their
points, the course configuration, the two preprocessors, the report of a run, the test cells' `check`, the student's
`autograder check`, and the student repositories' CI workflow."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from autograder import cli, course, nbgrader_cells
from autograder.checks import REGISTRY
from autograder.nbgrader_report import failures_from_log
from conftest import REFERENCE_NOTEBOOK, RELEASE_NOTEBOOK



def _graded_cells(path):
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def test_one_test_cell_per_check_with_the_registrys_points():
    """Does each check have exactly one locked test cell, written by check_cell_source, with the registry's points?
    (After changing the registry, rewrite the cells with check_cell_source and run `autograder release`.)"""
    cells = _graded_cells(REFERENCE_NOTEBOOK)
    tests = {gid: c for gid, c in cells.items() if gid.startswith("check-")}
    assert set(tests) == {course.check_cell_id(c.name) for c in REGISTRY}
    for check in REGISTRY:
        cell = tests[course.check_cell_id(check.name)]
        meta = cell.metadata["nbgrader"]
        assert (meta["points"], meta["locked"], meta["solution"]) == (check.points, True, False), check.name
        assert cell.source == course.check_cell_source(check), check.name
    answers = {gid: c.metadata["nbgrader"]["points"] for gid, c in cells.items() if not gid.startswith("check-")}
    assert answers == {"q1-answer": 2, "q2-answer": 2}
    assert sum(c.points for c in REGISTRY) == 12  # the README's points table: 12 automatic + 4 manual = 16


def test_release_runs_public_checks_and_hides_the_others():
    cells = _graded_cells(RELEASE_NOTEBOOK)
    for check in REGISTRY:
        source = cells[course.check_cell_id(check.name)].source
        assert (f'check("{check.name}")' in source) == (check.visibility == "visible"), check.name
        assert "HIDDEN" not in source


def _load_config(root: Path):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def test_course_config_sets_what_matters_here(tmp_path):
    from autograder.nbgrader_plugins import (
        EngineScores, ExecuteUntilTheKernelDies, FeedbackWithoutHiddenTests, GradedStderrToStdout,
        OverwriteCellsKnowingHiddenTests,
    )
    from nbgrader.preprocessors import Execute, OverwriteCells, SaveAutoGrades

    root = course.make_course(tmp_path / "course")
    config = _load_config(root)
    assert config.Execute.timeout == course.CELL_TIMEOUT
    assert config.CourseDirectory.db_url == f"sqlite:///{root / 'gradebook.db'}?timeout=60"
    steps = config.Autograde.autograde_preprocessors
    assert steps[:3] == [ExecuteUntilTheKernelDies, EngineScores, GradedStderrToStdout] and SaveAutoGrades in steps
    assert issubclass(ExecuteUntilTheKernelDies, Execute)  # configured by c.Execute, as nbgrader's
    sanitizing = config.Autograde.sanitize_preprocessors
    assert OverwriteCellsKnowingHiddenTests in sanitizing and OverwriteCells not in sanitizing
    assert FeedbackWithoutHiddenTests in config.GenerateFeedback.preprocessors
    assert config.NbGrader.logfile == str(root / "nbgrader.log")
    source = root / "source" / course.ASSIGNMENT
    assert sorted(p.name for p in source.rglob("*.py")) == ["fakenews_lesson.py"]  # the engine stays in the kit
    assert (source / ".github" / "workflows" / "grade.yml").is_file() and (source / "README.md").is_file()
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    course.make_course(root)
    assert (root / "nbgrader_config.py").read_text() == "c = get_config()\n"  # an instructor's edits are kept


def _cell(grade: bool, outputs, source="x = 1"):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "solution": False, "grade_id": "g", "points": 1,
                                 "locked": True, "schema_version": 3}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_stderr_in_a_graded_cell_becomes_stdout_and_keeps_its_points():
    from nbgrader.utils import determine_grade

    from autograder.nbgrader_plugins import GradedStderrToStdout

    stderr = {"output_type": "stream", "name": "stderr", "text": "100%|####| 3/3\n"}
    graded, other = _cell(True, [stderr]), _cell(False, [stderr])
    assert determine_grade(graded)[0] == 0  # what nbgrader does by default
    nb = nbformat.v4.new_notebook(cells=[graded, other])
    nb, _ = GradedStderrToStdout().preprocess(nb, {})
    assert nb.cells[0].outputs[0].name == "stdout" and nb.cells[0].outputs[0].text == stderr["text"]
    assert nb.cells[1].outputs[0].name == "stderr"
    assert determine_grade(nb.cells[0]) == (1, 1)


def test_feedback_drops_hidden_tests_and_their_tracebacks():
    from autograder.nbgrader_plugins import FeedbackWithoutHiddenTests

    error = {"output_type": "error", "ename": "GraderError", "evalue": "the grader failed",
             "traceback": ["----> 3 check(\"secret_check\")", "GraderError: the grader failed"]}
    cell = _cell(True, [error], 'from x import check\n### BEGIN HIDDEN TESTS\ncheck("secret_check")\n'
                                "### END HIDDEN TESTS")
    nb, _ = FeedbackWithoutHiddenTests().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    assert "secret_check" not in nb.cells[0].source
    assert nb.cells[0].outputs[0].traceback == ["GraderError: the grader failed"]


NBGRADER_LOG = """\
[AutogradeApp | INFO] Autograding /c/autograded/ann/rnn_embeddings/rnn_embeddings.ipynb
[AutogradeApp | ERROR] Kernel died while waiting for execute reply.
[AutogradeApp | ERROR] There was an error processing assignment: /c/submitted/bob/rnn_embeddings
[AutogradeApp | ERROR] Traceback (most recent call last):
      File "/x/nbclient/client.py", line 1, in _async_poll_for_reply
        raise DeadKernelError("Kernel died") from None
    nbclient.exceptions.DeadKernelError: Kernel died
[AutogradeApp | WARNING] Removing failed assignment: /c/autograded/bob/rnn_embeddings
[AutogradeApp | ERROR] While processing assignment /c/submitted/cy/rnn_embeddings, the kernel became unresponsive
[AutogradeApp | ERROR] There was an error processing assignment: /c/submitted/dee/rnn_embeddings
[AutogradeApp | ERROR] Traceback (most recent call last):
    ValueError: No such notebook
[AutogradeApp | ERROR] There was an error processing assignment 'rnn_embeddings' for student 'bob'
"""


def test_report_reads_why_autograding_failed_from_the_log(tmp_path):
    log = tmp_path / "nbgrader.log"
    log.write_text(NBGRADER_LOG)
    failures = failures_from_log(log)
    assert set(failures) == {"bob", "cy", "dee"}
    assert failures["bob"].startswith("the kernel died") and "DeadKernelError" in failures["bob"]
    assert "unresponsive" in failures["cy"] and failures["dee"] == "ValueError: No such notebook"
    assert failures_from_log(tmp_path / "none.log") == {}


def test_check_in_a_students_kernel_uses_the_live_objects(reference, capsys):
    assert nbgrader_cells.check("shapes", namespace=dict(reference)) == 1.0
    assert "passed (1 of 1 points)" in capsys.readouterr().out
    broken = dict(reference)
    del broken["ClassifierWithRNN"]
    assert nbgrader_cells.check("shapes", namespace=broken) == 0.0
    assert "`ClassifierWithRNN` not found" in capsys.readouterr().out
    with pytest.raises(nbgrader_cells.GraderError, match="no check named"):
        nbgrader_cells.check("no_such_check", namespace={})


def test_check_under_autograde_leaves_the_score_to_the_engine(monkeypatch, capsys):
    """Under nbgrader autograde the kernel is the student's: check() grades nothing there and returns no score."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert nbgrader_cells.check("shapes", namespace={}) is None
    assert "graded by the grading engine outside this kernel" in capsys.readouterr().out


def test_engine_scores_replace_what_the_kernel_printed(monkeypatch):
    """Does EngineScores write the engine's points over a test cell whose kernel output forged full marks, and
    grade the sources nbgrader holds, not a file the kernel could point at?"""
    import nbformat

    from autograder import grade as grade_module
    from autograder.checks import Verdict
    from autograder.nbgrader_plugins import EngineScores

    graded = []

    def fake_grade(path, **kwargs):
        graded.append(nbformat.read(path, as_version=4))
        verdicts = [Verdict(c.name, c.points, passed=c.name != "separability", expected="e", observed="o")
                    for c in REGISTRY]
        return grade_module.GradeReport(str(path), verdicts, list(REGISTRY))

    monkeypatch.setattr(grade_module, "grade", fake_grade)
    nb = nbformat.read(REFERENCE_NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("check-"):
            cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "99"}, execution_count=1)]
    nb, _ = EngineScores().preprocess(nb, {"metadata": {"name": "rnn_embeddings"}})
    scores = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("check-"):
            scores[grade_id[6:]] = cell.outputs[-1]["data"]["text/plain"]
    assert scores == {c.name: ("0" if c.name == "separability" else f"{c.points:g}") for c in REGISTRY}
    assert len(graded) == 1 and all(not c.get("outputs") for c in graded[0].cells if c.cell_type == "code")


def test_student_check_fails_on_stubs_and_unanswered_questions(capsys):
    assert cli.main(["check", str(RELEASE_NOTEBOOK), "--out", ""]) == 1
    out = capsys.readouterr().out
    assert "Not answered yet: q1-answer, q2-answer" in out and "NotImplementedError" in out
    # (the reference passes `check`: tests/test_grading.py, test_check_runs_only_public_checks)


def _workflow_steps() -> dict[str, dict]:
    import yaml

    workflow = yaml.safe_load((course.ASSIGNMENT_DIR / ".github" / "workflows" / "grade.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    return {step.get("id") or step.get("name") or step.get("uses"): step for step in steps}


@pytest.mark.slow
@pytest.mark.ci_only  # the workflow's grade step as GitHub runs it: CI
@pytest.mark.parametrize("notebook, status", [(RELEASE_NOTEBOOK, 1)])
def test_student_repository_workflow_grades_and_keeps_the_artifacts(tmp_path, notebook, status):
    """The workflow's grade step, run here as GitHub Actions would (bash, in a copy of the student's repository):
    without the key it stops and says so; with it, a failing notebook exits 1 and the files the artifact step keeps
    exist all the same. (A passing one, 12 / 12 and the same files: tests/test_install.py runs the workflow's
    install and grade steps with the built grader package.)"""
    steps = _workflow_steps()
    repo = tmp_path / "student-repo"
    shutil.copytree(course.ASSIGNMENT_DIR, repo)
    shutil.copy(notebook, repo / "rnn_embeddings.ipynb")
    summary = tmp_path / "summary.md"
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(summary))
    env.pop("AUTOGRADER_KEY", None)
    env["PATH"] = str(Path(os.sys.executable).parent) + os.pathsep + env["PATH"]
    run = ["bash", "-e", "-o", "pipefail", "-c", steps["grade"]["run"]]
    done = subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "::error::Set the organization's Actions secret AUTOGRADER_KEY" in done.stdout
    env["AUTOGRADER_KEY"] = "the course's key"
    done = subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == status, done.stdout + done.stderr
    kept = steps["Keep results.json and the feedback page"]
    assert kept["if"] == "always()"
    for path in kept["with"]["path"].split():
        assert (repo / path).is_file(), path
    assert "total" in summary.read_text()
    assert steps["install"]["run"].count("pip install") == 2 and "torch==2.13.0" in steps["install"]["run"]
    assert 'pip install -c "$CONSTRAINTS" "$KIT"' in steps["install"]["run"]
    assert "bubblewrap" in steps["sandbox"]["run"] and "apparmor_restrict_unprivileged_userns=0" in steps["sandbox"]["run"]


def test_the_workflows_install_step_names_each_missing_variable(tmp_path):
    """A missing organization variable is an error that names it, before anything is installed."""
    steps = _workflow_steps()
    for env, missing in (({}, "RNN_EMBEDDINGS_KIT"), ({"KIT": "kit.whl"}, "RNN_EMBEDDINGS_CONSTRAINTS")):
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", steps["install"]["run"]], cwd=tmp_path,
                              env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and f"Actions variable {missing} " in done.stdout, done.stdout + done.stderr


def test_feedback_tells_hidden_verdicts_as_the_course_policy_says_and_formgrader_keeps_them_whole(monkeypatch):
    """EngineScores writes the complete verdict (the autograded notebook is the instructor's) with each policy's
    text beside the score; the feedback students get holds the policy's text and nothing of the others."""
    import nbformat

    from autograder import grade as grade_module
    from autograder.checks import Verdict
    from autograder.nbgrader_plugins import EngineScores, FeedbackWithoutHiddenTests

    def fake_grade(path, **kwargs):
        verdicts = [Verdict(c.name, c.points, passed=c.name not in ("optimizer_protocol", "shapes"),
                            expected="e", observed="o", fix=f"the fix for {c.name}") for c in REGISTRY]
        return grade_module.GradeReport(str(path), verdicts, list(REGISTRY))

    monkeypatch.setattr(grade_module, "grade", fake_grade)
    nb, _ = EngineScores().preprocess(nbformat.read(REFERENCE_NOTEBOOK, as_version=4), {"metadata": {"name": "nb"}})
    assert "the fix for optimizer_protocol" in _texts(nb)  # formgrader's view: complete
    for policy, shown in (("verdict", False), ("observed", False), ("fix", True)):
        feedback, _ = FeedbackWithoutHiddenTests(hidden_feedback=policy).preprocess(copy.deepcopy(nb), {})
        text = _texts(feedback)
        assert ("the fix for optimizer_protocol" in text) == shown, policy
        assert "the fix for shapes" in text  # a public check tells its fix under every policy
        assert "autograder_feedback" not in json.dumps(feedback)


def _texts(nb) -> str:
    return " ".join(" ".join(o.get("text", "").split()) for c in nb.cells if c.cell_type == "code"
                    for o in c.get("outputs", []))


def test_the_sandboxed_kernel_has_no_network_and_leaves_no_socket(tmp_path, monkeypatch):
    """Issue 19: the course's kernel, started as nbgrader's Execute starts it (its kernel manager, the course's
    kernelspec), runs as the sandbox's uid and cannot reach a listener on the grader's loopback (an `autograder
    batch` scheduler, a gradebook): nbgrader talks to it over Unix sockets and it has a network namespace of its own.
    Its socket folder goes with it, and it leaves nothing in its temporary folder (here its own): the kit's modules
    are bound into the sandbox, not copied."""
    import socket
    import tempfile

    from nbclient import NotebookClient

    from autograder import kernel_sandbox, sandbox
    from autograder.nbgrader_plugins import ExecuteUntilTheKernelDies

    if sandbox.best().level != "bwrap":
        pytest.skip("bubblewrap cannot run here: the kernel is not sandboxed (and says so)")
    kernel_sandbox.kernelspec(tmp_path)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    before = set(Path(tempfile.gettempdir()).glob("autograder-kernel-*"))
    launcher_tmp = tmp_path / "launcher-tmp"  # the kernel's launcher's TMPDIR
    launcher_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(launcher_tmp))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        source = ("import os, socket\nprint(os.getuid())\ntry:\n"
                  f"    socket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), timeout=3).close()\n"
                  "    print('reached')\nexcept OSError as err:\n    print('refused', err)\n")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        notebook_dir = tmp_path / "student"
        notebook_dir.mkdir()
        manager = ExecuteUntilTheKernelDies().kernel_manager_class
        NotebookClient(nb, timeout=120, kernel_name=kernel_sandbox.KERNEL_NAME, kernel_manager_class=manager,
                       resources={"metadata": {"path": str(notebook_dir)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert printed.startswith(f"{sandbox.SANDBOX_UID}\n") and "refused" in printed and "reached" not in printed
    assert set(Path(tempfile.gettempdir()).glob("autograder-kernel-*")) == before
    assert not list(launcher_tmp.iterdir()), "the kernel's launcher left files behind"
