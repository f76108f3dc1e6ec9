"""The public checks' probes: the code that runs the student's definitions on inputs the grader chooses, inside the
worker process. Each returns plain data (tensors, numbers, strings, lists, dicts) and decides nothing: the judges do.
They are declared in autograder/checks.py (PUBLIC_PROBES); the hidden checks' probes are in hidden/probes.py."""

from __future__ import annotations

import contextlib

import torch

from autograder.probe_kit import describe, grader_model, probe_model, returned_losses, state_copy, train_function
from autograder.recipe import Recipe
from autograder.spy import PretendAccelerator, TrainingSpy


def probe_rnn_model(ns: dict, job: dict, recipe: Recipe, device: str) -> dict:
    """ClassifierWithRNN at each grader-chosen size, with the grader's weights, on the grader's inputs."""
    return probe_model(ns, "ClassifierWithRNN", job, recipe)


def probe_loop(ns: dict, job: dict, recipe: Recipe, device: str) -> dict:
    """Short runs of the student's train() on the grader's model, watched by TrainingSpy: on an accelerator, then on
    the CPU (a loop that hard-codes .cuda() is caught there). The accelerator is the GPU when there is one, and
    otherwise a pretend one (spy.PretendAccelerator), where placement behaves as on a GPU: every grader runs the
    same two runs and gives the same verdict."""
    train = train_function(ns)
    tokens, y = job["tokens"][: recipe.loop_rows], job["y"][: recipe.loop_rows]
    pretend = torch.device(device).type == "cpu" and not torch.cuda.is_available()
    runs = []
    for target in dict.fromkeys(["cuda" if pretend else device, "cpu"]):
        model = grader_model(job, recipe, job["loop_init"])
        spy = TrainingSpy(model, torch.device(target))
        run: dict = {"error": None, "epochs": recipe.loop_epochs, "device": target}
        accelerator = PretendAccelerator() if pretend and target != "cpu" else contextlib.nullcontext()
        with accelerator:
            try:
                with spy:
                    losses = train(model, tokens.clone(), y.clone(), epochs=recipe.loop_epochs, lr=recipe.lr,
                                   device=target)
                run["losses"] = returned_losses(losses)
                if target == "cpu":  # the judge replays the lesson's loop from loop_init and compares (issue 19)
                    run.update(_final_state(model, job["loop_init"]))
            except Exception as err:
                run["error"] = describe(err)
            run["spy"] = spy.report()
        if pretend and target != "cpu":
            run["pretend"] = True
        runs.append(run)
    return {"runs": runs}


def _final_state(model, initial: dict) -> dict:
    """The weights train() left, for the replay, when they are the ones it was given (same names, same shapes);
    nothing otherwise: the judge then has no replay to compare, and the other loop checks keep their verdicts."""
    try:
        state = state_copy(model)
    except Exception:  # noqa: BLE001 - the student's code may have broken the model
        return {}
    if all(k in state and tuple(state[k].shape) == tuple(v.shape) for k, v in initial.items()):
        return {"final_state": {k: state[k] for k in initial}}
    return {}

