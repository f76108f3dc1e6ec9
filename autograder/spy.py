"""Watches a training loop from inside the worker: where modules and tensors are sent, what each forward call sees,
how often the optimizer steps, and whether gradients are cleared between steps.

On a machine without a GPU every tensor is on the CPU, so "the data reached the device" cannot be read off the
tensors; the spy follows placement instead: a tensor is *placed* once it was sent to the target device (`.to`,
`.cuda`, `.cpu`, or a factory with `device=`), and everything computed from placed tensors is placed too.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

_PLACED = "_autograder_placed"
_MOVES = {torch.Tensor.to: "to", torch.Tensor.cuda: "cuda", torch.Tensor.cpu: "cpu"}
_FACTORIES = {torch.tensor, torch.as_tensor, torch.zeros, torch.ones, torch.empty, torch.full, torch.arange}


def _same(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def steps_model(optimizer, model: torch.nn.Module) -> bool:
    """Does this optimizer step (some of) the model's parameters? Optimizer step hooks are global: in one process,
    another optimizer's steps (the grader's own run, beside an in-process runner) must not count as the loop's."""
    ids = {id(p) for p in model.parameters()}
    return any(id(p) in ids for group in optimizer.param_groups for p in group["params"])


def parse_to(args, kwargs) -> tuple:
    """Tensor.to's arguments after the tensor, as (device, dtype, non_blocking, copy, memory_format). torch's own
    parser does not take `copy`, by keyword or by position (`x.to(device, dtype, non_blocking, copy)`)."""
    kwargs = dict(kwargs)
    copy = bool(kwargs.pop("copy", False))
    try:
        device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*args, **kwargs)
    except RuntimeError:
        if not (args and isinstance(args[-1], bool)):
            raise
        copy = args[-1]
        device, dtype, non_blocking, memory_format = torch._C._nn._parse_to(*args[:-1], **kwargs)
    return device, dtype, non_blocking, copy, memory_format


def _move_target(func, args, kwargs) -> torch.device | None:
    """The device a Tensor.to/.cuda/.cpu call sends its tensor to, or None if it does not name one."""
    name = _MOVES[func]
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        index = args[1] if len(args) > 1 else kwargs.get("device")
        return torch.device("cuda", index) if isinstance(index, int) else torch.device(index or "cuda")
    return parse_to(args[1:], kwargs)[0]


