"""Judges: decide a check from a probe's plain data. They recompute what they can (summaries, losses, embeddings,
separability) from the student's weights and the grader's own inputs, and never trust a number the student's code
reports. Each judge fills in a Verdict: expected, observed, and what to change."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from autograder.metrics import separability_score
from autograder.plan import GradingPlan
from autograder.recipe import Recipe
from autograder.recompute import document_summaries, full_batch_loss, missing_keys, prior_entropy, summarize_with

ATOL = 1e-4  # float32 nn.RNN against the judge's float64 recurrence: observed differences are below 1e-6


@dataclass(frozen=True)
class Thresholds:
    """Where each judge draws the line. Measured, with their rates, in calibration/README.md."""

    loss_drop: float = 0.10  # final loss at least this far below the initial loss ...
    below_prior: float = 0.05  # ... and at least this far below the prior's entropy (the plateau)
    reported_first: float = 0.05  # |reported loss - recomputed loss| at the first epoch and at each checkpoint
    reported_last: float = 0.05  # |reported last loss - recomputed final loss|
    separable: float = 0.90  # balanced accuracy of the trained embeddings (correct runs: 0.94 at worst, in 440)
    separable_gain: float = 0.15  # ... and its gain over the untrained ones: this, or half the headroom above them
    # when the untrained ones already separate well (0.94 in one of 440 correct runs), but never less than 0.01
    end_to_end: float = 0.68  # the student's own model, best of Recipe.restarts seeds


@dataclass
class Context:
    """What every judge may use: the grader's recipe and plan (its secret weights, inputs and data), the device
    graded on, the notebook's failed top-level statements, earlier verdicts."""

    recipe: Recipe
    plan: GradingPlan
    device: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    verdicts: dict = field(default_factory=dict)
    load_failures: list = field(default_factory=list)

    @property
    def tokens(self) -> torch.Tensor:
        return self.plan.tokens

    @property
    def y(self) -> torch.Tensor:
        return self.plan.y


def _why_missing(name: str, ctx) -> str:
    """Why a name the student's code used was not defined in grading: the statement that would have defined it."""
    for failure in (ctx.load_failures if ctx is not None else []):
        if name in failure.get("names", []):
            return (f"; `{name}` is assigned in code cell {failure['cell']}, line {failure['line']}, which did not "
                    f"run in grading ({failure['type']}: {failure['message']})")
    return ""


def _error_text(error: dict, ctx=None) -> str:
    where = f" ({'; '.join(error['where'])})" if error.get("where") else ""
    if error["type"] == "NotImplementedError":
        return f"NotImplementedError: this stub is not written yet{where}"
    missing = "".join(_why_missing(n, ctx) for n in error.get("missing_names", []))
    return f"{error['type']}: {error['message']}{where}{missing}"


def _probe_failed(v, outcome, what: str, ctx=None) -> bool:
    """Fills the verdict when the probe produced nothing; True if so."""
    if outcome.ok:
        return False
    v.expected = what
    kind = outcome.error.get("type")
    if kind == "BadResult":
        v.observed = f"what came back from running your code was not valid: {outcome.error['message']}"
        v.fix = "Let the grader's calls return normally: do not write to the grader's results or change its code."
    elif kind == "Timeout":
        v.observed = f"your code was still running when this check's time ran out ({outcome.error['message']})"
        v.fix = "Run the cell in the notebook: does it finish at about the lesson's pace for this many epochs?"
    else:
        v.observed = f"your code did not run to the end: {_error_text(outcome.error, ctx)}"
        v.fix = "Run the cell in the notebook, read the error, and fix the line it names."
    return True


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else f"a {t['not_a_tensor']}, not a tensor"


# ----------------------------------------------------------------------------------------------------- model

