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


def _flag(result, name: str, value: bool):
    """Sets attribute `name` on every tensor in `result` (nested in tuples, lists, dicts); returns `result`."""
    for t in tree_flatten(result)[0]:
        if isinstance(t, torch.Tensor):
            try:
                setattr(t, name, value)
            except (AttributeError, RuntimeError):  # some tensor kinds take no attributes
                pass
    return result


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
        _flag(result, _PLACED, True)

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
        elif func is not torch._C._nn._parse_to and kwargs.get("device") is not None and \
                torch.device(kwargs["device"]).type == "cuda":  # a factory (the parser of .to's arguments moves nothing)
            kwargs["device"] = "cpu"
        return func(*args, **kwargs)


_ON_ACCELERATOR = "_autograder_on_accelerator"
# Where torch on a GPU raises when its tensors are on different devices, for what a training loop of the lesson
# calls: the model's first and last layers (the embedding's input and weight, the linear layer's), and the losses.
_CHECKED = {torch.embedding, torch.nn.functional.embedding, torch.nn.functional.linear,
            torch.nn.functional.binary_cross_entropy_with_logits, torch.binary_cross_entropy_with_logits,
            torch.nn.functional.binary_cross_entropy, torch.nn.functional.mse_loss,
            torch.nn.functional.cross_entropy, torch.nn.functional.nll_loss}
_MISMATCH = ("Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu! "
             "(when checking argument for argument {name} in method {func})")


def _getter(func) -> str | None:
    """The name of the Tensor property whose read `func` is (`t.device` reaches a mode as its __get__), or None."""
    descriptor = getattr(func, "__self__", None)
    if getattr(func, "__name__", "") == "__get__" and descriptor is torch.Tensor.__dict__.get(
            getattr(descriptor, "__name__", ""), torch._C.TensorBase.__dict__.get(getattr(descriptor, "__name__", ""))):
        return descriptor.__name__
    return None


def on_accelerator(tensor) -> bool:
    return isinstance(tensor, torch.Tensor) and getattr(tensor, _ON_ACCELERATOR, False)


def _tag(result, value: bool = True):
    """`result` (its tensors) on the pretend accelerator, or off it."""
    return _flag(result, _ON_ACCELERATOR, value)


class PretendAccelerator(TorchFunctionMode):
    """A GPU for a grader without one, for the spied loop run with device="cuda": the data stay in the CPU's
    memory, but placement behaves as on a GPU, so that the verdict is the one a GPU grader gives.

    - `.to("cuda")`, `.cuda()` and a factory's `device="cuda"` give a *new* tensor on the pretend device (on the
      CPU, `t.to("cpu")` is `t` itself: a call whose result is dropped moved nothing there, and none here either);
      `.to("cpu")`, `.cpu()` of such a tensor give a new CPU tensor; a module moved there has its parameters and
      buffers moved.
    - What is computed from a tensor on the pretend device is on it; `.device`, `.is_cuda` and `.get_device()` say
      so, and gradients of parameters there are there too.
    - Where torch on a GPU raises because tensors are on different devices (the embedding, the linear layer, the
      losses: _CHECKED), this raises the same RuntimeError. `.numpy()` of such a tensor raises as on a GPU.

    Enter it outside a TrainingSpy (as CudaOnCpu), which then records what the loop did.
    """

    def __init__(self, device: str = "cuda:0"):
        super().__init__()
        self.device = torch.device(device)
        self._patched: dict = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        getter = _getter(func)  # a property read reaches a mode as a new method-wrapper each time: by its descriptor
        if getter == "device":
            return self.device if on_accelerator(args[0]) else torch.device("cpu")
        if getter == "is_cuda":
            return on_accelerator(args[0])
        if getter == "grad":
            grad = func(*args, **kwargs)
            return _tag(grad) if grad is not None and on_accelerator(args[0]) else grad
        if func is torch.Tensor.get_device:
            return (self.device.index or 0) if on_accelerator(args[0]) else -1
        if func is torch.Tensor.numpy and on_accelerator(args[0]):
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                            "to host memory first.")
        if func in (torch.Tensor.cuda, torch.Tensor.cpu, torch.Tensor.to) and args:
            return self._move(func, args, kwargs)
        if func is torch._C._nn._parse_to:  # the parser of .to's arguments reaches modes too: it moves nothing
            return func(*args, **kwargs)
        if kwargs.get("device") is not None and torch.device(kwargs["device"]).type == "cuda":
            kwargs["device"] = "cpu"  # a factory: made on the CPU, on the pretend device
            return _tag(func(*args, **kwargs))
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        there = [t for t in inputs if on_accelerator(t)]
        if there and func in _CHECKED:
            here = [t for t in inputs if not on_accelerator(t) and t.dim() > 0]  # a CPU scalar may join a GPU op
            if here:
                raise RuntimeError(_MISMATCH.format(name="input" if len(here) else "", func=getattr(
                    func, "__name__", str(func))))
        result = func(*args, **kwargs)
        return _tag(result) if there else result

    def _move(self, func, args, kwargs):
        tensor = args[0]
        if func is torch.Tensor.cuda:
            target = torch.device("cuda")
            dtype, copy = None, False
        elif func is torch.Tensor.cpu:
            target, dtype, copy = torch.device("cpu"), None, False
        else:
            target, dtype, _, copy, _ = parse_to(args[1:], kwargs)
        if target is None:  # a dtype change only: it stays where it is
            return _tag(func(*args, **kwargs), on_accelerator(tensor))
        there = target.type == "cuda"
        if there == on_accelerator(tensor) and not copy and (dtype is None or dtype == tensor.dtype):
            return tensor  # already there: the tensor itself, as torch returns it
        moved = torch.Tensor.to(tensor, "cpu", dtype=dtype or tensor.dtype, copy=True)  # a new object, like a move
        return _tag(moved, there)

    def _module_move(self, original, name):
        mode = self

        def move(module, *args, **kwargs):
            if name == "cuda":
                target = torch.device("cuda")
                result = original(module)  # the data stay on the CPU
            elif name == "cpu":
                target = torch.device("cpu")
                result = original(module)
            else:
                target = torch._C._nn._parse_to(*args, **kwargs)[0]
                if target is not None and target.type == "cuda":
                    kwargs = {k: v for k, v in kwargs.items() if k != "device"}
                    args = tuple(a for a in args if not isinstance(a, (str, torch.device)))
                result = original(module, *args, **kwargs)
            if target is not None:
                for tensor in list(module.parameters()) + list(module.buffers()):
                    _tag(tensor, target.type == "cuda")
            return result

        return move

    def __enter__(self):
        for name in ("to", "cuda", "cpu"):
            original = getattr(torch.nn.Module, name)
            self._patched[name] = original
            setattr(torch.nn.Module, name, self._module_move(original, name))
        return super().__enter__()

    def __exit__(self, *exc):
        for name, original in self._patched.items():
            setattr(torch.nn.Module, name, original)
        return super().__exit__(*exc)
