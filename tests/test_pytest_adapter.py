"""`pytest autograder --submission NOTEBOOK`: one test per check, ids are the check names, points reported."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "autograder", "-p", "no:cacheprovider", "-rA", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.ci_only  # a pytest in a subprocess grading the release: CI
def test_release_fails_each_public_check_by_name():
    done = run_pytest("--submission", "assignment/rnn_embeddings.ipynb", "--public-only")
    assert done.returncode == 1, done.stdout
    for name in ("shapes", "train_returns_losses", "device_placement"):
        assert f"FAILED autograder/test_graders.py::test_check[{name}]" in done.stdout
    assert "this stub is not written yet" in done.stdout
    assert re.search(r"^total +0 / 3$", done.stdout, re.M)
    assert "Traceback" not in done.stdout


def test_without_a_submission_everything_is_skipped():
    done = run_pytest()
    assert done.returncode == 0 and "9 skipped" in done.stdout
    assert "pytest --pyargs autograder.test_graders --submission NOTEBOOK" in done.stdout


@pytest.mark.ci_only  # the installed-package path: tests/test_install.py runs it too
def test_from_another_folder_with_pyargs(tmp_path):
    """The documented command for an installed kit: any folder, the module named, the plugin from the entry point."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "autograder.test_graders", "-p",
                           "no:cacheprovider", "-rA", "--submission", str(REPO / "reference" / "rnn_embeddings.ipynb"),
                           "--public-only"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^total +3 / 3$", done.stdout, re.M)
