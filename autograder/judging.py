"""What every judge shares: the Context a judge reads (the grader's recipe and plan, the device, the thresholds, the
machine's pace, earlier verdicts) and the helpers that say what a probe's failure means, in words a student can act
on. Public names: autograder/judges.py (the public checks' judges) and autograder/hidden/judges.py (the hidden ones)
both import this module, and neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from autograder.plan import GradingPlan
from autograder.recipe import Recipe
from autograder.spec import CONFIRMED_BY


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
    outcomes: dict = field(default_factory=dict)  # every probe's validated outcome (runner.ProbeOutcome), by name

    @property
    def tokens(self) -> torch.Tensor:
        return self.plan.tokens

    @property
    def y(self) -> torch.Tensor:
        return self.plan.y


def why_missing(name: str, ctx) -> str:
    """Why a name the student's code used was not defined in grading: the statement that would have defined it."""
    for failure in (ctx.load_failures if ctx is not None else []):
        if name in failure.get("names", []):
            return (f"; `{name}` is assigned in code cell {failure['cell']}, line {failure['line']}, which did not "
                    f"run in grading ({failure['type']}: {failure['message']})")
    return ""


def error_text(error: dict, ctx=None) -> str:
    where = f" ({'; '.join(error['where'])})" if error.get("where") else ""
    if error["type"] == "NotImplementedError":
        return f"NotImplementedError: this stub is not written yet{where}"
    missing = "".join(why_missing(n, ctx) for n in error.get("missing_names", []))
    return f"{error['type']}: {error['message']}{where}{missing}"


def probe_failed(v, outcome, what: str, ctx=None) -> bool:
    """Fills the verdict when the probe produced nothing; True if so."""
    if outcome.ok:
        return False
    v.expected = what
    kind = outcome.error.get("type")
    if kind == "BadResult":
        v.observed = f"what came back from running your code was not valid: {outcome.error['message']}"
        v.fix = "Let the grader's calls return normally: do not write to the grader's results or change its code."
    elif kind == "Timeout":
        timed_out(v, outcome, ctx)
    elif kind == "WorkerDied":
        v.observed = f"your code raised no error, but {outcome.error['message']}"
        v.fix = ("Something in your code ends the Python process (os._exit, a native crash) or it ran out of memory: "
                 "in Jupyter the kernel dies the same way (\"the kernel appears to have died\"). Look for that call, "
                 "or for memory use that grows with every epoch.")
    else:
        v.observed = f"your code did not run to the end: {error_text(outcome.error, ctx)}"
        v.fix = "Run the cell in the notebook, read the error, and fix the line it names."
    return True


def timed_out(v, outcome, ctx) -> None:
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


def shape_text(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else f"a {t['not_a_tensor']}, not a tensor"


def case_problem(case, result, *, what: str, ctx=None) -> str | None:
    """Why one case's summary or logits are unusable (raised, wrong type, wrong shape, not finite), or None."""
    if result["error"]:
        return f"{what} raised {error_text(result['error'], ctx)}"
    summary, logits = result["summary"], result["logits"]
    size = f"batch {case.batch}, length {case.length}, embedding_dim {case.embedding_dim}, hidden_dim {case.hidden_dim}"
    if not isinstance(summary, torch.Tensor):
        return f"summarize returned {shape_text(summary)} ({size})"
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
        return f"forward returned {shape_text(logits)} for {size}; expected {(case.batch, 1)}"
    if not logits.is_floating_point() or not torch.isfinite(logits).all():
        return f"forward returned values that are not all finite floats ({size})"
    return None



def values_problem(losses: dict, epochs: int) -> str | None:
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


def training_confirmed(ctx: Context) -> tuple[bool, str]:
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


def pass_if_confirmed(v, ctx: Context, observed: str) -> None:
    if not any(name in ctx.verdicts for name in CONFIRMED_BY):  # the student package: the confirmation is hidden
        v.passed = True
        v.observed = f"{observed} (when your notebook is graded, this check counts only if the hidden training " \
                     "checks also show your train() training the model)"
        return
    confirmed, evidence = training_confirmed(ctx)
    if confirmed:
        v.passed, v.observed = True, observed
        return
    v.observed = f"{observed}; but the grader's recomputation of the training run does not show your train() " \
                 f"training the model ({evidence}), and this check counts only then"
    v.fix = "Make train() learn: the loss recomputed from the trained weights must fall as loss_decreases asks, " \
            "or the trained embeddings must pass separability."
