"""Probes: the code that runs the student's definitions on inputs the grader chooses, inside the worker process.
Each returns plain data (tensors, numbers, strings, lists, dicts) and decides nothing: the judges do.

A probe raises StudentError when the student's code fails; the worker records it with the student's own lines.
"""

from __future__ import annotations

import math
import numbers

import torch

from autograder.grading_model import (
    MODEL_CASES, Recipe, case_inputs, load_grading_data, seeded_grader_model,
)
from autograder.spy import TrainingSpy


class StudentError(Exception):
    """The student's code raised, or returned something that cannot be sent back."""


def _plain(value, what: str):
    """A value as plain data (a CPU tensor, a number, a list of them) or a description of what it was."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    return {"not_a_tensor": type(value).__name__, "what": what}


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _losses(value) -> dict:
    """What train() returned, checked for being a list of numbers; never trusted beyond that."""
    if not isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "values": None}
    kinds = sorted({type(v).__name__ for v in value})
    numbers_only = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    values = [float(v) for v in value] if numbers_only else None
    return {"type": type(value).__name__, "length": len(value), "kinds": kinds, "values": values,
            "finite": bool(values is not None and all(math.isfinite(v) for v in values))}


def _model_class(ns: dict, name: str):
    cls = ns.get(name)
    if cls is None:
        raise StudentError(f"`{name}` is not defined")
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise StudentError(f"`{name}` is not a subclass of nn.Module")
    return cls


def probe_model(ns: dict, name: str, recipe: Recipe) -> dict:
    """Builds `name` at each grader-chosen size and calls summarize() and forward() on grader-chosen inputs."""
    cls = _model_class(ns, name)
    cases = []
    for index, case in enumerate(MODEL_CASES):
        seed = recipe.seed * 1000 + index
        x, _lengths, tokens = case_inputs(case, seed)
        result: dict = {"error": None}
        try:
            torch.manual_seed(seed)
            model = cls(case.vocab_size, case.hidden_dim, case.embedding_dim, case.padding_idx)
            result["state"] = _state(model)
            with torch.no_grad():
                result["summary"] = _plain(model.summarize(x.clone()), "summarize")
                result["logits"] = _plain(model(tokens.clone()), "forward")
        except Exception as err:  # the student's code: any exception is a finding, not a crash
            result["error"] = describe(err)
        cases.append(result)
    return {"cases": cases}


def _train(ns: dict):
    train = ns.get("train")
    if train is None:
        raise StudentError("`train` is not defined")
    if not callable(train):
        raise StudentError("`train` is not a function")
    return train


def probe_loop(ns: dict, recipe: Recipe, data, device: str) -> dict:
    """Short runs of the student's train() on the grader's model, watched by TrainingSpy: on `device`, and on the
    CPU as well when `device` is a GPU (so that a loop that hard-codes .cuda() is caught there too)."""
    train = _train(ns)
    tokens, y, vocab_size, pad = load_grading_data(data)
    tokens, y = tokens[: recipe.loop_rows], y[: recipe.loop_rows]
    runs = []
    for target in dict.fromkeys([device, "cpu"]):
        model = seeded_grader_model(vocab_size, pad, recipe, recipe.seed + 101)
        spy = TrainingSpy(model, torch.device(target))
        run: dict = {"error": None, "epochs": recipe.loop_epochs, "device": target}
        try:
            with spy:
                losses = train(model, tokens.clone(), y.clone(), epochs=recipe.loop_epochs, lr=recipe.lr,
                               device=target)
            run["losses"] = _losses(losses)
        except Exception as err:
            run["error"] = describe(err)
        run["spy"] = spy.report()
        runs.append(run)
    return {"runs": runs}


def probe_training(ns: dict, recipe: Recipe, data, device: str) -> dict:
    """The shared training run: the student's train() on the grader's model, at the grader's recipe. The model's
    weights are kept after every optimizer step, and sent back at the start of each checkpoint epoch, so that the
    judge can compare the returned losses with the real ones along the way, not only at the ends."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    train = _train(ns)
    tokens, y, vocab_size, pad = load_grading_data(data)
    model = seeded_grader_model(vocab_size, pad, recipe, recipe.seed)
    snapshots: list[dict] = []
    handle = register_optimizer_step_post_hook(lambda optimizer, args, kwargs: snapshots.append(_state(model)))
    result: dict = {"error": None, "epochs": recipe.epochs}
    try:
        losses = train(model, tokens, y, epochs=recipe.epochs, lr=recipe.lr, device=device)
        result["losses"] = _losses(losses)
    except Exception as err:
        result["error"] = describe(err)
    finally:
        handle.remove()
    result["final_state"] = _state(model)
    result["steps"] = len(snapshots)
    per_epoch, remainder = divmod(len(snapshots), recipe.epochs)
    result["checkpoints"] = {str(e): snapshots[e * per_epoch - 1] for e in recipe.checkpoints
                             if per_epoch and not remainder and e < recipe.epochs}
    return result