def _case_problem(case, result, *, what: str, ctx=None) -> str | None:
    """Why one case's summary or logits are unusable (raised, wrong type, wrong shape, not finite), or None."""
    if result["error"]:
        return f"{what} raised {_error_text(result['error'], ctx)}"
    summary, logits = result["summary"], result["logits"]
    size = f"batch {case.batch}, length {case.length}, embedding_dim {case.embedding_dim}, hidden_dim {case.hidden_dim}"
    if not isinstance(summary, torch.Tensor):
        return f"summarize returned {_shape(summary)} ({size})"
    if tuple(summary.shape) != (case.batch, case.hidden_dim):
        hint = ""
        if tuple(summary.shape) == (case.length, case.hidden_dim) or tuple(summary.shape[:1]) == (case.length,):
            hint = " (that is the time axis where the batch axis belongs: with batch_first=True, outputs are " \
                   "(batch, time, hidden))"
        return f"summarize returned shape {tuple(summary.shape)} for {size}; expected " \
               f"{(case.batch, case.hidden_dim)}{hint}"
    if not summary.is_floating_point() or not torch.isfinite(summary).all():
        return f"summarize returned {summary.dtype} values that are not all finite floats ({size})"
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (case.batch, 1):
        return f"forward returned {_shape(logits)} for {size}; expected {(case.batch, 1)}"
    if not logits.is_floating_point() or not torch.isfinite(logits).all():
        return f"forward returned values that are not all finite floats ({size})"
    return None


def shapes(v, outcome, ctx: Context) -> None:
    expected = "summarize(x) of shape (batch, hidden_dim) and forward(tokens) of shape (batch, 1), finite floats, " \
               "for every size tried (batch 1 included)"
    if _probe_failed(v, outcome, expected, ctx):
        return
    v.expected = expected
    for case, result in zip(ctx.plan.cases, outcome.data["cases"]):
        problem = _case_problem(case.case, result, what="building the model or calling it", ctx=ctx)
        if problem:
            v.observed = problem
            v.fix = "Return one summary vector per headline: a tensor of shape (batch, hidden_dim)."
            return
    v.passed = True
    v.observed = f"the right shapes for all {len(ctx.plan.cases)} sizes tried"


def _forms_matching(state, x, summary, forms) -> list[str]:
    return [f for f in forms if torch.allclose(summarize_with(state, x, f).float(), summary.float(), atol=ATOL)]


WRONG_SUMMARIES = {
    "first": ("the state after the FIRST step (outputs[:, 0])", lambda s: s[:, 0]),
    "mean": ("the MEAN of the states over time", lambda s: s.mean(1)),
    "sum": ("the SUM of the states over time", lambda s: s.sum(1)),
    "max": ("the MAXIMUM of the states over time", lambda s: s.max(1).values),
}


def _diagnose(state, x, summary) -> tuple[str, bool]:
    """Names the wrong summary the student's output equals, if any; True when this input cannot tell a zero
    summary from the last embedded token (a padding row, all zeros)."""
    from autograder.recompute import rnn_states

    states = rnn_states(state, x).float()
    for description, make in WRONG_SUMMARIES.values():
        if torch.allclose(make(states), summary.float(), atol=ATOL):
            return f"your summary equals {description}", False
    if torch.allclose(summarize_with(state, x, "grader").float(), summary.float(), atol=ATOL):
        return "your summary is the grader's own model's (the last real state, negated): write your own summarize", \
            False
    last_token = summary.shape[-1] == x.shape[-1] and torch.allclose(x[:, -1].float(), summary.float(), atol=ATOL)
    zeros = not summary.abs().sum()
    if last_token and zeros:
        return "your summary equals the last embedded token: the RNN is not used (or it is all zeros: this input " \
               "ends in padding)", True
    if last_token:
        return "your summary equals the last embedded token: the RNN is not used", False
    if zeros:
        return "your summary is all zeros", False
    return "your summary matches none of the RNN's states (is the RNN applied to x, with your own self.rnn?)", False


def _judge_summary(v, outcome, ctx: Context, *, accepted: dict[str, str], expected: str, fix: str) -> None:
    if _probe_failed(v, outcome, expected, ctx):
        return
    v.expected = expected
    common = set(accepted)
    mismatches = []
    for planned, result in zip(ctx.plan.cases, outcome.data["cases"]):
        case = planned.case
        problem = _case_problem(case, result, what="building the model or calling summarize", ctx=ctx)
        if problem and mismatches:  # an earlier input already showed what the summary is
            break
        if problem:
            v.observed, v.fix = problem, fix
            return
        state, x = planned.weights, planned.x  # the grader's own weights, loaded into your model, and its inputs
        matched = _forms_matching(state, x, result["summary"], accepted)
        deviation = min(float((summarize_with(state, x, f).float() - result["summary"].float()).abs().max())
                        for f in accepted)
        v.details["deviation"] = max(v.details.get("deviation", 0.0), deviation)
        common &= set(matched)
        if not matched:
            diagnosis, ambiguous = _diagnose(state, x, result["summary"])
            mismatches.append((ambiguous, f"{diagnosis} (batch {case.batch}, length {case.length})"))
    if mismatches:  # the clearest diagnosis: a case where a zero summary and a zero (padding) last token differ
        v.observed = min(mismatches, key=lambda m: m[0])[1]
        v.fix = fix
        return
    if not common:  # each case matched, but not the same way: inconsistent
        v.observed = "your summary matched different forms on different inputs"
        v.fix = fix
        return
    form = sorted(common)[0]
    v.passed = True
    v.details["form"] = form
    v.observed = f"it equals {accepted[form]} on every input tried, recomputed from the weights the grader loaded " \
                 "into your model"


