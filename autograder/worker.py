"""The worker: a separate process that loads a submission's definitions and runs probes on them.

    python -m autograder.worker JOB_DIR  < job.json

The job (on standard input, so that the worker can start importing torch while the grader is still reading the
notebook) names the probes, the recipe, the data, the device and the definitions. Each probe's result is written as
soon as it is known, atomically, in JOB_DIR/out: <probe>.pt (plain data for torch.load(weights_only=True)) or
<probe>.error.json. A worker killed halfway leaves every finished probe's result behind.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def main(job_dir: str) -> int:
    import torch

    torch.set_num_threads(1)  # seeded CPU runs are then bit-identical
    # The first optimizer built in a process imports torch's compiler stack (about a second): do it now, while the
    # grader is still reading the notebook, rather than inside the student's train().
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    job = json.loads(sys.stdin.read())
    out = Path(job_dir) / "out"
    out.mkdir(exist_ok=True)
    from autograder.notebook import Definitions, execute_definitions
    from autograder.probes import run_probes
    from autograder.recipe import DataPaths, Recipe

    device = job["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    namespace, failures = execute_definitions(Definitions.from_json(job["definitions"]))
    _write_atomic(out / "load.json", lambda p: p.write_text(json.dumps({"failures": failures, "device": device})))

    def emit(name, result, error):
        if error is not None:
            _write_atomic(out / f"{name}.error.json", lambda p: p.write_text(json.dumps(error)))
        else:
            _write_atomic(out / f"{name}.pt", lambda p: torch.save(result, p))

    run_probes(namespace, job["probes"], Recipe.from_json(job["recipe"]), DataPaths(**job["data"]), device, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