def probe_end_to_end(ns: dict, recipe: Recipe, data, device: str) -> dict:
    """The student's own ClassifierWithRNN trained by the student's train(), from up to `restarts` seeds: a new seed
    only while the last run's embeddings, scored here, stayed below `restart_below`. The judge recomputes every score
    from the weights; a wrong count here can only cost the student chances."""
    from autograder.metrics import separability_score

    train = _train(ns)
    cls = _model_class(ns, "ClassifierWithRNN")
    tokens, y, vocab_size, pad = load_grading_data(data)
    runs = []
    for restart in range(recipe.restarts):
        run: dict = {"error": None, "seed": recipe.seed * 1000 + 7 + restart}
        score = 0.0
        try:
            torch.manual_seed(run["seed"])
            model = cls(vocab_size, recipe.hidden_dim, recipe.embedding_dim, pad)
            run["initial_state"] = _state(model)
            run["losses"] = _losses(train(model, tokens, y, epochs=recipe.epochs, lr=recipe.lr, device=device))
            run["final_state"] = _state(model)
            with torch.no_grad():
                model.to("cpu")
                score = separability_score(model.summarize(model.embedding(tokens)).numpy(), y.numpy())
        except Exception as err:
            run["error"] = describe(err)
        runs.append(run)
        if score >= recipe.restart_below:
            break
    return {"runs": runs}


# The training runs are always on the CPU: seeded CPU runs are bit-identical, so a submission gets the same score on
# a grader with a GPU as on one without (on a GPU, a loop that moves only the model would crash and lose every
# training check, on the CPU only device_placement). Device placement is checked on the GPU when there is one.
CPU_ONLY_PROBES = {"training", "end_to_end"}


def run_probes(namespace: dict, probes: list[str], recipe: Recipe, data, device: str, emit) -> None:
    """Runs each probe on the student's namespace; emit(name, result, error) gets exactly one of result or error."""
    import random

    import numpy as np

    for name in probes:
        # Seeded for every library a loop might draw from: the same submission gets the same score every time.
        random.seed(recipe.seed)
        np.random.seed(recipe.seed)
        torch.manual_seed(recipe.seed)
        try:
            result = PROBES[name](namespace, recipe, data, "cpu" if name in CPU_ONLY_PROBES else device)
        except StudentError as err:
            emit(name, None, {"type": "StudentError", "message": str(err), "where": []})
        except Exception as err:  # the student's code raised outside any probe's own handling
            emit(name, None, describe(err))
        else:
            emit(name, result, None)


PROBES = {
    "rnn_model": lambda ns, recipe, data, device: probe_model(ns, "ClassifierWithRNN", recipe),
    "mean_model": lambda ns, recipe, data, device: probe_model(ns, "ClassifierWithMean", recipe),
    "loop": probe_loop,
    "training": probe_training,
    "end_to_end": probe_end_to_end,
}


def describe(err: BaseException) -> dict:
    """An exception as plain data: its type, message, and the student's own lines in the traceback."""
    import traceback

    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith("cell ")]
    where = [f"{f.filename}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames][-3:]
    message = str(err).strip().splitlines()
    return {"type": type(err).__name__, "message": " ".join(message[:3])[:500], "where": where}
