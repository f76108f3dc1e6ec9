"""The public checks' judges: decide a check from a probe's plain data. They recompute what they can from the
grader's own inputs, and never trust a number the student's code reports. Each judge fills in a Verdict: expected,
observed, and what to change. What every judge shares is in autograder/judging.py; the hidden checks' judges and
thresholds are in autograder/hidden/judges.py (grader package only)."""

from __future__ import annotations

import torch

from autograder.judging import Context, case_problem, error_text, pass_if_confirmed, probe_failed, values_problem


# ----------------------------------------------------------------------------------------------------- model

def shapes(v, outcome, ctx: Context) -> None:
    expected = "summarize(x) of shape (batch, hidden_dim) and forward(tokens) of shape (batch, 1), finite floats, " \
               "for every size tried (batch 1 included)"
    if probe_failed(v, outcome, expected, ctx):
        return
    v.expected = expected
    for case, result in zip(ctx.plan.cases, outcome.data["cases"]):
        problem = case_problem(case.case, result, what="building the model or calling it", ctx=ctx)
        if problem:
            v.observed = problem
            v.fix = "Return one summary vector per headline: a tensor of shape (batch, hidden_dim)."
            return
    v.passed = True
    v.observed = f"the right shapes for all {len(ctx.plan.cases)} sizes tried (which time step summarize returns is " \
                 "checked when your notebook is graded)"


# ------------------------------------------------------------------------------------------------------ loop

def _losses_problem(losses: dict, epochs: int) -> str | None:
    """What is wrong with the returned losses for train_returns_losses: their type, their number, their values."""
    if losses.get("values") is not None and not losses["plain"]:
        if losses["type"] in ("list", "tuple"):
            return f"train returned a list of {', '.join(losses['kinds'])}, not of Python floats"
        return f"train returned a {losses['type']} of {', '.join(losses['kinds'])}, not a list of Python floats"
    return values_problem(losses, epochs)


def train_returns_losses(v, outcome, ctx: Context) -> None:
    epochs = ctx.recipe.loop_epochs
    v.expected = f"train(model, tokens, y, epochs={epochs}, lr=..., device=...) returns a list of {epochs} finite floats"
    if probe_failed(v, outcome, v.expected, ctx):
        return
    run = outcome.data["runs"][-1]  # the CPU run: the same verdict on a grader with or without a GPU
    if run["error"]:
        v.observed = f"train raised {error_text(run['error'], ctx)}"
        v.fix = "Run your train() in the notebook on a small model and fix the error."
        return
    problem = _losses_problem(run["losses"], epochs) or _count_elsewhere(ctx)
    if problem:
        v.observed = problem
        v.fix = "Append loss.item() (a Python float) once per epoch, and return that list."
        return
    pass_if_confirmed(v, ctx, f"{epochs} finite float losses, one per epoch in every run of train() the grader made")


def _count_elsewhere(ctx: Context) -> str | None:
    """A wrong count of losses in the grader's other runs of train() (the shared training run, the student's model
    end to end: more rows, more epochs), where a loop that returns one loss per minibatch shows it."""
    epochs, rows = ctx.recipe.epochs, len(ctx.plan.y)
    training = ctx.outcomes.get("training")
    returned = []
    if training is not None and training.ok and not training.data["error"]:
        returned.append(("the grader's model", training.data["losses"]["length"]))
    end_to_end = ctx.outcomes.get("end_to_end")
    if end_to_end is not None and end_to_end.ok:
        returned += [("your model", run["losses"]["length"]) for run in end_to_end.data["runs"] if not run["error"]]
    for model, length in returned:
        if length != epochs:
            per_epoch = f" ({length / epochs:g} per epoch: one per minibatch?)" if length > epochs else ""
            return f"train returned {length} losses for epochs={epochs} when it trained {model} on {rows} rows" \
                   f"{per_epoch}"
    return None


def _mentions_cuda(error: dict | None) -> bool:
    text = f"{(error or {}).get('type', '')} {(error or {}).get('message', '')}".lower()
    return any(k in text for k in ("cuda", "nvidia", "gpu"))