def summarize_is_last_state(v, outcome, ctx: Context) -> None:
    _judge_summary(
        v, outcome, ctx,
        accepted={"last": "the state after the last step", "last_real": "the state at the last real (non-pad) token"},
        expected="the RNN's hidden state after the last step (outputs[:, -1] or h_n; the state at the last non-pad "
                 "token, by packing or gathering, is accepted too)",
        fix="Run self.rnn on x and return the last time step of its outputs: outputs[:, -1, :] (or h_n[-1]).",
    )


def mean_summary(v, outcome, ctx: Context) -> None:
    _judge_summary(
        v, outcome, ctx,
        accepted={"mean": "the mean over all time steps", "masked_mean": "the mean over the real (non-pad) tokens"},
        expected="the RNN's states averaged over time: outputs.mean(dim=1) (a mean over the non-pad tokens only is "
                 "accepted too)",
        fix="Run self.rnn on x and average its outputs over the time axis: outputs.mean(dim=1).",
    )


# ------------------------------------------------------------------------------------------------------ loop

def _losses_problem(losses: dict, epochs: int) -> str | None:
    if losses.get("values") is None:
        if losses["type"] not in ("list", "tuple"):
            return f"train returned a {losses['type']}, not a list of losses"
        return f"train returned a list of {', '.join(losses['kinds'])}, not of Python floats"
    if losses["length"] != epochs:
        return f"train returned {losses['length']} losses for epochs={epochs}"
    if not losses["finite"]:
        return "some returned losses are NaN or infinite"
    return None


def _training_confirmed(ctx: Context) -> tuple[bool, str]:
    """Did the grader's own recomputation of the training run show that the student's train() trains: separability
    passed, or the loss recomputed from the weights met loss_decreases' criteria (whatever train returned)? What the
    spy saw inside the student's process counts only then (docs/trust-boundary.md)."""
    sep, loss = ctx.verdicts.get("separability"), ctx.verdicts.get("loss_decreases")
    confirmed, evidence = False, []
    if sep is not None and "score_after" in sep.details:
        confirmed |= sep.passed
        evidence.append(f"separability {sep.details['score_before']:.2f} -> {sep.details['score_after']:.2f}")
    if loss is not None and "final_loss" in loss.details:
        confirmed |= loss.details["recomputed_ok"]
        evidence.append(f"loss {loss.details['initial_loss']:.3f} -> {loss.details['final_loss']:.3f}, class prior "
                        f"{loss.details['prior']:.3f}")
    return confirmed, "; ".join(evidence) or "the training run left no weights to recompute from"


def _pass_if_confirmed(v, ctx: Context, observed: str) -> None:
    confirmed, evidence = _training_confirmed(ctx)
    if confirmed:
        v.passed, v.observed = True, observed
        return
    v.observed = f"{observed}; but the grader's recomputation of the training run does not show your train() " \
                 f"training the model ({evidence}), and this check counts only then"
    v.fix = "Make train() learn: the loss recomputed from the trained weights must fall as loss_decreases asks, " \
            "or the trained embeddings must pass separability."


def train_returns_losses(v, outcome, ctx: Context) -> None:
    epochs = ctx.recipe.loop_epochs
    v.expected = f"train(model, tokens, y, epochs={epochs}, lr=..., device=...) returns a list of {epochs} finite floats"
    if _probe_failed(v, outcome, v.expected, ctx):
        return
    run = outcome.data["runs"][-1]  # the CPU run: the same verdict on a grader with or without a GPU
    if run["error"]:
        v.observed = f"train raised {_error_text(run['error'], ctx)}"
        v.fix = "Run your train() in the notebook on a small model and fix the error."
        return
    problem = _losses_problem(run["losses"], epochs)
    if problem:
        v.observed = problem
        v.fix = "Append loss.item() (a Python float) once per epoch, and return that list."
        return
    _pass_if_confirmed(v, ctx, f"{epochs} finite float losses")


