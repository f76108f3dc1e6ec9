"""The reports (autograder/report.py) on a grading report built in memory: the terminal table, Gradescope's
results.json, junit.xml and the feedback page, with no grading run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np

from autograder.checks import REGISTRY
from autograder.grade import GradeReport
from autograder.report import feedback_html, figures, junit_xml, results_json, table, write_all
from autograder.spec import Verdict



def report(failing: dict[str, str] | None = None, **fields) -> GradeReport:
    """Every check passed, except `failing` (check -> observed); an internal error where the text says so."""
    failing = failing or {}
    verdicts = []
    for check in REGISTRY:
        v = Verdict(check.name, check.points, passed=check.name not in failing, expected=f"{check.title}",
                    observed=failing.get(check.name, "as expected"), fix="Change this.")
        v.internal_error = "grader failed" in v.observed
        verdicts.append(v)
    return GradeReport("nb.ipynb", verdicts, list(REGISTRY), **fields)


def test_the_table_lists_every_check_and_the_message_of_each_failure():
    text = table(report({"separability": "balanced accuracy 0.50 before training, 0.51 after"},
                        warnings=["UNCALIBRATED DATA: x"], problems=["code cell 3 has a syntax error"]))
    assert all(c.name in text for c in REGISTRY) and "total" in text and "10 / 12" in text
    assert "separability:\n  Expected:" in text and "To fix: Change this." in text
    assert "grader warning: UNCALIBRATED DATA" in text and "notebook: code cell 3" in text
    assert text.count("(hidden)") == sum(c.visibility == "hidden" for c in REGISTRY)


def test_results_json_is_gradescopes_schema_with_visibility_per_check():
    data = results_json(report({"shapes": "wrong shape"}))
    assert data["score"] == 11 and [t["name"] for t in data["tests"]] == [c.name for c in REGISTRY]
    assert {t["visibility"] for t in data["tests"]} == {"visible"}  # the feedback policy says what they show
    assert data["tests"][0]["status"] == "failed" and "Observed: wrong shape" in data["tests"][0]["output"]
    json.dumps(data)


def test_junit_tells_failures_from_the_graders_errors():
    tree = junit_xml(report({"shapes": "wrong", "end_to_end": "the grader failed (KeyError)"}))
    suite = tree.getroot()
    assert suite.get("tests") == str(len(REGISTRY)) and suite.get("failures") == "1" and suite.get("errors") == "1"


def test_no_control_character_reaches_a_report():
    evil = {"shapes": "\x1b[31mred\x07 \x00 and a\rreturn"}
    shown = table(report(evil)) + json.dumps(results_json(report(evil))) + feedback_html(report(evil), False)
    assert not [c for c in shown if ord(c) < 32 and c not in "\n\t"]
    assert "\\u001b" not in json.dumps(results_json(report(evil)))


def test_the_feedback_page_escapes_html_and_says_pass_or_fail_in_words():
    page = feedback_html(report({"shapes": "<script>alert(1)</script>"}), with_figures=False)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "not passed" in page and "passed" in page


def test_figures_come_in_the_declared_order_and_a_missing_one_says_why():
    """The student's own model first, then the grader's; a figure whose details are missing says why instead."""
    r = report({"end_to_end": "not judged: summarize_is_last_state did not pass"})
    rng = np.random.default_rng(0)
    sep = next(v for v in r.verdicts if v.check == "separability")
    sep.details.update(before=rng.normal(size=(20, 2)), after=rng.normal(size=(20, 2)), labels=np.arange(20) % 2)
    found = figures(r)
    assert [caption.split(" ")[0] for caption, _, _ in found] == ["Your", "Your", "The", "The"]
    assert found[0][1] is None and "not drawn: not judged" in found[0][2]
    assert found[3][1] and not found[3][2]


def test_write_all_writes_the_three_reports(tmp_path):
    paths = write_all(report(), tmp_path)
    assert json.loads(paths["results"].read_text())["score"] == 12
    ET.parse(paths["junit"])
    assert "Feedback" in paths["feedback"].read_text()


def test_every_report_says_the_whole_total_with_the_instructors_part():
    """Issue 20: 12 automatic points and 4 for the written answers, which the instructor grades: the table, the
    results and the page say 16 in all until the answers are graded."""
    r = report(manual_points=4.0)
    text = "12 of 12 automatic points; 4 more for the written answers, graded by your instructor (16 in all)"
    assert text in table(r) and text in feedback_html(r, with_figures=False)
    data = results_json(r)
    assert data["output"].startswith(text) and data["extra_data"]["total_points"] == 16 and data["score"] == 12


def test_nbgrader_report_never_reads_as_final_before_the_answers_are_graded():
    from autograder.course import check_cell_id
    from autograder.nbgrader_report import StudentRow, score_text

    checks = {check_cell_id(c.name): c.points for c in REGISTRY}
    waiting = StudentRow("ann", "graded", 12, 16, {**checks, "q1-answer": None, "q2-answer": None})
    assert score_text(waiting) == "12 / 12 automatic, answers not graded yet (4)"
    done = StudentRow("bo", "graded", 15.5, 16, {**checks, "q1-answer": 2.0, "q2-answer": 1.5})
    assert score_text(done) == "15.5 / 16 (12 automatic + 3.5 answers)"


# ------------------------------------------------------------------------------------ the feedback policy

def _hidden_failing() -> dict[str, str]:
    hidden = next(c.name for c in REGISTRY if c.visibility == "hidden")
    public = next(c.name for c in REGISTRY if c.visibility == "visible")
    return {hidden: "it equals the first step", public: "wrong shape"}


def test_each_policy_tells_a_hidden_check_what_it_allows_and_public_checks_everything():
    from autograder.disclosure import POLICIES, for_students

    complete = report(_hidden_failing())
    hidden, public = _hidden_failing()
    for policy in POLICIES:
        told = {v.check: v for v in for_students(complete, policy).verdicts}
        assert told[public].message == next(v for v in complete.verdicts if v.check == public).message
        assert [v.score for v in for_students(complete, policy).verdicts] == [v.score for v in complete.verdicts]
        message = told[hidden].message
        assert ("To fix: Change this." in message) == (policy == "fix"), (policy, message)
        assert ("it equals the first step" in message) == (policy != "verdict"), (policy, message)
        assert "not passed" in message or policy != "verdict"
    assert complete.verdicts == report(_hidden_failing()).verdicts  # the instructor's report is untouched


def test_every_students_report_follows_the_policy_and_instructor_txt_is_complete(tmp_path):
    paths = write_all(report(_hidden_failing()), tmp_path, "observed")
    for kind in ("results", "junit", "feedback"):
        students = paths[kind].read_text()
        assert students.count("Change this.") == 1, kind  # the public check's fix only
        assert "wrong shape" in students and "it equals the first step" in students, kind
    instructor = paths["instructor"].read_text()
    assert instructor.count("To fix: Change this.") == 2 and "it equals the first step" in instructor


def test_the_policy_comes_from_the_option_then_the_environment_and_a_wrong_name_says_the_choices(monkeypatch):
    import pytest

    from autograder.disclosure import DEFAULT, ENV, choose

    monkeypatch.delenv(ENV, raising=False)
    assert choose() == DEFAULT and choose("verdict") == "verdict"
    monkeypatch.setenv(ENV, "observed")
    assert choose() == "observed" and choose("fix") == "fix"
    monkeypatch.setenv(ENV, "everything")
    with pytest.raises(ValueError, match="verdict.*observed.*fix"):
        choose()


def test_a_grader_error_is_told_in_full_under_every_policy():
    from autograder.disclosure import for_students

    hidden = next(c.name for c in REGISTRY if c.visibility == "hidden")
    complete = report({hidden: "the grader failed (KeyError)"})
    told = {v.check: v for v in for_students(complete, "verdict").verdicts}
    assert "the grader failed (KeyError)" in told[hidden].message


def test_a_wrong_policy_stops_grade_before_grading_with_the_choices(monkeypatch, capsys):
    from autograder import cli
    from autograder.disclosure import ENV

    monkeypatch.setenv(ENV, "everything")
    assert cli.main(["grade", "missing.ipynb"]) == 2
    assert "not a feedback policy; choose one of: verdict" in capsys.readouterr().err


def test_integrity_flags_reach_the_instructor_and_change_no_score(tmp_path):
    flag = "code cell 8, line 3: imports gc: the garbage collector (finds the grader's objects) (`import gc`)"
    paths = write_all(report(integrity=[flag]), tmp_path)
    assert flag in paths["instructor"].read_text()
    results = json.loads(paths["results"].read_text())
    assert results["extra_data"]["integrity"] == [flag] and results["score"] == 12
    assert "Integrity flags" in paths["instructor"].read_text() and "  none" in (
        write_all(report(), tmp_path / "clean")["instructor"].read_text())
