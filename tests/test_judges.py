"""Every judge on canned probe outcomes (tests/canned.py): each verdict and its three-part message, in milliseconds
to a few seconds, with no worker, sandbox or student code. The corpus (tests/test_corpus.py) proves the same verdicts
on real notebooks; these say which data gives which verdict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import canned
from autograder.checks import BY_NAME, CONFIRMED_BY, judge_function
from autograder.hidden.judges import Thresholds
from autograder.judging import Context
from autograder.recipe import Recipe
from autograder.spec import Verdict


def judge(name: str, outcome, verdicts: dict | None = None, thresholds=None, outcomes: dict | None = None) -> Verdict:
    ctx = Context(Recipe(), canned.plan(), "cpu", thresholds or Thresholds())
    ctx.verdicts.update(verdicts or {})
    ctx.outcomes.update(outcomes or {})
    verdict = Verdict(name, BY_NAME[name].points)
    judge_function(BY_NAME[name])(verdict, outcome, ctx)
    if not verdict.passed:
        assert verdict.expected and verdict.observed and verdict.fix, f"a message has three parts: {verdict.message}"
    return verdict


def confirmed(passed: bool = True) -> dict:
    """The verdicts the loop checks read: the training run's recomputation, passed or not."""
    sep = Verdict("separability", 2, passed=passed, details={"score_before": 0.5, "score_after": 0.95 if passed else 0.5})
    loss = Verdict("loss_decreases", 2, passed=passed,
                   details={"initial_loss": 0.69, "final_loss": 0.2 if passed else 0.6, "prior": 0.56,
                            "recomputed_ok": passed})
    return {"separability": sep, "loss_decreases": loss}


# ----------------------------------------------------------------------------------------------------- model

def test_shapes_passes_the_right_shapes():
    assert judge("shapes", canned.outcome("rnn_model", canned.model_cases("last"))).passed


def test_shapes_names_the_time_axis_where_the_batch_axis_belongs():
    data = canned.model_cases("last")
    for case, planned in zip(data["cases"], canned.plan().cases):
        case["summary"] = torch.zeros(planned.case.length, planned.case.hidden_dim)
    v = judge("shapes", canned.outcome("rnn_model", data))
    assert not v.passed and "the time axis where the batch axis belongs" in v.observed


def test_shapes_says_a_stub_is_not_written_yet():
    data = {"cases": [{"error": {"type": "NotImplementedError", "message": "", "where": []}}] * len(canned.plan().cases)}
    v = judge("shapes", canned.outcome("rnn_model", data))
    assert not v.passed and "this stub is not written yet" in v.observed


def test_shapes_says_what_came_back_when_it_is_not_a_tensor():
    data = canned.model_cases("last")
    data["cases"][0]["summary"] = {"not_a_tensor": "tuple", "what": "summarize"}
    v = judge("shapes", canned.outcome("rnn_model", data))
    assert not v.passed and "a tuple, not a tensor" in v.observed


@pytest.mark.parametrize("form", ["last", "last_real"])
def test_summarize_is_last_state_accepts_the_last_state_either_way(form):
    v = judge("summarize_is_last_state", canned.outcome("rnn_model", canned.model_cases(form)))
    assert v.passed and v.details["form"] == form


@pytest.mark.parametrize(("form", "diagnosis"), [("first", "the state after the FIRST step"),
                                                 ("mean", "the MEAN of the states"), ("sum", "the SUM of the states")])
def test_summarize_is_last_state_names_the_wrong_summary(form, diagnosis):
    v = judge("summarize_is_last_state", canned.outcome("rnn_model", canned.model_cases(form)))
    assert not v.passed and diagnosis in v.observed and "outputs[:, -1, :]" in v.fix


@pytest.mark.parametrize("name", ["summarize_is_last_state", "mean_summary"])
def test_a_squeezed_batch_of_one_costs_the_shapes_check_only(name):
    """`h_n.squeeze()` returns (hidden_dim,) for a batch of 1: `shapes` says so (its point); which state the summary
    is, is judged on the values. A shape that is not a squeeze of the right one stays each summary judge's failure."""
    probe, form = ("rnn_model", "last") if name == "summarize_is_last_state" else ("mean_model", "mean")
    data = canned.model_cases(form)
    one = next(i for i, c in enumerate(canned.plan().cases) if c.case.batch == 1)
    data["cases"][one]["summary"] = data["cases"][one]["summary"].reshape(-1)
    data["cases"][one]["logits"] = data["cases"][one]["logits"].reshape(-1)
    assert judge(name, canned.outcome(probe, data)).passed
    shapes = judge("shapes", canned.outcome("rnn_model", data))
    assert not shapes.passed and "summarize returned shape (2,) for batch 1" in shapes.observed
    wrong = canned.model_cases(form)
    wrong["cases"][one]["summary"] = torch.zeros(1, 3)
    v = judge(name, canned.outcome(probe, wrong))
    assert not v.passed and "summarize returned shape (1, 3) for batch 1" in v.observed


