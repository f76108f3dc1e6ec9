"""The worker: a separate process that loads a submission's definitions and runs probes on them.

    python -m autograder.worker JOB_DIR

JOB_DIR/job.json names the probes, the recipe, the data and the device. Each probe's result is written as soon as it
is known, atomically: out/<probe>.pt (plain data for torch.load(weights_only=True)) or out/<probe>.error.json. A
worker killed halfway leaves every finished probe's result behind.
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
    job_dir = Path(job_dir)
    job = json.loads((job_dir / "job.json").read_text())
    out = job_dir / "out"
    out.mkdir(exist_ok=True)

    import torch

    torch.set_num_threads(1)  # seeded CPU runs are then bit-identical
    from autograder.grading_model import DataPaths, Recipe
    from autograder.notebook import Definitions, execute_definitions
    from autograder.probes import PROBES, StudentError, describe

    recipe = Recipe(**job["recipe"])
    data = DataPaths(**job["data"])
    definitions = Definitions.from_json(job["definitions"])
    namespace, failures = execute_definitions(definitions)
    _write_atomic(out / "load.json", lambda p: p.write_text(json.dumps({"failures": failures})))

    for name in job["probes"]:
        torch.manual_seed(recipe.seed)
        try:
            result = PROBES[name](namespace, recipe, data, job["device"])
        except StudentError as err:
            error = {"type": "StudentError", "message": str(err), "where": []}
            _write_atomic(out / f"{name}.error.json", lambda p: p.write_text(json.dumps(error)))
            continue
        except Exception as err:  # the student's code raised outside any probe's own handling
            error = describe(err)
            _write_atomic(out / f"{name}.error.json", lambda p: p.write_text(json.dumps(error)))
            continue
        _write_atomic(out / f"{name}.pt", lambda p: torch.save(result, p))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
