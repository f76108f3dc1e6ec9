"""The engine end to end: the reference gets full marks, the release gets 0 on every stub, broken notebooks still get
a verdict for every check, the same submission always gets the same score, and the reports are well formed."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import nbformat
import pytest

from autograder import cli
from autograder.checks import REGISTRY, TOTAL_POINTS
from autograder.grade import grade
from conftest import REFERENCE_NOTEBOOK, REPO

RELEASE = REPO / "assignment" / "rnn_embeddings.ipynb"


def _edit(tmp_path, name, edit):
    nb = nbformat.read(REFERENCE_NOTEBOOK, as_version=4)
    edit(nb)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def reference_report():
    return grade(REFERENCE_NOTEBOOK)


@pytest.mark.slow
def test_reference_gets_full_marks(reference_report):
    assert reference_report.score == TOTAL_POINTS
    assert [v.check for v in reference_report.verdicts] == [c.name for c in REGISTRY]
    assert reference_report.exit_code == 0 and not reference_report.problems


@pytest.mark.slow
def test_same_submission_same_verdicts(reference_report):
    """Seeds are fixed: is a second grading identical, numbers in the messages included?"""
    again = grade(REFERENCE_NOTEBOOK)
    assert [v.message for v in again.verdicts] == [v.message for v in reference_report.verdicts]


@pytest.mark.slow
def test_cli_grade_writes_reports(tmp_path, capsys):
    code = cli.main(["grade", str(REFERENCE_NOTEBOOK), "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert re.search(rf"^total +{TOTAL_POINTS:g} / {TOTAL_POINTS:g}", printed, re.M)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == TOTAL_POINTS
    assert {t["name"] for t in results["tests"]} == {c.name for c in REGISTRY}
    assert all({"name", "score", "max_score", "visibility", "output"} <= set(t) for t in results["tests"])
    assert {t["visibility"] for t in results["tests"]} == {"visible", "hidden"}
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == str(len(REGISTRY)) and suite.get("failures") == "0"
    html = (tmp_path / "feedback.html").read_text()
    assert html.count("<img") == 3 and "Traceback" not in html
    assert "summarize_is_last_state" in html


def test_release_gets_zero_on_every_stub(tmp_path, capsys):
    """Does the untouched student release get 0 everywhere, each with a message and no traceback dump?"""
    code = cli.main(["grade", str(RELEASE), "--out", str(tmp_path)])
    assert code == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["score"] == 0
    for test in results["tests"]:
        assert "Expected:" in test["output"] and "To fix:" in test["output"]
        assert "Traceback" not in test["output"]
    assert "this stub is not written yet" in capsys.readouterr().out


def test_check_runs_only_public_checks(capsys):
    code = cli.main(["check", str(REFERENCE_NOTEBOOK)])
    assert code == 0
    out = capsys.readouterr().out
    public = [c.name for c in REGISTRY if c.visibility == "visible"]
    assert all(name in out for name in public) and "separability" not in out


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"not json at all", "could not be read as a Jupyter notebook"),
     (b'{"cells": 3}', "could not be read as a Jupyter notebook"),
     (b"\xff\xfe\x00garbage", "is not UTF-8 text")],
    ids=["not-json", "not-a-notebook", "binary"],
)
def test_unreadable_notebook_gets_a_verdict_for_every_check(tmp_path, content, problem):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    report = grade(path)
    assert len(report.verdicts) == len(REGISTRY) and report.score == 0 and report.exit_code == 1
    assert all(problem in v.observed for v in report.verdicts)


def test_missing_class_says_define_it(tmp_path):
    """Is a notebook without ClassifierWithMean told to define it, and still scored on the rest?"""
    path = _edit(tmp_path, "no_mean", lambda nb: nb.cells.pop(
        next(i for i, c in enumerate(nb.cells) if "class ClassifierWithMean" in c.source)))
    report = grade(path, names=["shapes", "mean_summary"])
    verdicts = {v.check: v for v in report.verdicts}
    assert verdicts["shapes"].passed
    assert not verdicts["mean_summary"].passed
    assert "Define `ClassifierWithMean` in your notebook." in verdicts["mean_summary"].message


def test_endless_loop_times_out_and_the_rest_is_scored(tmp_path):
    """Does a train() that never returns cost only the checks that need it, with a clear message?"""
    def endless(nb):
        cell = next(c for c in nb.cells if c.source.startswith("def train("))
        cell.source = "def train(model, tokens, y, *, epochs, lr, device=None):\n    while True:\n        pass\n"
    report = grade(_edit(tmp_path, "endless", endless), names=["shapes", "loss_decreases"],
                   timeouts={"rnn_model": 15, "loop": 15, "training": 15})
    verdicts = {v.check: v for v in report.verdicts}
    assert verdicts["shapes"].passed
    assert not verdicts["loss_decreases"].passed
    assert "did not finish within 15 s" in verdicts["loss_decreases"].observed


def test_nan_loss_is_reported(tmp_path):
    def nan_loop(nb):
        cell = next(c for c in nb.cells if c.source.startswith("def train("))
        cell.source = cell.source.replace("losses.append(loss.item())", "losses.append(float('nan'))")
    report = grade(_edit(tmp_path, "nan", nan_loop), names=["train_returns_losses"])
    assert "NaN or infinite" in report.verdicts[0].observed


def test_syntax_error_is_located_and_the_rest_is_scored(tmp_path):
    def broken(nb):
        cell = next(c for c in nb.cells if "class ClassifierWithMean" in c.source)
        cell.source += "\n    def oops(:\n"
    report = grade(_edit(tmp_path, "syntax", broken), names=["shapes", "mean_summary"])
    assert any("syntax error" in p for p in report.problems)
    verdicts = {v.check: v for v in report.verdicts}
    assert verdicts["shapes"].passed and not verdicts["mean_summary"].passed


def test_a_module_level_name_grading_could_not_define_is_explained(tmp_path):
    """Issue 10: a loss module built from the lesson's raw titles cannot be built in grading (they are not there);
    the message names the statement, its cell and line, and why it did not run."""
    def criterion_from_titles(nb):
        cell = next(c for c in nb.cells if c.source.startswith("def train("))
        cell.source = ("criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(len(headlines) / 1000))\n\n\n"
                       + cell.source.replace("F.binary_cross_entropy_with_logits(logits, y)", "criterion(logits, y)"))
    report = grade(_edit(tmp_path, "criterion", criterion_from_titles), names=["train_returns_losses"])
    observed = report.verdicts[0].observed
    assert "NameError" in observed and "`criterion` is assigned in code cell 8, line 1, which did not run in grading" \
        in observed and "headlines" in observed, observed
    assert any("criterion" not in s and "headlines" in s for s in report.skipped)
    from autograder.report import results_json, table

    assert "not run in grading (costs nothing by itself): code cell 8, line 1" in table(report)
    assert "not run in grading" in results_json(report)["output"]
