"""The hidden checks' judges and the thresholds they draw their lines at (measured in calibration/README.md). Grader
package only: the student package ships without autograder/hidden/."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from autograder.judging import Context, case_problem, error_text, pass_if_confirmed, probe_failed, values_problem
from autograder.metrics import separability_score
from autograder.recompute import document_summaries, full_batch_loss, missing_keys, prior_entropy, summarize_with

ATOL = 1e-4  # float32 nn.RNN against the judge's float64 recurrence: observed differences are below 1e-6


@dataclass(frozen=True)
class Thresholds:
    """Where each judge draws the line. Measured, with their rates, in calibration/README.md."""

    loss_drop: float = 0.10  # final loss at least this far below the initial loss ...
    below_prior: float = 0.05  # ... and at least this far below the prior's entropy (the plateau)
    reported_first: float = 0.05  # a returned loss's distance from the span of the losses recomputed along its
    # epoch, at the first epoch and at each checkpoint (Recipe.loss_epochs) ...
    reported_last: float = 0.05  # ... and at the last one
    separable: float = 0.90  # balanced accuracy of the trained embeddings (correct runs: 0.94 at worst, in 440)
    separable_gain: float = 0.15  # ... and its gain over the untrained ones: this, or half the headroom above them
    # when the untrained ones already separate well (0.94 in one of 440 correct runs), but never less than 0.01
    end_to_end: float = 0.68  # the student's own model, best of Recipe.restarts seeds


# ----------------------------------------------------------------------------------------------------- model

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


def _with_unit_axes(case, result: dict) -> dict:
    """The case's result with its axes of size 1 put back: a summary of shape (hidden_dim,) for a batch of 1
    (`h_n.squeeze()`), and the logits that follow from it, are the `shapes` check's to judge (a point); which state
    the summary is stays this judge's. Any other shape is left as it came, for case_problem to name."""
    fixed = dict(result)
    for key, shape in (("summary", (case.batch, case.hidden_dim)), ("logits", (case.batch, 1))):
        value = result.get(key)
        if isinstance(value, torch.Tensor) and tuple(value.shape) != shape \
                and [d for d in value.shape if d != 1] == [d for d in shape if d != 1]:
            fixed[key] = value.reshape(shape)
    return fixed


def _judge_summary(v, outcome, ctx: Context, *, accepted: dict[str, str], expected: str, fix: str) -> None:
    if probe_failed(v, outcome, expected, ctx):
        return
    v.expected = expected
    common = set(accepted)
    mismatches = []
    for planned, result in zip(ctx.plan.cases, outcome.data["cases"]):
        case = planned.case
        result = _with_unit_axes(case, result)
        problem = case_problem(case, result, what="building the model or calling summarize", ctx=ctx)
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

REPLAY_ATOL = 1e-5  # the student's weights against the judge's replay (same float32 ops on the CPU: observed 0 to
# 6e-8 on every correct variant of the corpus; the replays with and without cleared gradients lie about 1e-2 apart)


def replay_loop(ctx: Context, clear: bool) -> dict[str, torch.Tensor]:
    """The lesson's short loop, run by the judge: the grader's model from the secret loop_init, full-batch Adam on
    binary cross-entropy at the recipe's lr for loop_epochs, on the loop's rows, with optimizer.zero_grad() before
    each backward (clear) or never (gradients accumulate across steps)."""
    from autograder.hidden.grading_model import GraderRNN
    from autograder.limits import one_thread
    from autograder.training_model import full_batch_step

    recipe, plan = ctx.recipe, ctx.plan
    tokens, y = plan.tokens[: recipe.loop_rows], plan.y[: recipe.loop_rows]
    model = GraderRNN(plan.vocab_size, recipe.hidden_dim, recipe.embedding_dim, plan.pad)
    model.load_state_dict(plan.loop_init)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)

    def run() -> None:
        for _ in range(recipe.loop_epochs):
            full_batch_step(model, optimizer, tokens, y, clear_gradients=clear)

    one_thread(run)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in b)


def replayed(final: dict[str, torch.Tensor] | None, ctx: Context) -> str | None:
    """Which replay of the lesson's loop the student's weights after the short run follow: "clear", "accumulate",
    or None (neither: minibatches, another optimizer or schedule, gradient clipping, no training at all)."""
    if final is None or not all(torch.isfinite(t).all() for t in final.values()):
        return None
    clear, accumulate = replay_loop(ctx, True), replay_loop(ctx, False)
    if _distance(clear, accumulate) < 100 * REPLAY_ATOL:  # the two cannot be told apart on this plan
        return None
    return "clear" if _distance(final, clear) <= REPLAY_ATOL else \
        "accumulate" if _distance(final, accumulate) <= REPLAY_ATOL else None