class TrainingSpy(TorchFunctionMode):
    """Use as `with TrainingSpy(model, target): train(model, ...)`; then read `report()`."""

    def __init__(self, model: torch.nn.Module, target: torch.device):
        super().__init__()
        self.model, self.target = model, torch.device(target)
        self.model_moves: list[str] = []  # devices the model was sent to, in order
        self.tensor_moves: list[str] = []  # devices tensors were sent to (parameters' own moves excluded)
        self.forwards: list[dict] = []  # per forward call: input placed?, input device, parameter devices
        self.steps = 0
        self.backwards = 0
        self.stale_backwards = 0  # backward passes that found the previous step's gradient still in .grad
        self._in_module_move = 0
        self._handles: list = []
        self._patched: dict = {}

    # --- tensors
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if self._in_module_move:
            return result
        if func in _MOVES:
            device = _move_target(func, args, kwargs)
            if device is not None:
                self.tensor_moves.append(str(device))
                if _same(device, self.target):
                    self._mark(result)
                    return result
        elif func in _FACTORIES and kwargs.get("device") is not None:
            self.tensor_moves.append(str(torch.device(kwargs["device"])))
            if _same(torch.device(kwargs["device"]), self.target):
                self._mark(result)
                return result
        inputs, _ = tree_flatten((args, kwargs))
        if any(getattr(t, _PLACED, False) for t in inputs if isinstance(t, torch.Tensor)):
            self._mark(result)
        return result

    @staticmethod
    def _mark(result) -> None:
        for t in tree_flatten(result)[0]:
            if isinstance(t, torch.Tensor):
                try:
                    setattr(t, _PLACED, True)
                except (AttributeError, RuntimeError):  # some tensor kinds take no attributes
                    pass

    # --- modules, forward calls, gradients, steps
    def _module_move(self, original, name):
        spy = self

        def move(module, *args, **kwargs):
            if module is spy.model:
                if name == "cpu":
                    device = torch.device("cpu")
                elif name == "cuda":
                    index = args[0] if args else kwargs.get("device")
                    device = torch.device("cuda", index) if isinstance(index, int) else torch.device(index or "cuda")
                else:
                    device = torch._C._nn._parse_to(*args, **kwargs)[0]
                if device is not None:
                    spy.model_moves.append(str(device))
            spy._in_module_move += 1
            try:
                return original(module, *args, **kwargs)
            finally:
                spy._in_module_move -= 1

        return move

    def _watched_forward(self, forward):
        """The model's forward, seen by the spy however it is called (model(x) or model.forward(x))."""

        def watched(*args, **kwargs):
            self._before_forward(self.model, args or tuple(kwargs.values()))
            return forward(*args, **kwargs)

        return watched

    def _before_forward(self, module, args):
        tokens = args[0] if args else None
        self.forwards.append({
            "input_placed": bool(getattr(tokens, _PLACED, False)) if isinstance(tokens, torch.Tensor) else False,
            "input_device": str(tokens.device) if isinstance(tokens, torch.Tensor) else type(tokens).__name__,
            "parameter_devices": sorted({str(p.device) for p in module.parameters()}),
            "model_moved": any(_same(torch.device(d), self.target) for d in self.model_moves),
        })

    def _gradient_arrives(self, parameter):
        def hook(grad):
            if parameter is self._first:
                self.backwards += 1
                if parameter.grad is not None and parameter.grad.abs().sum() > 0:
                    self.stale_backwards += 1
            return grad

        return hook

    def _after_step(self, optimizer, args, kwargs):
        if steps_model(optimizer, self.model):
            self.steps += 1

    def __enter__(self):
        for name in ("to", "cuda", "cpu"):
            original = getattr(torch.nn.Module, name)
            self._patched[name] = original
            setattr(torch.nn.Module, name, self._module_move(original, name))
        self.model.forward = self._watched_forward(self.model.forward)  # an instance attribute, removed on exit
        # The linear layer's weight: every backward through the model reaches it (padding rows of the embedding
        # and the RNN can have exactly zero gradients).
        self._first = self.model.linear.weight
        self._handles.append(self._first.register_hook(self._gradient_arrives(self._first)))
        from torch.optim.optimizer import register_optimizer_step_post_hook

        self._handles.append(register_optimizer_step_post_hook(self._after_step))
        return super().__enter__()

    def __exit__(self, *exc):
        self.model.__dict__.pop("forward", None)
        for name, original in self._patched.items():
            setattr(torch.nn.Module, name, original)
        for handle in self._handles:
            handle.remove()
        return super().__exit__(*exc)

    def report(self) -> dict:
        return {
            "target": str(self.target),
            "model_moves": self.model_moves,
            "tensor_moves": sorted(set(self.tensor_moves)),
            "forwards": self.forwards[:50],
            "forward_count": len(self.forwards),
            "steps": self.steps,
            "backwards": self.backwards,
            "stale_backwards": self.stale_backwards,
            "final_parameter_devices": sorted({str(p.device) for p in self.model.parameters()}),
        }


class CudaOnCpu(TorchFunctionMode):
    """On a grader without a GPU, what a training loop sends to a GPU (`.cuda()`, `.to("cuda")`, a factory's
    `device="cuda"`) stays on the CPU, so that a loop which hard-codes the GPU is trained and graded like on a
    grader that has one: it loses device_placement only. Enter it outside a TrainingSpy, which then still records
    where the code sent things."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch.Tensor.cuda:
            return args[0].cpu()
        if func is torch.Tensor.to and args:
            device, dtype, non_blocking, copy, memory_format = parse_to(args[1:], kwargs)
            if device is not None and device.type == "cuda":
                return args[0].to("cpu", dtype=dtype or args[0].dtype, non_blocking=non_blocking, copy=copy,
                                  memory_format=memory_format or torch.preserve_format)
        elif kwargs.get("device") is not None and torch.device(kwargs["device"]).type == "cuda":
            kwargs["device"] = "cpu"
        return func(*args, **kwargs)