def _mentions_cuda(error: dict | None) -> bool:
    text = f"{(error or {}).get('type', '')} {(error or {}).get('message', '')}".lower()
    return any(k in text for k in ("cuda", "nvidia", "gpu"))


def device_placement(v, outcome, ctx: Context) -> None:
    v.expected = "with device=d, the model's parameters and every input to its forward on d"
    if _probe_failed(v, outcome, v.expected, ctx):
        return
    checked = []
    for run in outcome.data["runs"]:
        target = torch.device(run["device"])
        real = target.type != "cpu"
        how = (f"checked on {target}: the devices of the parameters and inputs" if real else
               "checked on cpu with a device spy: where your code sent the model and the data")
        checked.append(how)
        problem = _placement_problem(run, target, real, ctx)
        if problem:
            v.observed, v.fix = f"{problem} ({how})", problem_fix(problem)
            v.details["mode"] = "real" if real else "spy"
            return
    _pass_if_confirmed(v, ctx, "the model and every input of its forward calls were on the requested device ("
                       + "; ".join(checked) + ")")


def problem_fix(problem: str) -> str:
    if "raised" in problem and "GPU" in problem:
        return "Do not write .cuda() or 'cuda' in train(): use model.to(device) and tensor.to(device)."
    if "although" in problem:
        return "Use the device argument everywhere: model.to(device), tokens.to(device), y.to(device)."
    if "never called the model" in problem:
        return "Compute the logits with model(tokens) in each epoch."
    if "different devices" in problem:
        return "Move both: model.to(device) once, and tokens.to(device), y.to(device) before using them."
    if "after train returned" in problem:
        return "Leave the model on the device: do not move it back at the end."
    if "raised" in problem:
        return "Fix the error first (see train_returns_losses)."
    return "Move both: model.to(device) once, and tokens.to(device), y.to(device) before using them."


def _placement_problem(run: dict, target: torch.device, real: bool, ctx=None) -> str | None:
    spy, error = run["spy"], run["error"]
    if error and _mentions_cuda(error) and not real:
        return f"with device='cpu', train raised {_error_text(error, ctx)}: it reached for a GPU"
    elsewhere = sorted({d for d in spy["tensor_moves"] + spy["model_moves"]
                        if torch.device(d).type not in (target.type, "cpu")})
    moved_model_elsewhere = sorted({d for d in spy["model_moves"] if torch.device(d).type != target.type})
    if elsewhere or moved_model_elsewhere:
        return f"train sent tensors or the model to {elsewhere or moved_model_elsewhere} although " \
               f"device='{target}' was asked for"
    if error and real and "device" in error["message"]:
        return f"on '{target}', train raised {_error_text(error, ctx)}: the model and the data were on different devices"
    if error:
        return f"train raised {_error_text(error, ctx)}"
    if not spy["forwards"]:
        return "train never called the model"
    for index, call in enumerate(spy["forwards"], start=1):
        if real:
            params_ok = bool(call["parameter_devices"]) and all(
                torch.device(d).type == target.type for d in call["parameter_devices"])
            input_ok = call["input_device"] not in ("NoneType", "tuple", "list") and \
                torch.device(call["input_device"]).type == target.type
        else:
            params_ok, input_ok = call["model_moved"], call["input_placed"]
        if not params_ok and not input_ok:
            return f"in forward call {index}, neither the model nor its input had been sent to '{target}'"
        if not params_ok:
            return f"in forward call {index}, the input was on '{target}' but the model was not"
        if not input_ok:
            return f"in forward call {index}, the model was on '{target}' but its input was not " \
                   f"({call['input_device'] if real else 'the tokens were never sent to the device'})"
    final = spy["final_parameter_devices"]
    if not all(torch.device(d).type == target.type for d in final):
        return f"after train returned, the parameters were on {final}"
    return None


