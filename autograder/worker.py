"""The worker: a separate process that runs a submission's top-level code and the probes on it.

    python -m autograder.worker RESULTS_FD  < job

The job arrives on standard input, so that the worker can import torch while the grader is still reading the
notebook: one JSON line (probes: autograder.checks.probe_calls, recipe, device, definitions, the size of what follows), then the grader's tensors
(autograder.plan.GradingPlan.to_worker, torch.save). Results leave through the pipe RESULTS_FD, one frame each as
soon as it is known: a JSON header line {"name", "kind", "size"} and `size` bytes (kind "load" and "error": JSON;
"result": torch.save of plain data). Nothing is written to disk. A worker killed halfway leaves every finished
probe's frame behind. The grader trusts none of it: autograder.border validates every frame.
"""

from __future__ import annotations

import io
import json
import os
import sys


class Results:
    """The frames on the results pipe."""

    def __init__(self, fd: int):
        self.fd = fd

    def send(self, name: str, kind: str, payload: bytes) -> None:
        data = json.dumps({"name": name, "kind": kind, "size": len(payload)}).encode() + b"\n" + payload
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def main(results_fd: str) -> int:
    import torch

    torch.set_num_threads(1)  # seeded CPU runs are then bit-identical
    # The first optimizer built in a process imports torch's compiler stack (about a second): do it now, while the
    # grader is still reading the notebook, rather than inside the student's train().
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    results = Results(int(results_fd))
    header = json.loads(sys.stdin.buffer.readline())
    tensors = torch.load(io.BytesIO(sys.stdin.buffer.read(header["tensor_bytes"])), weights_only=True)
    from autograder.notebook import GRADER_PROVIDED, STATEMENT_SECONDS, STATEMENTS_SECONDS, Definitions, \
        execute_definitions
    from autograder.probe_kit import run_probes
    from autograder.recipe import Recipe

    device = header["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    namespace = {"__name__": "__main__"}
    if "tokens" in tensors:  # what the lesson's data cell would define, from the grader's own data
        provided = {"tokens": tensors["tokens"].clone(), "labels": tensors["y"].clone(), "PAD": tensors["pad"],
                    "VOCAB_SIZE": tensors["vocab_size"]}
        namespace.update({k: provided[k] for k in GRADER_PROVIDED})
    namespace, failures = execute_definitions(Definitions.from_json(header["definitions"]), namespace,
                                              budget=(STATEMENT_SECONDS, STATEMENTS_SECONDS))
    results.send("load", "load", json.dumps({"failures": failures, "device": device}).encode())

    def emit(name, result, error):
        if error is not None:
            results.send(name, "error", json.dumps(error).encode())
        else:
            buffer = io.BytesIO()
            torch.save(result, buffer)
            results.send(name, "result", buffer.getvalue())

    run_probes(namespace, header["probes"], tensors, Recipe.from_json(header["recipe"]), device, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
