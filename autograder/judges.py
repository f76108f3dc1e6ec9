"""Judges: decide a check from a probe's plain data. They recompute what they can (summaries, losses, embeddings,
separability) from the student's weights and the grader's own inputs, and never trust a number the student's code
reports. Each judge fills in a Verdict: expected, observed, and what to change.

This module holds the public checks' judges and what every judge shares; the hidden checks' judges and thresholds are
in autograder/hidden/judges.py (grader package only)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from autograder.plan import GradingPlan
from autograder.recipe import Recipe


@dataclass
class Context:
    """What every judge may use: the grader's recipe and plan (its secret weights, inputs and data), the device
    graded on, the notebook's failed top-level statements, earlier verdicts."""

    recipe: Recipe
    plan: GradingPlan
    device: str
    thresholds: object = None  # the hidden judges' (autograder.hidden.judges.Thresholds); None without them
    pace: object = None  # autograder.limits.Pace: this machine's measured speed and each probe's time limit
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
        _timed_out(v, outcome, ctx)
    elif kind == "WorkerDied":
        v.observed = f"your code raised no error, but {outcome.error['message']}"
        v.fix = ("Something in your code ends the Python process (os._exit, a native crash) or it ran out of memory: "
                 "in Jupyter the kernel dies the same way (\"the kernel appears to have died\"). Look for that call, "
                 "or for memory use that grows with every epoch.")
    else:
        v.observed = f"your code did not run to the end: {_error_text(outcome.error, ctx)}"
        v.fix = "Run the cell in the notebook, read the error, and fix the line it names."
    return True


def _timed_out(v, outcome, ctx) -> None:
    """A probe ran out of time: the submission's slowness, or the machine's (then flagged, not scored)."""
    from autograder.limits import MARGIN, MINIBATCH, MINIBATCH_MARGIN, SLOWED_DOWN

    pace, recipe = getattr(ctx, "pace", None), getattr(ctx, "recipe", None)
    v.observed = f"your code was still running when this check's time ran out ({outcome.error['message']})"
    v.fix = "Run the cell in the notebook: does it finish at about the lesson's pace for this many epochs?"
    if pace is None:
        return
    slower = (f"{pace.slowdown:.1f} times slower than when grading began ({pace.epoch_seconds * 1e3:.0f} ms -> "
              f"{pace.after_timeout * 1e3:.0f} ms per epoch on {pace.rows} rows)") if pace.after_timeout else ""
    if recipe is not None and pace.machine_slowed(outcome.name, recipe):
        v.internal_error = True
        v.observed = (f"this check's time ran out while the grading machine was busy: it trained the grader's model "
                      f"{slower}, so the limit cannot tell a slow solution from a slow machine")
        v.fix = "Nothing on your side: your instructor grades it again on a machine that is not overloaded."
        return
    if recipe is not None and pace.slowdown >= SLOWED_DOWN:  # busy, but not enough to explain it: say both
        needed, limit = pace.worker_needs(outcome.name, recipe)
        v.observed += (f"; the grading machine was busy (the grader's model trained {slower}), but at that pace a "
                       f"correct loop needs about {needed:.0f} s, within the limit of {limit:.0f} s")
    expected = pace.expected(outcome.name, recipe) if recipe is not None else 0.0
    if expected:
        epochs = expected / pace.epoch_seconds
        v.observed += (f"; for this run's {epochs:.0f} epochs on {pace.rows} rows, the grader's own loop takes about "
                       f"{expected:.0f} s on this machine now ({pace.epoch_seconds * 1e3:.1f} ms per full-batch "
                       f"epoch)")
        if pace.minibatch_seconds:
            v.observed += (f", or about {epochs * pace.minibatch_seconds:.0f} s in minibatches of {MINIBATCH} rows "
                           f"({pace.minibatch_seconds * 1e3:.0f} ms per epoch)")
        v.observed += (f"; the limit allows {MARGIN:g} times the first, or {MINIBATCH_MARGIN:g} times the second, "
                       "plus the worker's start")
        v.fix = ("Your train() is much slower per epoch than either: time one epoch in the notebook, and remove "
                 f"per-step work (printing, copying the data, a loop over headlines, minibatches under {MINIBATCH} "
                 "rows).")


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


# ------------------------------------------------------------------------------------------------------ loop

def _losses_problem(losses: dict, epochs: int) -> str | None:
    """What is wrong with the returned losses for train_returns_losses: their type, their number, their values."""
    if losses.get("values") is not None and not losses["plain"]:
        return f"train returned a list of {', '.join(losses['kinds'])}, not of Python floats"
    return _values_problem(losses, epochs)


def _values_problem(losses: dict, epochs: int) -> str | None:
    """What keeps the returned losses from being compared with the real ones (one number per epoch, finite): the
    loss checks read the values; whether they are Python floats is train_returns_losses' to judge."""
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
    from autograder.checks import BY_NAME, CONFIRMED_BY

    if not any(name in BY_NAME for name in CONFIRMED_BY):  # the student package: the confirmation is hidden
        v.passed = True
        v.observed = f"{observed} (when your notebook is graded, this check counts only if the hidden training " \
                     "checks also show your train() training the model)"
        return
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
    if "GPU" in problem:
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
        places = elsewhere or moved_model_elsewhere
        gpu = " (a GPU: a hard-coded .cuda() or 'cuda')" if any(torch.device(d).type == "cuda" for d in places) else ""
        return f"train sent tensors or the model to {places}{gpu} although device='{target}' was asked for"
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
