"""Canned probe outcomes for the judges' unit tests: plain data shaped as a probe returns it, built from the grader's
own plan (the fixture, a fixed secret) without running any student code, then passed through the border as in a
grading. `outcome(probe, data, plan)` is what a judge reads."""

from __future__ import annotations

import copy
from functools import lru_cache

import torch

from autograder import border
from autograder.recipe import Recipe, default_data_paths
from autograder.runner import ProbeOutcome


@lru_cache(maxsize=1)
def plan():
    from autograder.plan import make_plan

    return make_plan(Recipe(), default_data_paths(), secret=1234)


def outcome(probe: str, data: dict, the_plan=None) -> ProbeOutcome:
    """`data` through the border, as a grading validates it."""
    return ProbeOutcome(probe, data=border.validate(probe, copy.deepcopy(data), the_plan or plan()))


def failed(probe: str, kind: str, message: str = "it went wrong", where=()) -> ProbeOutcome:
    return ProbeOutcome(probe, error={"type": kind, "message": message, "where": list(where)})


def model_cases(form: str = "last", the_plan=None) -> dict:
    """What summarize()/forward() return on each of the plan's inputs when the summary is `form`
    (recompute.summarize_with's forms, or "first", "mean", "sum" of the states)."""
    from autograder.recompute import rnn_states, summarize_with

    cases = []
    for case in (the_plan or plan()).cases:
        states = rnn_states(case.weights, case.x).float()
        summary = {"first": lambda: states[:, 0], "sum": lambda: states.sum(1)}.get(
            form, lambda: summarize_with(case.weights, case.x, form).float())()
        cases.append({"error": None, "summary": summary.clone(),
                      "logits": torch.zeros(case.case.batch, 1)})
    return {"cases": cases}


def spy(device: str = "cpu", **changes) -> dict:
    """The spy's report of a correct 3-epoch loop on `device`; `changes` replace its fields."""
    call = {"input_placed": True, "input_device": device, "parameter_devices": [device], "model_moved": True}
    report = {"target": device, "model_moves": [device], "tensor_moves": [device, device], "forwards": [call] * 3,
              "forward_count": 3, "steps": 3, "backwards": 3, "stale_backwards": 0,
              "final_parameter_devices": [device]}
    report.update(changes)
    return report


def losses(values, plain: bool = True, type_: str = "list") -> dict:
    return {"type": type_, "kinds": ["float"] if plain else ["Tensor"], "length": len(values),
            "values": [float(v) for v in values], "plain": plain}


def loop(losses_=None, error=None, accelerator_error=None, cpu=None, **spy_changes) -> dict:
    """The loop probe's two runs on a grader without a GPU: on the pretend accelerator (`spy_changes` and
    `accelerator_error` apply to it), then on the CPU (`cpu`: changes to its spy report); `error`: in both."""
    epochs = Recipe().loop_epochs
    runs = [{"error": accelerator_error or error, "epochs": epochs, "device": "cuda", "spy": spy("cuda:0", **spy_changes),
             "pretend": True},
            {"error": error, "epochs": epochs, "device": "cpu", "spy": spy("cpu", **(cpu or {}))}]
    for run in runs:
        if run["error"] is None:
            run["losses"] = losses_ if losses_ is not None else losses([0.69, 0.68, 0.67][:epochs])
    return {"runs": runs}


@lru_cache(maxsize=4)
def grader_training(epochs: int | None = None, lr: float | None = None, flip: bool = False):
    """The grader's model trained by a correct full-batch loop on the plan (one thread, seeded): its final weights
    and the loss it reported at the start of each epoch. flip: trained on the flipped labels (a wrong loop)."""
    from autograder.hidden.grading_model import GraderRNN
    from autograder.training_model import full_batch_step
    from autograder.limits import one_thread

    p, recipe = plan(), Recipe()
    epochs, lr = epochs or recipe.epochs, lr if lr is not None else recipe.lr
    torch.manual_seed(0)
    model = GraderRNN(p.vocab_size, recipe.hidden_dim, recipe.embedding_dim, p.pad)
    model.load_state_dict(p.grader_init)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    y = 1 - p.y if flip else p.y
    reported = one_thread(lambda: [full_batch_step(model, optimizer, p.tokens, y).item() for _ in range(epochs)])
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, reported


def training(final_state=None, reported=None, error=None, checkpoints=None, steps=None) -> dict:
    recipe = Recipe()
    data = {"error": error, "epochs": recipe.epochs, "final_state": final_state, "steps": steps or recipe.epochs,
            "checkpoints": checkpoints or {}}
    if error is None:
        data["losses"] = losses(reported)
    return data
