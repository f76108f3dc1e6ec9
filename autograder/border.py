"""The border between the worker (the student's process) and the judges: the one place that says what may cross.

Everything a probe sends back is validated here before a judge sees it: exact keys, types, dtypes, shapes, counts,
tensors whose storage holds exactly their elements, short printable strings. Anything else raises BorderError,
which the engine records as that probe's failure (0 for its checks, with the reason), never as a grader fault.
`clean_text` is also the one sanitizer for every string from a submission on its way to a report.
"""

from __future__ import annotations

import math
import re
import unicodedata

import torch

MAX_TEXT = 600  # characters of any one string from a submission
MAX_LOSSES_PER_EPOCH = 100  # a per-batch list is a finding for the judge; more than this is refused
MAX_TENSOR_ELEMENTS = 2_000_000  # a state dict entry (vocabulary 5000 x embedding 2 is 10,000)
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_DEVICE = re.compile(r"^(cpu|cuda|mps|meta|xpu|xla|hpu|ipu|privateuseone|lazy|vulkan|mtia)(:\d{1,3})?$")


class BorderError(ValueError):
    """What came back from the worker does not have the form the judges read."""


def clean_text(value, limit: int = MAX_TEXT) -> str:
    """`value` as a short, printable string: ANSI escapes, control and format characters removed (newlines and tabs
    kept), at most `limit` characters. Safe for a terminal, XML 1.0, HTML (still escaped there) and CSV."""
    text = value if isinstance(value, str) else str(value)
    text = _ANSI.sub("", text[: limit * 4])
    kept = []
    for char in text:
        if char in "\n\t":
            kept.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") or char in "\ufffe\uffff":
            continue
        else:
            kept.append(char)
    text = "".join(kept)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fail(where: str, why: str):
    raise BorderError(f"{where}: {why}")


def _dict(value, where: str, required: set[str], optional: set[str] = frozenset()) -> dict:
    if type(value) is not dict:
        _fail(where, f"expected a dict, got {type(value).__name__}")
    keys = set(value)
    if not all(type(k) is str for k in keys):
        _fail(where, "non-text keys")
    if not required <= keys or not keys <= required | optional:
        _fail(where, f"keys {sorted(keys)[:12]}, expected {sorted(required)} (optional {sorted(optional)})")
    return value


def _int(value, where: str, low: int = 0, high: int = 10**9) -> int:
    if type(value) is not int or not low <= value <= high:
        _fail(where, f"expected a whole number in [{low}, {high}]")
    return value


def _bool(value, where: str) -> bool:
    if type(value) is not bool:
        _fail(where, "expected True or False")
    return value


def _text(value, where: str, limit: int = MAX_TEXT) -> str:
    if type(value) is not str:
        _fail(where, f"expected text, got {type(value).__name__}")
    return clean_text(value, limit)


def _device(value, where: str) -> str:
    """A device name, checked as it came (not after cleaning: a forged name is refused, never repaired)."""
    if type(value) is not str or not _DEVICE.match(value):
        _fail(where, f"not a device name: {clean_text(repr(value), 60)}")
    return value


def _list(value, where: str, most: int) -> list:
    if type(value) not in (list, tuple):
        _fail(where, f"expected a list, got {type(value).__name__}")
    if len(value) > most:
        _fail(where, f"{len(value)} items, at most {most} expected")
    return list(value)


