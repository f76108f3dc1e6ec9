"""Runs probes in worker processes with a time limit, and reads back what they wrote as plain data.

A worker that hangs is killed with its whole process group; the probes it finished keep their results and the
others are recorded as timed out. Nothing here raises because of the student's code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autograder.recipe import DataPaths, Recipe
from autograder.notebook import Definitions

MAX_RESULT_BYTES = 64 * 2**20  # a probe's result file; anything larger is refused unread
OUTPUT_TAIL = 4000  # characters of the worker's stdout/stderr kept for messages


@dataclass
class ProbeOutcome:
    """A probe's data, or why there is none: the student's error, a time-out, or a worker that died."""

    name: str
    data: dict | None = None
    error: dict | None = None  # {"type", "message", "where"}

    @property
    def ok(self) -> bool:
        return self.data is not None


@dataclass
class WorkerRun:
    outcomes: dict[str, ProbeOutcome] = field(default_factory=dict)
    load_failures: list[dict] = field(default_factory=list)
    timed_out: bool = False
    returncode: int | None = None
    output_tail: str = ""
    seconds: float = 0.0
    device: str | None = None  # the device the worker ran on ("auto" resolved)


def _read_result(path: Path):
    import torch

    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path.name} is not a regular file")
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_RESULT_BYTES} bytes")
    return torch.load(path, weights_only=True, map_location="cpu")


def _tail(path: Path) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - OUTPUT_TAIL))
        return f.read().decode("utf-8", "replace")


def run_worker(definitions: Definitions | Callable[[], Definitions], probes: list[str], *, recipe: Recipe,
               data: DataPaths, device: str, timeout: float) -> WorkerRun:
    """Runs `probes` in one fresh worker process; returns an outcome for every probe asked for.

    `definitions` may be a function that waits for them: the worker starts (and imports torch) meanwhile.
    """
    import time

    run = WorkerRun()
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        job_dir = Path(tmp)
        log = job_dir / "output.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   MPLBACKEND="agg", TQDM_DISABLE="0")
        start = time.perf_counter()
        with log.open("wb") as output:
            process = subprocess.Popen([sys.executable, "-m", "autograder.worker", str(job_dir)], cwd=job_dir,
                                       stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
            job = {"probes": probes, "recipe": recipe.to_json(), "data": vars(data), "device": device,
                   "definitions": (definitions() if callable(definitions) else definitions).to_json()}
            try:
                process.stdin.write(json.dumps(job).encode())
                process.stdin.close()
            except BrokenPipeError:  # the worker died before reading its job; reported below
                pass
            try:
                run.returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                run.timed_out = True
            finally:
                try:
                    os.killpg(process.pid, signal.SIGKILL)  # the worker and anything it started
                except ProcessLookupError:
                    pass
                process.wait()
        run.seconds = time.perf_counter() - start
        run.output_tail = _tail(log)
        out = job_dir / "out"
        if (out / "load.json").is_file():
            loaded = json.loads((out / "load.json").read_text())
            run.load_failures, run.device = loaded["failures"], loaded["device"]
        for name in probes:
            outcome = ProbeOutcome(name)
            result, error = out / f"{name}.pt", out / f"{name}.error.json"
            if result.exists():
                try:
                    outcome.data = _read_result(result)
                except Exception as err:  # a refused or unreadable result is the probe's failure
                    outcome.error = {"type": "BadResult", "message": str(err), "where": []}
            elif error.exists():
                outcome.error = json.loads(error.read_text())
            elif run.timed_out:
                outcome.error = {"type": "Timeout", "where": [],
                                 "message": f"did not finish within {timeout:.0f} s (an endless loop, or far more "
                                            "work than asked for?)"}
            else:
                outcome.error = {"type": "WorkerDied", "where": [],
                                 "message": f"the process running your code ended (exit code {run.returncode}) "
                                            f"before this check finished. Its last output: "
                                            f"{run.output_tail[-600:].strip() or '(none)'}"}
            run.outcomes[name] = outcome
    return run


def run_in_process(definitions: Definitions | Callable[[], Definitions], probes: list[str], *, recipe: Recipe,
                   data: DataPaths, device: str, timeout: float) -> WorkerRun:
    """run_worker's twin for trusted code (the kit's own corpus, in calibration): no process, no time limit."""
    from autograder.notebook import execute_definitions

    definitions = definitions() if callable(definitions) else definitions
    namespace, failures = execute_definitions(definitions)
    return _run_here(namespace, failures, probes, recipe, data, device)


def namespace_runner(namespace: dict):
    """A runner for definitions that already live in this process: a notebook's kernel, where a student runs a test
    cell. The probes call the objects in `namespace`; nothing is re-read from the notebook file."""

    def run(definitions, probes: list[str], *, recipe: Recipe, data: DataPaths, device: str,
            timeout: float) -> WorkerRun:
        return _run_here(namespace, [], probes, recipe, data, device)

    return run


def _run_here(namespace: dict, failures: list[dict], probes: list[str], recipe: Recipe, data: DataPaths,
              device: str) -> WorkerRun:
    import torch

    from autograder.probes import run_probes

    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    run = WorkerRun(load_failures=failures, device=device)

    def emit(name, result, error):
        run.outcomes[name] = ProbeOutcome(name, data=result, error=error)

    run_probes(namespace, probes, recipe, data, device, emit)
    return run