def device_placement(v, outcome, ctx: Context) -> None:
    v.expected = "with device=d, the model's parameters and every input to its forward on d"
    if probe_failed(v, outcome, v.expected, ctx):
        return
    checked = []
    for run in outcome.data["runs"]:
        target = torch.device(run["device"])
        real = target.type != "cpu"
        how = ("checked on a pretend accelerator, as a GPU would (this grader has none; there, as on a GPU, "
               "x.to(device) returns a new tensor and leaves x where it was): the devices of the parameters and "
               "inputs" if run.get("pretend") else
               f"checked on {target}: the devices of the parameters and inputs" if real else
               "checked on cpu with a device spy: where your code sent the model and the data")
        checked.append(how)
        problem = _placement_problem(run, target, real, ctx)
        if problem:
            v.observed, v.fix = f"{problem} ({how})", problem_fix(problem)
            v.details["mode"] = "real" if real else "spy"
            return
    pass_if_confirmed(v, ctx, "the model and every input of its forward calls were on the requested device ("
                       + "; ".join(checked) + ")")


def problem_fix(problem: str) -> str:
    if "GPU" in problem:
        return "Do not write .cuda() or 'cuda' in train(): use model.to(device) and tensor.to(device)."
    if "although" in problem:
        return "Use the device argument everywhere: model.to(device), tokens.to(device), y.to(device)."
    if "never called the model" in problem:
        return "Compute the logits with model(tokens) in each epoch."
    if "different devices" in problem or "input was not" in problem:
        return ("Keep what .to returns: tokens, y = tokens.to(device), y.to(device) (on a GPU, x.to(device) returns a "
                "new tensor and leaves x where it was); model.to(device) moves the model itself.")
    if "after train returned" in problem:
        return "Leave the model on the device: do not move it back at the end."
    if "raised" in problem:
        return "Fix the error first (see train_returns_losses)."
    return "Move both: model.to(device) once, and tokens.to(device), y.to(device) before using them."


def _placement_problem(run: dict, target: torch.device, real: bool, ctx=None) -> str | None:
    spy, error = run["spy"], run["error"]
    if error and _mentions_cuda(error) and not real:
        return f"with device='cpu', train raised {error_text(error, ctx)}: it reached for a GPU"
    elsewhere = sorted({d for d in spy["tensor_moves"] + spy["model_moves"]
                        if torch.device(d).type not in (target.type, "cpu")})
    moved_model_elsewhere = sorted({d for d in spy["model_moves"] if torch.device(d).type != target.type})
    if elsewhere or moved_model_elsewhere:
        places = elsewhere or moved_model_elsewhere
        gpu = " (a GPU: a hard-coded .cuda() or 'cuda')" if any(torch.device(d).type == "cuda" for d in places) else ""
        return f"train sent tensors or the model to {places}{gpu} although device='{target}' was asked for"
    if error and real and "device" in error["message"]:  # what torch raises on a GPU: say which side stayed behind
        return _forward_problem(spy, target, real) or \
            f"on '{target}', train raised {error_text(error, ctx)}: the model and the data were on different devices"
    if error:
        return f"train raised {error_text(error, ctx)}"
    if not spy["forwards"]:
        return "train never called the model"
    problem = _forward_problem(spy, target, real)
    if problem:
        return problem
    final = spy["final_parameter_devices"]
    if not all(torch.device(d).type == target.type for d in final):
        return f"after train returned, the parameters were on {final}"
    return None


def _forward_problem(spy: dict, target: torch.device, real: bool) -> str | None:
    """The first forward call whose model or input was not on the target device, in words; None if none. On the
    CPU, what was never moved is where it belongs (everything starts there: `if device.type != "cpu": ...` is
    right): placement is decided on the accelerator, a GPU or the pretend one, and the CPU run only catches a loop
    that sends things elsewhere."""
    if not real:
        return None
    for index, call in enumerate(spy["forwards"], start=1):
        params_ok = bool(call["parameter_devices"]) and all(
            torch.device(d).type == target.type for d in call["parameter_devices"])
        input_ok = call["input_device"] not in ("NoneType", "tuple", "list") and \
            torch.device(call["input_device"]).type == target.type
        if not params_ok and not input_ok:
            return f"in forward call {index}, neither the model nor its input had been sent to '{target}'"
        if not params_ok:
            return f"in forward call {index}, the input was on '{target}' but the model was not"
        if not input_ok:
            return f"in forward call {index}, the model was on '{target}' but its input was not " \
                   f"(it was on {call['input_device']})"
    return None