@pytest.mark.parametrize("form", ["mean", "masked_mean"])
def test_mean_summary_accepts_both_means(form):
    assert judge("mean_summary", canned.outcome("mean_model", canned.model_cases(form))).passed


def test_mean_summary_fails_the_last_state():
    v = judge("mean_summary", canned.outcome("mean_model", canned.model_cases("last")))
    assert not v.passed and "outputs.mean(dim=1)" in v.fix


# ------------------------------------------------------------------------------------------------------ loop

def test_train_returns_losses_passes_once_training_is_confirmed():
    assert judge("train_returns_losses", canned.outcome("loop", canned.loop()), confirmed()).passed


def test_train_returns_losses_needs_the_confirmation():
    v = judge("train_returns_losses", canned.outcome("loop", canned.loop()), confirmed(False))
    assert not v.passed and "does not show your train() training the model" in v.observed


def test_train_returns_losses_without_the_hidden_checks_passes_and_says_what_grading_adds():
    """The student package has no hidden check: the confirmation is not there to read."""
    v = judge("train_returns_losses", canned.outcome("loop", canned.loop()))
    assert v.passed and "counts only if the hidden training checks" in v.observed
    assert set(CONFIRMED_BY) <= set(BY_NAME)


def test_train_returns_losses_names_tensors_and_wrong_counts():
    tensors = canned.loop(canned.losses([0.69, 0.68, 0.67], plain=False))
    v = judge("train_returns_losses", canned.outcome("loop", tensors), confirmed())
    assert not v.passed and "not of Python floats" in v.observed and "loss.item()" in v.fix
    v = judge("train_returns_losses", canned.outcome("loop", canned.loop(canned.losses([0.69] * 6))), confirmed())
    assert not v.passed and "returned 6 losses for epochs=3" in v.observed


@pytest.mark.parametrize(("returned", "observed"), [
    (lambda: [0.69, 0.68, 0.67], None),
    (lambda: (0.69, 0.68, 0.67), None),
    (lambda: np.array([0.69, 0.68, 0.67]), None),  # np.array(losses): printed, plotted, indexed as the list is
    (lambda: np.array([0.69, 0.68, 0.67], dtype=np.float32), None),
    (lambda: torch.tensor([0.69, 0.68, 0.67]), None),  # torch.tensor(losses): no autograd graph in it
    (lambda: [np.float32(0.69), np.array(0.68, dtype=np.float32), 0.67], None),  # loss.detach().cpu().numpy()
    (lambda: [torch.tensor(v, requires_grad=True) * 1 for v in (0.69, 0.68, 0.67)],
     "train returned a list of Tensor, not of Python floats"),
    (lambda: torch.stack([torch.tensor(v, requires_grad=True) * 1 for v in (0.69, 0.68, 0.67)]),
     "train returned a Tensor of float32 that requires grad, not a list of Python floats"),
    (lambda: np.array([[0.69, 0.68, 0.67]]), "train returned a ndarray, not a list of losses"),
    (lambda: {"loss": 0.69}, "train returned a dict, not a list of losses"),
    (lambda: ["0.69", 0.68, 0.67], "train returned a list of float, str, not of Python floats"),
])
def test_train_returns_losses_judges_what_train_returned_as_the_worker_describes_it(returned, observed):
    """What train() returned, described by the worker (probe_kit.returned_losses), through the border, judged: a
    container of plain numbers passes; tensors, which keep their autograd graph, do not; and loss_decreases gets the
    values whenever there are numbers to compare (its own business)."""
    from autograder.probe_kit import returned_losses

    losses = returned_losses(returned())
    v = judge("train_returns_losses", canned.outcome("loop", canned.loop(losses)), confirmed())
    assert v.passed is (observed is None), v.observed
    if observed:
        assert v.observed == observed and "loss.item()" in v.fix
    assert (losses["values"] is not None) is (observed is None or "Tensor" in observed)


