"""The graders' verdicts, proven on the corpus: every mutant fails the check it targets with the expected message,
every correct variant passes every check, and one bug costs only its own checks."""

from __future__ import annotations

import pytest

from autograder.grade import grade
from submissions import MUTANTS, VARIANTS, build

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("submission", MUTANTS, ids=lambda s: s.name)
def test_mutant_fails_the_check_it_targets(submission, tmp_path):
    report = grade(build(submission, tmp_path), names=list(submission.fails))
    verdicts = {v.check: v for v in report.verdicts}
    for check, fragment in submission.fails.items():
        verdict = verdicts[check]
        assert not verdict.passed, f"{submission.name} passed {check}: {verdict.message}"
        assert fragment in verdict.message, verdict.message
        assert verdict.expected and verdict.observed and verdict.fix, "a message has three parts"
        assert "Traceback" not in verdict.message


@pytest.mark.parametrize("submission", VARIANTS, ids=lambda s: s.name)
def test_correct_variant_passes_every_check(submission, tmp_path):
    report = grade(build(submission, tmp_path))
    failed = {v.check: v.message for v in report.verdicts if not v.passed}
    assert not failed, failed
    assert report.score == report.max_score and report.exit_code == 0


@pytest.mark.parametrize(
    ("name", "expected_failures"),
    [("MeanSummaryReturnsLastState", {"mean_summary"}), ("MovesModelNotData", {"device_placement"}),
     ("OptimisesFlippedLabels", {"loss_decreases"})],
)
def test_one_bug_costs_only_its_own_checks(name, expected_failures, tmp_path):
    submission = next(s for s in MUTANTS if s.name == name)
    report = grade(build(submission, tmp_path))
    assert {v.check for v in report.verdicts if not v.passed} == expected_failures
