"""Runs probes in worker processes with a time limit, and reads back what they wrote as plain data.

A worker that hangs is killed with its whole process group; the probes it finished keep their results and the
others are recorded as timed out. Nothing here raises because of the student's code.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autograder.recipe import DataPaths, Recipe
from autograder.notebook import Definitions

MAX_RESULT_BYTES = 64 * 2**20  # a probe's result file; anything larger is refused unread
MAX_JSON_BYTES = 2**20  # load.json and <probe>.error.json
OUTPUT_TAIL = 4000  # bytes of the worker's stdout/stderr kept for messages


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
    isolation: str = "none"  # the sandbox level the student's code ran at (sandbox.LEVELS, or "none")


def _open_regular(folder_fd: int, name: str, limit: int):
    """A file in the job folder, opened without following links, if it is a regular file within the size limit."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ValueError(f"{name} is not a regular file")
    if info.st_size > limit:
        os.close(fd)
        raise ValueError(f"{name} is larger than {limit} bytes")
    return os.fdopen(fd, "rb")


def _read_result(folder_fd: int, name: str):
    import torch

    with _open_regular(folder_fd, name, MAX_RESULT_BYTES) as f:
        return torch.load(f, weights_only=True, map_location="cpu")


def _read_json(folder_fd: int, name: str):
    with _open_regular(folder_fd, name, MAX_JSON_BYTES) as f:
        return json.loads(f.read().decode("utf-8"))


def _exists(folder_fd: int | None, name: str) -> bool:
    if folder_fd is None:
        return False
    try:
        os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


class _Tail(threading.Thread):
    """Drains the worker's output (stdout and stderr) and keeps only its end: megabytes of prints cost nothing."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.data, self.total = stream, bytearray(), 0

    def run(self):
        while chunk := self.stream.read1(65536):
            self.total += len(chunk)
            self.data += chunk
            del self.data[:-OUTPUT_TAIL]

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace")


def run_worker(definitions: Definitions | Callable[[], Definitions], probes: list[str], *, recipe: Recipe,
               data: DataPaths, device: str, timeout: float, sandbox=None) -> WorkerRun:
    """Runs `probes` in one fresh worker process, in the sandbox; returns an outcome for every probe asked for.

    `definitions` may be a function that waits for them: the worker starts (and imports torch) meanwhile.
    """
    import time

    from autograder import sandbox as sandboxes

    box = sandbox or sandboxes.best()
    run = WorkerRun(isolation=box.level)
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)  # the sandbox's uid must reach the kit and its job folder
        kit, job = sandboxes.stage_kit(base / "kit"), base / "job"
        (job / "out").mkdir(parents=True)
        uid = box.uid()
        if uid is not None:
            for path in (job, job / "out"):
                os.chown(path, uid, uid)
        if box.level == "bwrap":  # paths as the worker sees them
            inside_job = "/job"
            inside_data = DataPaths(csv="/data/FakeNewsNet.csv", tokenizer="/data/tokenizer.model")
            mounts = {inside_data.csv: str(Path(data.csv).resolve()),
                      inside_data.tokenizer: str(Path(data.tokenizer).resolve())}
        else:
            inside_job, inside_data, mounts = str(job), data, {}
        argv = box.command(job, kit, mounts, ["-m", "autograder.worker", inside_job], uid=uid)
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=job, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=box.environment(kit), start_new_session=True)
        tail = _Tail(process.stdout)
        tail.start()
        job_json = {"probes": probes, "recipe": recipe.to_json(), "data": vars(inside_data), "device": device,
                    "definitions": (definitions() if callable(definitions) else definitions).to_json()}
        try:
            process.stdin.write(json.dumps(job_json).encode())
            process.stdin.close()
        except (BrokenPipeError, OSError):  # the worker died before reading its job; reported below
            pass
        try:
            run.returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.timed_out = True
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the worker and anything it started (bwrap: its namespace)
            except ProcessLookupError:
                pass
            process.wait()
            box.clean_up(uid)
            tail.join(timeout=5)
        run.seconds = time.perf_counter() - start
        run.output_tail = tail.text()
        try:
            out_fd = os.open(job / "out", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            out_fd = None
        try:
            if _exists(out_fd, "load.json"):
                try:
                    loaded = _read_json(out_fd, "load.json")
                    run.load_failures, run.device = list(loaded["failures"]), str(loaded["device"])
                except Exception:  # noqa: BLE001 - a forged or broken file: ignored, the probes still report
                    pass
            for name in probes:
                run.outcomes[name] = _outcome(out_fd, name, run, timeout)
        finally:
            if out_fd is not None:
                os.close(out_fd)
    return run


def _outcome(out_fd: int | None, name: str, run: WorkerRun, timeout: float) -> ProbeOutcome:
    outcome = ProbeOutcome(name)
    if _exists(out_fd, f"{name}.pt"):
        try:
            outcome.data = _read_result(out_fd, f"{name}.pt")
        except Exception as err:  # noqa: BLE001 - a refused or unreadable result is the probe's failure
            outcome.error = {"type": "BadResult", "message": str(err)[:300], "where": []}
    elif _exists(out_fd, f"{name}.error.json"):
        try:
            error = _read_json(out_fd, f"{name}.error.json")
            outcome.error = {"type": str(error["type"])[:100], "message": str(error["message"])[:600],
                             "where": [str(w)[:300] for w in error.get("where", [])][:5]}
        except Exception as err:  # noqa: BLE001
            outcome.error = {"type": "BadResult", "message": f"unreadable error report ({err})"[:300], "where": []}
    elif run.timed_out:
        outcome.error = {"type": "Timeout", "where": [],
                         "message": f"did not finish within {timeout:.0f} s (an endless loop, or far more "
                                    "work than asked for?)"}
    else:
        outcome.error = {"type": "WorkerDied", "where": [],
                         "message": f"the process running your code ended (exit code {run.returncode}) "
                                    f"before this check finished. Its last output: "
                                    f"{run.output_tail[-600:].strip() or '(none)'}"}
    return outcome


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