def tensor(value, where: str, *, shape: tuple | None = None, floating: bool = True,
           most: int = MAX_TENSOR_ELEMENTS) -> torch.Tensor:
    """A plain, dense CPU tensor whose storage is exactly its elements (no stride-0 views of 10^12 elements)."""
    if not isinstance(value, torch.Tensor):
        _fail(where, f"expected a tensor, got {type(value).__name__}")
    if value.layout != torch.strided or value.is_sparse or value.is_quantized or value.device.type != "cpu":
        _fail(where, "not a dense CPU tensor")
    if value.ndim > 4 or value.numel() > most:
        _fail(where, f"shape {tuple(value.shape)[:6]} is larger than anything the grader asked for")
    if floating and value.dtype not in FLOAT_DTYPES:
        _fail(where, f"dtype {value.dtype}, expected floating point")
    if not value.is_contiguous() or value.storage_offset() != 0 or \
            value.untyped_storage().nbytes() != value.numel() * value.element_size():
        _fail(where, "a tensor whose storage does not hold exactly its elements")
    if shape is not None and tuple(value.shape) != tuple(shape):
        _fail(where, f"shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value.as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value  # subclasses become plain


def error(value, where: str) -> dict | None:
    """An exception as the worker describes it: type, message, the student's lines."""
    if value is None:
        return None
    value = _dict(value, where, {"type", "message", "where"}, {"missing_names"})
    result = {"type": _text(value["type"], f"{where}.type", 80), "message": _text(value["message"], where),
              "where": [_text(w, f"{where}.where", 300) for w in _list(value["where"], f"{where}.where", 5)]}
    if "missing_names" in value:
        result["missing_names"] = [_text(n, where, 80) for n in _list(value["missing_names"], where, 5)]
    return result


def _returned(value, where: str) -> torch.Tensor | dict:
    """What summarize()/forward() returned: a tensor, or the name of what it was instead."""
    if isinstance(value, torch.Tensor):
        return tensor(value, where, floating=False, most=100_000)
    value = _dict(value, where, {"not_a_tensor", "what"})
    return {"not_a_tensor": _text(value["not_a_tensor"], where, 80), "what": _text(value["what"], where, 40)}


def losses(value, where: str, epochs: int) -> dict:
    """What train() returned, as the worker describes it: its type, the kinds of its items, and the numbers."""
    value = _dict(value, where, {"type", "kinds", "length", "values", "plain"})
    result = {"type": _text(value["type"], where, 80), "plain": _bool(value["plain"], f"{where}.plain"),
              "kinds": [_text(k, where, 80) for k in _list(value["kinds"], f"{where}.kinds", 10)],
              "length": _int(value["length"], f"{where}.length", 0, MAX_LOSSES_PER_EPOCH * max(epochs, 1)),
              "values": None}
    if value["values"] is not None:
        numbers = _list(value["values"], f"{where}.values", MAX_LOSSES_PER_EPOCH * max(epochs, 1))
        if not all(type(x) is float for x in numbers):
            _fail(f"{where}.values", "expected floats")
        if len(numbers) != result["length"]:
            _fail(where, f"length {result['length']} but {len(numbers)} values")
        result["values"] = numbers
    result["finite"] = result["values"] is not None and all(math.isfinite(x) for x in result["values"])
    return result


def state(value, where: str, shapes: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """A state dict holding (at least) the lesson's parameters, each of the shape the judge knows it must have;
    other entries are dropped."""
    if type(value) is not dict or len(value) > 64:
        _fail(where, "expected a state dict of at most 64 entries")
    missing = [k for k in shapes if k not in value]
    if missing:
        _fail(where, f"no {missing} parameters")
    return {k: tensor(value[k], f"{where}[{k}]", shape=shape) for k, shape in shapes.items()}


def spy_report(value, where: str) -> dict:
    value = _dict(value, where, {"target", "model_moves", "tensor_moves", "forwards", "forward_count", "steps",
                                 "backwards", "stale_backwards", "final_parameter_devices"})
    forwards = []
    for index, call in enumerate(_list(value["forwards"], f"{where}.forwards", 50)):
        call = _dict(call, f"{where}.forwards[{index}]", {"input_placed", "input_device", "parameter_devices",
                                                           "model_moved"})
        forwards.append({"input_placed": _bool(call["input_placed"], where),
                         "input_device": _text(call["input_device"], where, 40),
                         "parameter_devices": [_device(d, where) for d in _list(call["parameter_devices"], where, 8)],
                         "model_moved": _bool(call["model_moved"], where)})
    return {"target": _device(value["target"], f"{where}.target"),
            "model_moves": [_device(d, where) for d in _list(value["model_moves"], f"{where}.model_moves", 10_000)],
            "tensor_moves": [_device(d, where) for d in _list(value["tensor_moves"], f"{where}.tensor_moves", 64)],
            "forwards": forwards,
            "forward_count": _int(value["forward_count"], where),
            "steps": _int(value["steps"], where), "backwards": _int(value["backwards"], where),
            "stale_backwards": _int(value["stale_backwards"], where),
            "final_parameter_devices": [_device(d, where) for d in
                                        _list(value["final_parameter_devices"], where, 8)]}


# ------------------------------------------------------------------------------------------------ per probe

def model_probe(data, plan) -> dict:
    data = _dict(data, "result", {"cases"})
    cases = _list(data["cases"], "cases", len(plan.cases))
    if len(cases) != len(plan.cases):
        _fail("cases", f"{len(cases)} cases, {len(plan.cases)} were asked for")
    checked = []
    for index, result in enumerate(cases):
        where = f"cases[{index}]"
        result = _dict(result, where, {"error"}, {"summary", "logits"})
        item = {"error": error(result["error"], f"{where}.error")}
        if item["error"] is None:
            if "summary" not in result or "logits" not in result:
                _fail(where, "neither an error nor both outputs")
            item["summary"] = _returned(result["summary"], f"{where}.summary")
            item["logits"] = _returned(result["logits"], f"{where}.logits")
        checked.append(item)
    return {"cases": checked}


def loop_probe(data, plan) -> dict:
    data = _dict(data, "result", {"runs"})
    runs = []
    for index, run in enumerate(_list(data["runs"], "runs", 2)):
        where = f"runs[{index}]"
        run = _dict(run, where, {"error", "epochs", "device", "spy"}, {"losses", "pretend", "final_state"})
        item = {"error": error(run["error"], f"{where}.error"), "device": _device(run["device"], where),
                "epochs": _int(run["epochs"], where, 0, 10**6), "spy": spy_report(run["spy"], f"{where}.spy"),
                "pretend": _bool(run.get("pretend", False), f"{where}.pretend")}
        if item["error"] is None:
            if "losses" not in run:
                _fail(where, "no losses and no error")
            item["losses"] = losses(run["losses"], f"{where}.losses", plan.recipe.loop_epochs)
        if "final_state" in run:
            item["final_state"] = state(run["final_state"], f"{where}.final_state", plan.grader_shapes)
        runs.append(item)
    if not runs:
        _fail("runs", "no run")
    return {"runs": runs}


def training_probe(data, plan) -> dict:
    data = _dict(data, "result", {"error", "epochs", "final_state", "steps", "checkpoints"}, {"losses"})
    shapes = plan.grader_shapes
    result = {"error": error(data["error"], "error"), "epochs": _int(data["epochs"], "epochs"),
              "final_state": state(data["final_state"], "final_state", shapes),
              "steps": _int(data["steps"], "steps")}
    checkpoints, recipe = data["checkpoints"], plan.recipe
    wanted = {str(e) for e in recipe.loss_epochs()}
    if type(checkpoints) is not dict or not set(checkpoints) <= wanted:
        _fail("checkpoints", "checkpoints at epochs that were not asked for")
    result["checkpoints"] = {k: [state(s, f"checkpoints[{k}][{i}]", shapes)
                                 for i, s in enumerate(_list(v, f"checkpoints[{k}]", recipe.samples + 1))]
                             for k, v in checkpoints.items()}
    if result["error"] is None:
        if "losses" not in data:
            _fail("result", "no losses and no error")
        result["losses"] = losses(data["losses"], "losses", plan.recipe.epochs)
    return result


def end_to_end_probe(data, plan) -> dict:
    data = _dict(data, "result", {"runs"})
    runs = []
    for index, run in enumerate(_list(data["runs"], "runs", plan.recipe.restarts)):
        where = f"runs[{index}]"
        run = _dict(run, where, {"error", "seed"}, {"losses", "final_state"})
        item = {"error": error(run["error"], f"{where}.error"), "seed": _int(run["seed"], where, 0, 2**63)}
        if item["error"] is None:
            if "final_state" not in run or "losses" not in run:
                _fail(where, "no weights and no error")
            item["final_state"] = state(run["final_state"], f"{where}.final_state", plan.student_shapes)
            item["losses"] = losses(run["losses"], f"{where}.losses", plan.recipe.epochs)
        runs.append(item)
    return {"runs": runs}


def load_report(data) -> dict:
    """The worker's report on loading the definitions: the statements that failed, and the device it resolved."""
    data = _dict(data, "load", {"failures", "device"})
    failures = []
    for index, failure in enumerate(_list(data["failures"], "failures", 200)):
        failure = _dict(failure, f"failures[{index}]", {"cell", "line", "type", "message"}, {"names", "kind"})
        failures.append({"cell": _int(failure["cell"], "cell"), "line": _int(failure["line"], "line"),
                         "type": _text(failure["type"], "type", 80), "message": _text(failure["message"], "message", 300),
                         "names": [_text(n, "names", 80) for n in _list(failure.get("names", []), "names", 20)],
                         "kind": _text(failure.get("kind", "definition"), "kind", 20)})
    return {"failures": failures, "device": _device(data["device"], "device")}


def validate(probe: str, data, plan):
    """The probe's data in the form its judges read, or BorderError. Each probe names its validator, a function of
    this module, in its declaration (autograder.checks.PROBES)."""
    from autograder.checks import PROBES

    if probe not in PROBES:
        raise BorderError(f"{probe}: no such probe")
    return globals()[PROBES[probe].validator](data, plan)