def optimizer_protocol(v, outcome, ctx: Context) -> None:
    """Evidence from outside the process first (issue 19): the weights train() left after the short CPU run, against
    the judge's own replays of the lesson's loop from the secret initial weights, with and without cleared
    gradients. Only a loop that follows neither (minibatches, another optimizer, clipping) is judged on the device
    spy's counters, and then counts only if the training checks confirm it trained (judging.pass_if_confirmed)."""
    epochs = ctx.recipe.loop_epochs
    v.expected = f"over {epochs} epochs, optimizer.step() after each backward, with the gradients cleared " \
                 "(optimizer.zero_grad()) before each new backward"
    if probe_failed(v, outcome, v.expected, ctx):
        return
    data = outcome.data["runs"][-1]  # the CPU run: the same verdict on a grader with or without a GPU
    spy = data["spy"]
    if data["error"]:
        v.observed = f"train raised {error_text(data['error'], ctx)}"
        v.fix = "Fix the error first (see train_returns_losses)."
        return
    follows = replayed(data.get("final_state"), ctx)
    if follows == "clear":
        v.passed = True
        v.observed = f"after {epochs} epochs your model's weights are those of {epochs} Adam steps with the " \
                     "gradients cleared before each: the grader replayed the lesson's loop from the initial weights " \
                     "it gave your train()"
        return
    if follows == "accumulate":
        v.observed = f"after {epochs} epochs your model's weights are those of {epochs} Adam steps on gradients " \
                     "ACCUMULATED across steps: the grader replayed the lesson's loop without optimizer.zero_grad() " \
                     "and got exactly your weights"
        v.fix = "Call optimizer.zero_grad() at the start of every step, before loss.backward()."
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
    pass_if_confirmed(v, ctx, f"{spy['steps']} steps, {spy['backwards']} backward passes, gradients cleared "
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


def _span_text(low: float, high: float) -> str:
    return f"{low:.3f}" if abs(high - low) < 5e-4 else f"between {low:.3f} and {high:.3f}"


def _reported_key(epoch: int, epochs: int) -> str:
    return "reported_first" if epoch == 0 else "reported_last" if epoch == epochs - 1 else f"reported_at_{epoch}"


def _reported_spans(checkpoints: dict, start: float, end: float, ctx: Context) -> dict[str, tuple[int, float, float]]:
    """For each compared epoch: the span of the losses recomputed from the weights along it (its start, its steps,
    its end). A full-batch loop returns the loss at the epoch's start, a minibatch loop the mean over the epoch's
    steps: both lie in that span. Without the weights along the way (steps that do not divide into epochs), the
    first and the last returned losses are compared with the initial and the final loss alone."""
    epochs = ctx.recipe.epochs
    spans = {"reported_first": (0, start, start), "reported_last": (epochs - 1, end, end)}
    for epoch, states in checkpoints.items():
        epoch = int(epoch)
        usable = [s for s in states if not missing_keys(s) and all(torch.isfinite(x).all() for x in s.values())]
        if usable:
            losses = [full_batch_loss(s, ctx.tokens, ctx.y, "grader") for s in usable]
            losses += [start] if epoch == 0 else [end] if epoch == epochs - 1 else []
            spans[_reported_key(epoch, epochs)] = (epoch, min(losses), max(losses))
    return spans


def loss_decreases(v, outcome, ctx: Context) -> None:
    t, recipe = ctx.thresholds, ctx.recipe
    prior = prior_entropy(ctx.y)
    v.expected = (f"after train(epochs={recipe.epochs}, lr={recipe.lr}) on the grader's model, the loss recomputed "
                  f"from the trained weights at least {t.loss_drop} below the initial loss and {t.below_prior} below "
                  f"{prior:.3f} (predicting the class prior); each returned loss within {t.reported_first} of the "
                  "loss recomputed from the weights during that epoch (checked at epochs "
                  f"{', '.join(map(str, recipe.loss_epochs()))})")
    if probe_failed(v, outcome, v.expected, ctx):
        return
    data = outcome.data
    if data["error"]:
        v.observed = f"train raised {error_text(data['error'], ctx)}"
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
    problem = values_problem(reported, recipe.epochs)
    if problem is None:
        first, last = reported["values"][0], reported["values"][-1]
        spans = _reported_spans(data.get("checkpoints", {}), start, end, ctx)
        for key, (epoch, low, high) in spans.items():
            tolerance = t.reported_last if key == "reported_last" else t.reported_first
            margins[key] = tolerance - max(0.0, low - reported["values"][epoch], reported["values"][epoch] - high)
        v.details.update(reported=reported["values"], spans=spans)
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
        epoch, low, high = spans[worst]
        v.observed += f"; but train returned {reported['values'][epoch]:.3f} for epoch {epoch}, while the real loss " \
                      f"during that epoch was {_span_text(low, high)} (more than {t.reported_first} away)"
        v.fix = "Return the losses your loop computed (loss.item() each epoch), not other numbers."
    else:
        v.passed = True
        v.observed += f"; train returned {first:.3f} -> {last:.3f}"


def separability(v, outcome, ctx: Context) -> None:
    t = ctx.thresholds
    v.expected = (f"the trained 2-D document embeddings (the grader's model, your train) separable with a 5-fold "
                  f"balanced accuracy >= {t.separable}, at least {t.separable_gain} above the untrained ones (or "
                  "half the way from them to 1.0, when they already separate well)")
    if probe_failed(v, outcome, v.expected, ctx):
        return
    if outcome.data["error"]:
        v.observed = f"train raised {error_text(outcome.data['error'], ctx)}"
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
    if probe_failed(v, outcome, v.expected, ctx):
        return
    finished = [r for r in outcome.data["runs"] if not r["error"] and r["losses"]["values"] is not None]
    if finished:  # the feedback's learning curve of the student's own model (its last run)
        v.details["losses"] = finished[-1]["losses"]["values"]
    summarize = ctx.verdicts.get("summarize_is_last_state")
    if summarize is None or not summarize.passed:
        v.observed = "not judged: summarize_is_last_state did not pass, so the summary cannot be recomputed"
        v.fix = "Fix ClassifierWithRNN.summarize first."
        return
    form, labels = summarize.details["form"], ctx.y.numpy()
    scores, errors = [], []
    for index, run in enumerate(outcome.data["runs"]):
        if run["error"]:
            errors.append(error_text(run["error"], ctx))
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
