"""The graders' verdicts, proven on the corpus: every mutant fails the check it targets with the expected message,
every correct variant passes every check, and one bug costs only its own checks.

The corpus is the kit's own code, so it is graded in this process (runner.run_in_process, the trusted runner that
calibration uses): the same probes, border and judges as in the sandbox, without the workers' start-up. What the
sandbox adds is tested where it is what is under test (tests/test_untrusted.py, tests/test_grading.py)."""

from __future__ import annotations

import functools

import pytest

from autograder import grade as grading
from autograder.runner import run_in_process
from submissions import MUTANTS, VARIANTS, Submission, build, loop, mean, summarize

pytestmark = pytest.mark.slow
grade = functools.partial(grading.grade, runner=run_in_process, parallel=1)
# CI only: 500 epochs of minibatches; and the cells under %%time and %%capture, whose extraction is unit-tested
# (tests/test_notebook.py) and which the kernel differential runs too.
SLOW_VARIANTS = {"MinibatchLoop", "TrainCellUnderTime", "ModelCellUnderCapture",
                 # the losses in other containers: the rule is unit-tested on each (tests/test_judges.py)
                 "ReturnsANumpyArray", "ReturnsATensorOfFloats", "AppendsNumpyLosses"}
# CI only, the same way: a stack of loss tensors, a squeezed batch axis (tests/test_judges.py has each rule)
SLOW_MUTANTS = {"StacksTheLossTensors", "SummarizeSqueezesEveryAxis", "InventsLossesInAnArray", "SqueezesTheFirstState"}


# Mutants graded on every check: one bug costs its own checks and no other (the rest are graded on their targets).
ONE_BUG = {"MeanSummaryReturnsLastState": {"mean_summary"}, "MovesModelNotData": {"device_placement"},
           "OptimisesFlippedLabels": {"loss_decreases"},
           "ReturnsLossTensors": {"train_returns_losses"},  # the values are right: loss_decreases compares them
           "StacksTheLossTensors": {"train_returns_losses"},
           "SummarizeSqueezesEveryAxis": {"shapes"},  # the values are the last state: judged on them
           "HardCodedCuda": {"device_placement"}}  # also on a grader without a GPU: trained on its CPU (spy.CudaOnCpu)


@pytest.mark.parametrize("submission", [pytest.param(s, marks=pytest.mark.ci_only) if s.name in SLOW_MUTANTS else s
                                        for s in MUTANTS], ids=lambda s: s.name)
def test_mutant_fails_the_check_it_targets(submission, tmp_path):
    """Does each mutant fail the check it targets, with the message that names its bug (and, for ONE_BUG, no other
    check)?"""
    full = submission.name in ONE_BUG
    report = grade(build(submission, tmp_path), names=None if full else list(submission.fails))
    if full:
        assert {v.check for v in report.verdicts if not v.passed} == ONE_BUG[submission.name]
    verdicts = {v.check: v for v in report.verdicts}
    for check, fragment in submission.fails.items():
        verdict = verdicts[check]
        assert not verdict.passed, f"{submission.name} passed {check}: {verdict.message}"
        assert fragment in verdict.message, verdict.message
        assert verdict.expected and verdict.observed and verdict.fix, "a message has three parts"
        assert "Traceback" not in verdict.message


@pytest.mark.parametrize("submission", [pytest.param(s, marks=pytest.mark.ci_only) if s.name in SLOW_VARIANTS else s
                                        for s in VARIANTS], ids=lambda s: s.name)
def test_correct_variant_passes_every_check(submission, tmp_path):
    report = grade(build(submission, tmp_path))
    failed = {v.check: v.message for v in report.verdicts if not v.passed}
    assert not failed, failed
    assert report.score == report.max_score and report.exit_code == 0


TRAIN_CHECKS = {"train_returns_losses", "device_placement", "optimizer_protocol", "loss_decreases", "separability",
                "end_to_end"}


@pytest.mark.parametrize(
    ("name", "edits", "expected_failures"),
    [("MeanStubLeft", mean("        raise NotImplementedError()\n"), {"mean_summary"}),
     ("RnnStubLeft", summarize("        raise NotImplementedError()\n"),
      {"shapes", "summarize_is_last_state", "end_to_end"}),
     ("TrainStubLeft", loop("    raise NotImplementedError()\n"), TRAIN_CHECKS),
     pytest.param("TrainEndsTheProcess", loop("    import os\n    os._exit(1)\n"), TRAIN_CHECKS,
                  marks=pytest.mark.sandbox)],
)
def test_one_stub_left_or_a_dead_train_costs_the_checks_that_call_it(name, edits, expected_failures, tmp_path):
    """Issue 13, the cascades audited: a stub left in one place, or a train() that ends the process, costs the
    checks that call that code and no other (docs/checks.md, "What a mistake costs"). A process that ends is the
    worker's death: graded in the sandbox, as in a real grading."""
    graded = grading.grade if name == "TrainEndsTheProcess" else grade
    report = graded(build(Submission(name, edits), tmp_path))
    failed = {v.check for v in report.verdicts if not v.passed}
    assert failed == expected_failures, {v.check: v.observed for v in report.verdicts if not v.passed}
