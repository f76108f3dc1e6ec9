"""What every probe shares, in the grading worker: turning the student's values into plain data, loading the
grader's weights into the student's model, describing the student's exceptions, and running the probes a worker was
asked for. autograder/probes.py (the public checks' probes) and autograder/hidden/probes.py (the hidden ones) both
import this module, and neither imports the other.

A probe raises StudentError when the student's code fails; the worker records it with the student's own lines.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from autograder.recipe import Recipe


class StudentError(Exception):
    """The student's code raised, or returned something that cannot be sent back."""


def plain(value, what: str):
    """A value as plain data (a CPU tensor, a number, a list of them) or a description of what it was."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    return {"not_a_tensor": type(value).__name__, "what": what}


def state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def number(value) -> float | None:
    """A loss as a float: a Python or NumPy number, or a one-element floating tensor or NumPy array (what `loss` is
    before `.item()`, or after `.numpy()`)."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        return float(value.detach().to("cpu", torch.float64).reshape(()))
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind == "f":
        return float(value.reshape(()))
    return None


def returned_losses(value) -> dict:
    """What train() returned: its type, the kinds of its items, whether they are plain numbers (no tensors), and the
    numbers if every item is one (one-element tensors included: their values are compared with the real losses by
    loss_decreases, their type is train_returns_losses' business). A 1-D floating array of losses (NumPy, or a
    tensor that holds no autograd graph) is a list of numbers as a notebook uses it: printed, plotted, indexed."""
    if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 1 and (
            value.dtype.kind == "f" if isinstance(value, np.ndarray) else value.is_floating_point()):
        if isinstance(value, np.ndarray):
            values, plain, kinds = value.astype(np.float64).tolist(), True, [str(value.dtype)]
        else:
            plain = not value.requires_grad  # a stack of `loss` tensors keeps every epoch's graph alive
            values = value.detach().to("cpu", torch.float64).tolist()
            kinds = [str(value.dtype).removeprefix("torch.") + ("" if plain else " that requires grad")]
        return {"type": type(value).__name__, "kinds": kinds, "length": len(values), "values": values, "plain": plain}
    if not isinstance(value, (list, tuple)):
        return {"type": type(value).__name__, "kinds": [], "length": 0, "values": None, "plain": False}
    value = list(value)
    kinds = sorted({type(v).__name__ for v in value})[:10]
    values = [number(v) for v in value]
    # Numbers as Python and NumPy have them (`loss.item()`, `loss.detach().cpu().numpy()`); a tensor is not one: a
    # `loss` kept whole holds its epoch's autograd graph.
    plain = all(n is not None and not isinstance(v, torch.Tensor) for v, n in zip(value, values))
    values = values if all(v is not None for v in values) else None
    return {"type": type(value).__name__, "kinds": kinds, "length": len(value), "values": values, "plain": plain}


def model_class(ns: dict, name: str):
    cls = ns.get(name)
    if cls is None:
        raise StudentError(f"`{name}` is not defined")
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise StudentError(f"`{name}` is not a subclass of nn.Module")
    return cls


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """The grader's weights into the student's model: the judge recomputes from these, not from what the model
    reports about itself."""
    own = dict(model.named_parameters())
    missing = [k for k in weights if k not in own]
    if missing:
        raise StudentError(f"the model has no {missing} parameters (keep __init__ as given: self.embedding, "
                           "self.rnn = nn.RNN(...), self.linear)")
    wrong = [f"{k} {tuple(own[k].shape)}" for k in weights if tuple(own[k].shape) != tuple(weights[k].shape)]
    if wrong:
        raise StudentError(f"parameters of unexpected shape: {wrong}")
    with torch.no_grad():
        for key, value in weights.items():
            own[key].copy_(value)


def probe_model(ns: dict, name: str, job: dict, recipe: Recipe) -> dict:
    """Builds `name` at each grader-chosen size, loads the grader's weights into it, and calls summarize() and
    forward() on the grader's inputs."""
    cls = model_class(ns, name)
    cases = []
    for index, case in enumerate(job["cases"]):
        vocab_size, hidden_dim, embedding_dim, padding_idx = case["sizes"]
        result: dict = {"error": None}
        try:
            torch.manual_seed(recipe.seed * 1000 + index)
            model = cls(vocab_size, hidden_dim, embedding_dim, padding_idx)
            load_weights(model, case["weights"])
            with torch.no_grad():
                result["summary"] = plain(model.summarize(case["x"].clone()), "summarize")
                result["logits"] = plain(model(case["tokens"].clone()), "forward")
        except Exception as err:  # the student's code: any exception is a finding, not a crash
            result = {"error": describe(err)}
        cases.append(result)
    return {"cases": cases}


def train_function(ns: dict):
    train = ns.get("train")
    if train is None:
        raise StudentError("`train` is not defined")
    if not callable(train):
        raise StudentError("`train` is not a function")
    return train


def training_model(job: dict) -> type[torch.nn.Module]:
    """The model class train() is graded on, built from the source the grader sent (autograder.training_model): no
    module of the sandbox's kit holds it, so student code cannot import it, and it exists in the worker only from
    the first training probe on, after the model probes have called the student's summarize()."""
    namespace: dict = {"__name__": "training_model"}
    exec(compile(job["training_model"], "<the grader's training model>", "exec"), namespace)  # noqa: S102 - the grader's
    return namespace["TRAINED"]


def grader_model(job: dict, recipe: Recipe, weights: dict) -> torch.nn.Module:
    model = training_model(job)(job["vocab_size"], recipe.hidden_dim, recipe.embedding_dim, job["pad"])
    load_weights(model, weights)
    return model


def emulation():
    """Without a GPU, a hard-coded GPU runs on the CPU (spy.CudaOnCpu): the same grade on every grader."""
    import contextlib

    from autograder.spy import CudaOnCpu

    return contextlib.nullcontext() if torch.cuda.is_available() else CudaOnCpu()


def run_probes(namespace: dict, calls: list[dict], job: dict, recipe: Recipe, device: str, emit) -> None:
    """Runs each probe on the student's namespace; emit(name, result, error) gets exactly one of result or error.
    `calls` says which (autograder.checks.probe_calls: each probe's name, its "module:function", whether it trains
    on the CPU only), so that the worker needs no registry."""
    import importlib
    import random

    for call in calls:
        name = call["name"]
        module, _, function = call["function"].partition(":")
        # Seeded for every library a loop might draw from: the same submission gets the same score every time.
        random.seed(recipe.seed)
        np.random.seed(recipe.seed)
        torch.manual_seed(recipe.seed)
        try:
            with emulation():
                probe = getattr(importlib.import_module(module), function)
                result = probe(namespace, job, recipe, "cpu" if call["cpu_only"] else device)
        except StudentError as err:
            emit(name, None, {"type": "StudentError", "message": str(err), "where": []})
        except Exception as err:  # the student's code raised outside any probe's own handling
            emit(name, None, describe(err))
        else:
            emit(name, result, None)


def describe(err: BaseException) -> dict:
    """An exception as plain data: its type, message, and the student's own lines in the traceback."""
    import traceback

    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith("cell ")]
    where = [f"{f.filename}, line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames][-3:]
    try:
        message = str(err).strip().splitlines()
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises
        message = ["(its message could not be read)"]
    described = {"type": type(err).__name__, "message": " ".join(message[:3])[:500], "where": where}
    if isinstance(err, NameError) and getattr(err, "name", None):
        described["missing_names"] = [str(err.name)]
    return described