def optimizer_protocol(v, outcome, ctx: Context) -> None:
    epochs = ctx.recipe.loop_epochs
    v.expected = f"over {epochs} epochs, optimizer.step() after each backward, with the gradients cleared " \
                 "(optimizer.zero_grad()) before each new backward"
    if _probe_failed(v, outcome, v.expected, ctx):
        return
    data = outcome.data["runs"][-1]  # the CPU run: the same verdict on a grader with or without a GPU
    spy = data["spy"]
    if data["error"]:
        v.observed = f"train raised {_error_text(data['error'], ctx)}"
        v.fix = "Fix the error first (see train_returns_losses)."
        return
    if spy["steps"] == 0:
        v.observed = f"optimizer.step() was never called ({spy['backwards']} backward passes)"
        v.fix = "Call optimizer.step() after loss.backward(), every epoch."
        return
    if spy["backwards"] == 0:
        v.observed = "loss.backward() never reached the model's parameters"
        v.fix = "Call loss.backward() on the loss computed from model(tokens), without .detach()."
        return
    if spy["stale_backwards"]:
        v.observed = f"{spy['stale_backwards']} of {spy['backwards']} backward passes added to gradients left over " \
                     "from the previous step"
        v.fix = "Call optimizer.zero_grad() at the start of every step."
        return
    _pass_if_confirmed(v, ctx, f"{spy['steps']} steps, {spy['backwards']} backward passes, gradients cleared "
                               "before each")


# ------------------------------------------------------------------------------------------- training run

def _training_states(outcome, ctx: Context):
    """Initial weights (rebuilt here from the seed) and the trained ones, or a reason they are unusable."""
    initial = ctx.plan.grader_init
    final = outcome.data["final_state"]
    lacking = missing_keys(final)
    if lacking or any(final[k].shape != initial[k].shape for k in initial if k in final):
        return initial, None, "the trained model came back with other parameters than it was given"
    if not all(torch.isfinite(t).all() for t in final.values()):
        return initial, None, "the trained weights contain NaN or infinite values (a diverging loss?)"
    return initial, final, None


def loss_decreases(v, outcome, ctx: Context) -> None:
    t, recipe = ctx.thresholds, ctx.recipe
    prior = prior_entropy(ctx.y)
    v.expected = (f"after train(epochs={recipe.epochs}, lr={recipe.lr}) on the grader's model, the loss recomputed "
                  f"from the trained weights at least {t.loss_drop} below the initial loss and {t.below_prior} below "
                  f"{prior:.3f} (predicting the class prior); the returned losses within {t.reported_first} of the "
                  "recomputed ones")
    if _probe_failed(v, outcome, v.expected, ctx):
        return
    data = outcome.data
    if data["error"]:
        v.observed = f"train raised {_error_text(data['error'], ctx)}"
        v.fix = "Fix the error first (see train_returns_losses)."
        return
    initial, final, problem = _training_states(outcome, ctx)
    if problem:
        v.observed, v.fix = problem, "Train with the lesson's loss and a learning rate of `lr`."
        return
    start = full_batch_loss(initial, ctx.tokens, ctx.y, "grader")
    end = full_batch_loss(final, ctx.tokens, ctx.y, "grader")
    reported = data["losses"]
    margins = {"drop": start - end - t.loss_drop, "below_prior": prior - t.below_prior - end}
    problem = _losses_problem(reported, recipe.epochs)
    if problem is None:
        first, last = reported["values"][0], reported["values"][-1]
        margins["reported_first"] = t.reported_first - abs(first - start)
        margins["reported_last"] = t.reported_last - abs(last - end)
        for epoch, state in data.get("checkpoints", {}).items():  # the weights at the start of that epoch
            if not missing_keys(state) and all(torch.isfinite(x).all() for x in state.values()):
                real = full_batch_loss(state, ctx.tokens, ctx.y, "grader")
                margins[f"reported_at_{epoch}"] = t.reported_first - abs(reported["values"][int(epoch)] - real)
        v.details["reported"] = reported["values"]
    v.details.update(initial_loss=start, final_loss=end, prior=prior, margins=margins, margin=min(margins.values()),
                     recomputed_ok=margins["drop"] >= 0 and margins["below_prior"] >= 0)
    v.observed = f"recomputed loss {start:.3f} -> {end:.3f}"
    if margins["drop"] < 0:
        v.fix = "The weights barely changed: call optimizer.step() each epoch, with lr=lr, on the loss of " \
                "model(tokens) against y (no .detach())."
    elif margins["below_prior"] < 0:
        v.observed += f", not below the {prior:.3f} of predicting the class prior"
        v.fix = "The model learned no more than the share of real headlines: is the loss computed against the " \
                "right labels, in the right order, with binary_cross_entropy_with_logits?"
    elif problem:
        v.observed += f"; but {problem}"
        v.fix = "Return loss.item() of every epoch."
    elif min(m for k, m in margins.items() if k.startswith("reported")) < 0:
        worst = min((k for k in margins if k.startswith("reported")), key=margins.get)
        v.observed += f"; but train returned {first:.3f} -> {last:.3f}, which differs from the real loss by more " \
                      f"than {t.reported_first} ({worst.replace('_', ' ')})"
        v.fix = "Return the losses your loop computed (loss.item() each epoch), not other numbers."
    else:
        v.passed = True
        v.observed += f"; train returned {first:.3f} -> {last:.3f}"


