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
from submissions import MUTANTS, VARIANTS, Submission, _replace, build, loop, mean, summarize

pytestmark = pytest.mark.slow
grade = functools.partial(grading.grade, runner=run_in_process, parallel=1)
SLOW_VARIANTS = {"MinibatchLoop"}  # 500 epochs of minibatches: CI only


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


@pytest.mark.parametrize("submission", [pytest.param(s, marks=pytest.mark.ci_only) if s.name in SLOW_VARIANTS else s
                                        for s in VARIANTS], ids=lambda s: s.name)
def test_correct_variant_passes_every_check(submission, tmp_path):
    report = grade(build(submission, tmp_path))
    failed = {v.check: v.message for v in report.verdicts if not v.passed}
    assert not failed, failed
    assert report.score == report.max_score and report.exit_code == 0


@pytest.mark.parametrize(
    ("name", "expected_failures"),
    [("MeanSummaryReturnsLastState", {"mean_summary"}), ("MovesModelNotData", {"device_placement"}),
     ("OptimisesFlippedLabels", {"loss_decreases"}),
     ("HardCodedCuda", {"device_placement"})],  # also on a grader without a GPU: trained on its CPU (spy.CudaOnCpu)
)
def test_one_bug_costs_only_its_own_checks(name, expected_failures, tmp_path):
    submission = next(s for s in MUTANTS if s.name == name)
    report = grade(build(submission, tmp_path))
    assert {v.check for v in report.verdicts if not v.passed} == expected_failures


def test_losses_returned_as_tensors_cost_train_returns_losses_only(tmp_path):
    """`losses.append(loss)`: the numbers are right, their type is not. loss_decreases compares the values with the
    recomputed losses and passes; train_returns_losses fails and says why."""
    submission = Submission("ReturnsTensors", _replace("losses.append(loss.item())", "losses.append(loss)"))
    report = grade(build(submission, tmp_path))
    failed = {v.check: v for v in report.verdicts if not v.passed}
    assert set(failed) == {"train_returns_losses"}, {k: v.observed for k, v in failed.items()}
    assert "list of Tensor, not of Python floats" in failed["train_returns_losses"].observed
    assert "loss.item()" in failed["train_returns_losses"].fix


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