def test_train_returns_losses_counts_the_losses_of_every_training_run(trained):
    """Issue 20: one loss per minibatch of 128 is 3 losses in the 64-row loop run, but 2000 in the grader's
    500-epoch run on 400 rows: that run decides the count too."""
    final, reported = trained
    per_batch = canned.outcome("training", canned.training(final, reported * 4))
    v = judge("train_returns_losses", canned.outcome("loop", canned.loop()), confirmed(), outcomes={"training": per_batch})
    assert not v.passed and "2000 losses for epochs=500" in v.observed and "one per minibatch?" in v.observed
    right = canned.outcome("training", canned.training(final, reported))
    assert judge("train_returns_losses", canned.outcome("loop", canned.loop()), confirmed(),
                 outcomes={"training": right}).passed


def test_train_returns_losses_reports_the_error_train_raised():
    error = {"type": "RuntimeError", "message": "shapes do not match", "where": ["cell 5, line 3, in train: x"]}
    v = judge("train_returns_losses", canned.outcome("loop", canned.loop(error=error)), confirmed())
    assert not v.passed and "RuntimeError: shapes do not match" in v.observed and "cell 5, line 3" in v.observed


def test_device_placement_passes_a_loop_that_moves_both():
    assert judge("device_placement", canned.outcome("loop", canned.loop()), confirmed()).passed


ON_CPU = {"input_placed": False, "input_device": "cpu", "parameter_devices": ["cuda:0"], "model_moved": True}
MISMATCH = {"type": "RuntimeError", "where": [], "message": "Expected all tensors to be on the same device, but found "
            "at least two devices, cuda:0 and cpu! (when checking argument for argument input in method embedding)"}


@pytest.mark.parametrize(("changes", "observed", "fix"), [
    ({"forwards": [ON_CPU], "error": MISMATCH}, "the model was on 'cuda' but its input was not (it was on cpu)",
     "Keep what .to returns"),
    ({"forwards": [{**ON_CPU, "input_device": "cuda:0", "parameter_devices": ["cpu"]}], "error": MISMATCH},
     "the input was on 'cuda' but the model was not", "model.to(device)"),
    ({"error": MISMATCH}, "the model and the data were on different devices", "Keep what .to returns"),
    ({"forwards": []}, "train never called the model", "model(tokens)"),
    ({"final_parameter_devices": ["cpu"]}, "after train returned, the parameters were on ['cpu']", "Leave the model"),
])
def test_device_placement_on_the_accelerator_says_what_stayed_behind(changes, observed, fix):
    error = changes.pop("error", None)
    v = judge("device_placement", canned.outcome("loop", canned.loop(accelerator_error=error, **changes)), confirmed())
    assert not v.passed and observed in v.observed and fix in v.fix and "pretend accelerator" in v.observed


def test_device_placement_on_the_cpu_catches_a_loop_that_sends_things_elsewhere_only():
    """On the CPU, what was never moved is where it belongs (`if device.type != "cpu"` is right); a hard-coded
    .cuda() is not."""
    unmoved = {"forwards": [{"input_placed": False, "input_device": "cpu", "parameter_devices": ["cpu"],
                             "model_moved": False}], "model_moves": [], "tensor_moves": []}
    assert judge("device_placement", canned.outcome("loop", canned.loop(cpu=unmoved)), confirmed()).passed
    v = judge("device_placement", canned.outcome("loop", canned.loop(cpu={"tensor_moves": ["cuda"]})), confirmed())
    assert not v.passed and "a hard-coded .cuda()" in v.observed and "Do not write .cuda()" in v.fix


def test_optimizer_protocol_passes_a_clean_loop_and_names_each_mistake():
    assert judge("optimizer_protocol", canned.outcome("loop", canned.loop()), confirmed()).passed
    v = judge("optimizer_protocol", canned.outcome("loop", canned.loop(cpu={"steps": 0})), confirmed())
    assert not v.passed and "optimizer.step() was never called" in v.observed
    v = judge("optimizer_protocol", canned.outcome("loop", canned.loop(cpu={"stale_backwards": 2})), confirmed())
    assert not v.passed and "2 of 3 backward passes" in v.observed and "zero_grad()" in v.fix
    v = judge("optimizer_protocol", canned.outcome("loop", canned.loop(cpu={"backwards": 0})), confirmed())
    assert not v.passed and "never reached the model's parameters" in v.observed