def separability(v, outcome, ctx: Context) -> None:
    t = ctx.thresholds
    v.expected = (f"the trained 2-D document embeddings (the grader's model, your train) separable with a 5-fold "
                  f"balanced accuracy >= {t.separable}, at least {t.separable_gain} above the untrained ones (or "
                  "half the way from them to 1.0, when they already separate well)")
    if _probe_failed(v, outcome, v.expected, ctx):
        return
    if outcome.data["error"]:
        v.observed = f"train raised {_error_text(outcome.data['error'], ctx)}"
        v.fix = "Fix the error first (see train_returns_losses)."
        return
    initial, final, problem = _training_states(outcome, ctx)
    if problem:
        v.observed, v.fix = problem, "Train with the lesson's loss and a learning rate of `lr`."
        return
    labels = ctx.y.numpy()
    before = document_summaries(initial, ctx.tokens, "grader")
    after = document_summaries(final, ctx.tokens, "grader")
    score_before, score_after = separability_score(before, labels), separability_score(after, labels)
    needed_gain = max(0.01, min(t.separable_gain, 0.5 * (1 - score_before)))
    margin = min(score_after - t.separable, score_after - score_before - needed_gain)
    v.details.update(before=before, after=after, labels=labels, score_before=score_before, score_after=score_after,
                     margin=margin)
    v.observed = f"balanced accuracy {score_before:.2f} before training, {score_after:.2f} after"
    if margin < 0:
        v.fix = "Training did not shape the embeddings: check that every epoch computes the loss on model(tokens) " \
                "against the matching labels y, calls backward() and optimizer.step()."
        return
    v.passed = True


def end_to_end(v, outcome, ctx: Context) -> None:
    t, recipe = ctx.thresholds, ctx.recipe
    v.expected = (f"your ClassifierWithRNN (hidden 2, embedding 2) trained by your train (epochs={recipe.epochs}, "
                  f"lr={recipe.lr}) separates the classes: balanced accuracy >= {t.end_to_end} on at least one of "
                  f"up to {recipe.restarts} seeds")
    if _probe_failed(v, outcome, v.expected, ctx):
        return
    summarize = ctx.verdicts.get("summarize_is_last_state")
    if summarize is None or not summarize.passed:
        v.observed = "not judged: summarize_is_last_state did not pass, so the summary cannot be recomputed"
        v.fix = "Fix ClassifierWithRNN.summarize first."
        return
    form, labels = summarize.details["form"], ctx.y.numpy()
    scores, errors = [], []
    for index, run in enumerate(outcome.data["runs"]):
        if run["error"]:
            errors.append(_error_text(run["error"], ctx))
            continue
        final = run["final_state"]
        if missing_keys(final) or not all(torch.isfinite(x).all() for x in final.values()):
            errors.append("the trained weights are missing or not finite")
            continue
        embeddings = document_summaries(final, ctx.tokens, form)
        scores.append(separability_score(embeddings, labels))
        if scores[-1] == max(scores):
            v.details.update(after=embeddings, labels=labels,
                             before=document_summaries(ctx.plan.student_inits[index], ctx.tokens, form))
        if scores[-1] >= t.end_to_end:
            break
    v.details["scores"] = scores
    if scores:
        v.details["margin"] = max(scores) - t.end_to_end
    if not scores:
        v.observed = f"no run finished: {errors[0] if errors else 'no runs'}"
        v.fix = "Fix the error in your model or loop."
        return
    v.observed = f"balanced accuracy {', '.join(f'{s:.2f}' for s in scores)} (seed by seed)"
    if max(scores) < t.end_to_end:
        v.fix = "Check summarize and train together in the notebook: does the loss fall, do the points separate?"
        return
    v.passed = True
