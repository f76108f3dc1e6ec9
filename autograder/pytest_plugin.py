"""pytest adapter for the grading engine:  pytest --pyargs autograder.test_graders --submission NOTEBOOK

(in a checkout of the kit, also `pytest autograder --submission NOTEBOOK`). The grader package registers this module
as a pytest plugin (entry point `pytest11`), so the options below exist wherever the kit is installed.

The notebook is graded once (the same engine as `autograder grade`); each check is one test whose id is the check's
name, so `-k separability` selects one. Points are reported at the end of the run and as JUnit properties.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("autograder", "grading a submission notebook")
    group.addoption("--submission", metavar="NOTEBOOK", help="the notebook to grade (required to run the graders)")
    group.addoption("--grading-data", metavar="PATH", help="a FakeNewsNet CSV or folder (default: the fixture)")
    group.addoption("--public-only", action="store_true", help="only the checks students can run")


@pytest.fixture(scope="session")
def graded(request):
    """Every verdict for --submission, by check name (graded once per session)."""
    from autograder.grade import grade
    from autograder.recipe import default_data_paths

    notebook = request.config.getoption("--submission")
    if not notebook:
        pytest.skip("no submission: run as  pytest --pyargs autograder.test_graders --submission NOTEBOOK")
    report = grade(notebook, public_only=request.config.getoption("--public-only"),
                   data=default_data_paths(request.config.getoption("--grading-data")))
    request.config._autograder_report = report
    return {v.check: v for v in report.verdicts}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = getattr(config, "_autograder_report", None)
    if report is None:
        return
    terminalreporter.section("points")
    for v in report.verdicts:
        terminalreporter.write_line(f"{v.check:<26} {v.score:>3g} / {v.max_score:g}")
    terminalreporter.write_line(f"{'total':<26} {report.score:>3g} / {report.max_score:g}")