def test_optimizer_protocol_decides_from_the_replayed_weights_whatever_the_spy_says():
    """Issue 19: the weights after the short CPU run against the judge's replays from the secret initial weights.
    Weights that follow the replay with cleared gradients pass beside a spy that says otherwise; weights that follow
    the replay without zero_grad() fail beside a spy that says all is well; weights that follow neither (another
    loop) leave it to the spy, confirmed by the training checks."""
    from autograder.hidden.judges import replay_loop

    ctx = Context(Recipe(), canned.plan(), "cpu", Thresholds())
    clear, accumulate = replay_loop(ctx, True), replay_loop(ctx, False)

    def with_weights(weights, **spy):
        data = canned.loop(cpu=spy)
        data["runs"][-1]["final_state"] = weights
        return canned.outcome("loop", data)

    v = judge("optimizer_protocol", with_weights(clear, stale_backwards=2), confirmed(False))
    assert v.passed and "replayed the lesson's loop" in v.observed
    v = judge("optimizer_protocol", with_weights(accumulate), confirmed())
    assert not v.passed and "ACCUMULATED" in v.observed and "zero_grad()" in v.fix
    elsewhere = {k: w + 1e-3 for k, w in clear.items()}
    assert judge("optimizer_protocol", with_weights(elsewhere), confirmed()).passed
    v = judge("optimizer_protocol", with_weights(elsewhere), confirmed(False))
    assert not v.passed and "does not show your train() training" in v.observed


# ------------------------------------------------------------------------------------------- training run

@pytest.fixture(scope="module")
def trained():
    return canned.grader_training()


def test_loss_decreases_and_separability_pass_a_real_training_run(trained):
    final, reported = trained
    data = canned.outcome("training", canned.training(final, reported))
    v = judge("loss_decreases", data)
    assert v.passed and v.details["final_loss"] < v.details["initial_loss"] - 0.1, v.message
    v = judge("separability", data)
    assert v.passed and v.details["score_after"] >= 0.9, v.message


def test_loss_decreases_fails_weights_that_did_not_move():
    p = canned.plan()
    v = judge("loss_decreases", canned.outcome("training", canned.training(p.grader_init, [0.69] * 500)))
    assert not v.passed and "barely changed" in v.fix
    v = judge("separability", canned.outcome("training", canned.training(p.grader_init, [0.69] * 500)))
    assert not v.passed and "Training did not shape the embeddings" in v.fix


def test_loss_decreases_catches_invented_losses(trained):
    final, _ = trained
    v = judge("loss_decreases", canned.outcome("training", canned.training(final, [0.9] * 500)))
    assert not v.passed and "while the real loss during that epoch was" in v.observed


def test_loss_decreases_fails_a_run_on_the_flipped_labels():
    final, reported = canned.grader_training(flip=True)
    v = judge("loss_decreases", canned.outcome("training", canned.training(final, reported)))
    assert not v.passed


def test_training_judges_refuse_weights_that_are_not_finite(trained):
    final, reported = trained
    broken = {k: torch.full_like(t, float("nan")) for k, t in final.items()}
    v = judge("separability", canned.outcome("training", canned.training(broken, reported)))
    assert not v.passed and "NaN or infinite" in v.observed


def test_end_to_end_is_not_judged_without_a_correct_summarize(trained):
    final, reported = trained
    data = {"runs": [{"error": None, "seed": 1, "losses": canned.losses(reported), "final_state": final}]}
    v = judge("end_to_end", canned.outcome("end_to_end", data),
              {"summarize_is_last_state": Verdict("summarize_is_last_state", 2, passed=False)})
    assert not v.passed and "not judged: summarize_is_last_state did not pass" in v.observed
    summarize = Verdict("summarize_is_last_state", 2, passed=True, details={"form": "last_real"})
    v = judge("end_to_end", canned.outcome("end_to_end", data), {"summarize_is_last_state": summarize})
    assert v.passed and v.details["scores"][0] >= Thresholds().end_to_end, v.message
    v = judge("end_to_end", canned.outcome("end_to_end", data), {"summarize_is_last_state": summarize},
              thresholds=Thresholds(end_to_end=1.01))
    assert not v.passed and "seed by seed" in v.observed


# ------------------------------------------------------------------------------------- a probe that failed

@pytest.mark.parametrize(("kind", "observed"), [
    ("BadResult", "was not valid"), ("WorkerDied", "your code raised no error, but"),
    ("Timeout", "still running when this check's time ran out"), ("ValueError", "your code did not run to the end"),
])
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_every_judge_says_what_a_failed_probe_means(name, kind, observed):
    verdicts = {**confirmed(), "summarize_is_last_state": Verdict("summarize_is_last_state", 2, passed=True,
                                                                  details={"form": "last"})}
    v = judge(name, canned.failed(BY_NAME[name].probe, kind), verdicts)
    assert not v.passed and observed in v.observed and not v.internal_error
