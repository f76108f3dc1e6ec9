"""Runs probes in worker processes with a time limit, and reads back what they sent (frames on a pipe) as plain data;
autograder.border validates it before any judge reads it.

A worker that hangs is killed with its whole process group; the probes it finished keep their results and the
others are recorded as timed out. Nothing here raises because of the student's code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from autograder.recipe import Recipe

MAX_FRAME_BYTES = 16 * 2**20  # one probe's result; anything larger is refused unread
MAX_RESULTS_BYTES = 48 * 2**20  # everything a worker may send back; the rest is drained and dropped
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
    isolation: str = "none"  # the sandbox level the student's code ran at (sandbox.LEVELS, or "none")
    load: dict | None = None  # the worker's load report, unvalidated (grade() validates it)


class _Drain(threading.Thread):
    """Reads a pipe to its end. keep="tail": only the last `limit` bytes (the worker's prints); keep="head": the
    first `limit` bytes (the results), the rest read and dropped, so that a writer never blocks on a full pipe."""

    def __init__(self, stream, limit: int, keep: str):
        super().__init__(daemon=True)
        self.stream, self.limit, self.keep = stream, limit, keep
        self.data, self.total = bytearray(), 0

    def run(self):
        while chunk := self.stream.read1(1 << 20):
            self.total += len(chunk)
            if self.keep == "tail":
                self.data += chunk
                del self.data[:-self.limit]
            elif len(self.data) < self.limit:
                self.data += chunk[: self.limit - len(self.data)]

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace")


MAX_JSON_DEPTH = 32  # the deepest a worker's JSON report nests (the load report: 3)


def load_json(data: bytes, where: str, most: int) -> object:
    """A JSON document from a worker, parsed only if it is at most `most` bytes and nests at most MAX_JSON_DEPTH
    deep: one linear scan first, since json.loads recurses and a deep enough document would end the grader with
    RecursionError. ValueError (the submission's problem) otherwise."""
    if len(data) > most:
        raise ValueError(f"{where}: {len(data)} bytes of JSON, at most {most} are read")
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} deep")
        elif byte in (0x5D, 0x7D):
            depth -= 1
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise ValueError(f"{where}: not JSON ({type(err).__name__})") from None


def read_frames(data: bytes, names) -> tuple[dict[str, tuple[str, bytes]], list[str]]:
    """name -> (kind, payload) for every well-formed frame whose name was asked for; and what was wrong."""
    frames: dict[str, tuple[str, bytes]] = {}
    problems: list[str] = []
    seen: set[str] = set()
    position = 0
    while position < len(data):
        end = data.find(b"\n", position, position + 1024)
        if end < 0:
            problems.append("a results frame without a readable header")
            break
        try:
            header = load_json(bytes(data[position:end]), "frame header", 1024)
            name, kind, size = header["name"], header["kind"], header["size"]
            if name not in names:
                raise ValueError(f"a frame for {str(name)[:40]!r}, which this worker was not asked for")
            if kind not in ("load", "error", "result") or type(size) is not int or not 0 <= size <= MAX_FRAME_BYTES:
                raise ValueError(f"frame {str(name)[:40]!r} ({str(kind)[:20]}, {str(size)[:20]} bytes)")
        except (ValueError, KeyError, TypeError) as err:
            problems.append(f"a malformed results frame: {str(err)[:120]}")
            break
        payload = bytes(data[end + 1: end + 1 + size])
        if len(payload) < size:
            problems.append(f"the results frame of {name} was cut short")
            break
        if name in seen:  # the worker sends each once: something else wrote to the results channel
            frames[name] = ("duplicate", b"")
        else:
            frames[name] = (kind, payload)
        seen.add(name)
        position = end + 1 + size
    return frames, problems


def run_worker(job, probes: list[str], *, recipe: Recipe, device: str, timeout, sandbox=None) -> WorkerRun:
    """Runs `probes` in one fresh worker process, in the sandbox; returns an outcome for every probe asked for.

    `job()` returns (Definitions, GradingPlan) and may wait for them: the worker starts (and imports torch)
    meanwhile. `timeout` is seconds from the worker's start, or a function giving them once the job is known.
    """
    import io
    import time

    import torch

    from autograder import sandbox as sandboxes
    from autograder.checks import probe_calls

    box = sandbox or sandboxes.best()
    run = WorkerRun(isolation=box.level)
    with contextlib.ExitStack() as stack:
        uid = stack.enter_context(box.lease_uid())
        if box.level == "bwrap":  # the kit's files bound read-only, /job a size-capped tmpfs: nothing on the host
            base, kit, job_dir = Path("/"), None, None  # bwrap's --chdir /job
        else:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="autograder-")))
            base.chmod(0o755)  # the sandbox's uid must reach the kit and its job folder
            kit, job_dir = sandboxes.stage_kit(base / "kit"), base / "job"
            (job_dir / "tmp").mkdir(parents=True)
            if uid is not None:
                for path in (job_dir, job_dir / "tmp"):
                    os.chown(path, uid, uid)
        read_end, write_end = os.pipe()
        argv = box.command(job_dir, kit, ["-m", "autograder.worker", str(write_end)], uid=uid)
        start = time.perf_counter()
        try:
            process = subprocess.Popen(argv, cwd=job_dir if box.level != "bwrap" else base, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(write_end,),
                                       env=box.environment(kit, job_dir), start_new_session=True)
        finally:
            os.close(write_end)
        tail = _Drain(process.stdout, OUTPUT_TAIL, "tail")
        results = _Drain(os.fdopen(read_end, "rb"), MAX_RESULTS_BYTES, "head")
        tail.start()
        results.start()
        try:
            definitions, plan = job() if callable(job) else job
            timeout = timeout() if callable(timeout) else timeout
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        buffer = io.BytesIO()
        torch.save(plan.to_worker(probes), buffer)
        header = {"probes": probe_calls(probes), "recipe": recipe.to_json(), "device": device,
                  "definitions": definitions.to_json(), "tensor_bytes": buffer.tell()}
        try:
            process.stdin.write(json.dumps(header).encode() + b"\n" + buffer.getvalue())
            process.stdin.close()
        except (BrokenPipeError, OSError):  # the worker died before reading its job; reported below
            pass
        try:
            run.returncode = process.wait(timeout=max(1.0, timeout - (time.perf_counter() - start)))
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
            results.join(timeout=5)
            if box.level != "bwrap":  # `rm -rf`: no recursion limit, whatever the student nested there
                subprocess.run(["rm", "-rf", "--one-file-system", str(job_dir)], check=False)
        run.seconds = time.perf_counter() - start
        run.output_tail = tail.text()
    frames, problems = read_frames(bytes(results.data), set(probes) | {"load"})
    if results.total > MAX_RESULTS_BYTES:
        problems.append(f"the worker sent {results.total} bytes of results; at most {MAX_RESULTS_BYTES} are read")
    if "load" in frames and frames["load"][0] == "load":
        try:
            run.load = load_json(frames["load"][1], "the load report", MAX_FRAME_BYTES)
        except ValueError as err:
            problems.append(f"the load report is not valid: {str(err)[:120]}")
    for name in probes:
        run.outcomes[name] = _outcome(frames.get(name), name, run, timeout, problems)
    return run


def _outcome(frame, name: str, run: WorkerRun, timeout: float, problems: list[str]) -> ProbeOutcome:
    import torch

    outcome = ProbeOutcome(name)
    if frame is not None and frame[0] == "result":
        try:
            outcome.data = torch.load(io.BytesIO(frame[1]), weights_only=True, map_location="cpu")
        except Exception as err:  # noqa: BLE001 - a refused or unreadable result is the probe's failure
            outcome.error = {"type": "BadResult", "message": f"unreadable result ({type(err).__name__})", "where": []}
    elif frame is not None and frame[0] == "error":
        try:
            outcome.error = load_json(frame[1], "its error report", MAX_FRAME_BYTES)
        except ValueError as err:
            outcome.error = {"type": "BadResult", "message": f"unreadable error report ({str(err)[:120]})",
                             "where": []}
    elif frame is not None and frame[0] == "duplicate":
        outcome.error = {"type": "BadResult", "where": [],
                         "message": "its result was sent twice: something other than the grader's worker wrote to "
                                    "the results channel"}
    elif problems:
        outcome.error = {"type": "BadResult", "message": "; ".join(problems)[:300], "where": []}
    elif run.timed_out:
        outcome.error = {"type": "Timeout", "where": [], "message": f"did not finish within {timeout:.0f} s"}
    else:
        outcome.error = {"type": "WorkerDied", "where": [], "message": _death(run)}
    return outcome


def _death(run: WorkerRun) -> str:
    """How the worker ended, in words: an exit code, or the signal that killed it (SIGKILL: most often memory)."""
    code = run.returncode
    if code is not None and code < 0:
        try:
            how = f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
        how += " (most often: it used more memory than allowed)" if -code == signal.SIGKILL else ""
    else:
        how = f"exited with code {code}"
    tail = run.output_tail[-600:].strip()
    return (f"the process running it {how} before this check finished"
            + (f"; its last output: {tail}" if tail else ", printing nothing"))


def run_in_process(job, probes: list[str], *, recipe: Recipe, device: str, timeout: float) -> WorkerRun:
    """run_worker's twin for trusted code (the kit's own corpus, in calibration): no process, no time limit."""
    from autograder.notebook import execute_definitions

    import sys

    from autograder.resources import lesson_module

    definitions, plan = job() if callable(job) else job
    sys.modules.setdefault("fakenews_lesson", lesson_module())  # as the worker stages it: the kit's copy
    namespace, failures = execute_definitions(definitions, _provided(plan))
    return _run_here(namespace, failures, probes, plan, recipe, device)


run_in_process.enforces_limits = False  # grade() measures no pace for it


def namespace_runner(namespace: dict):
    """A runner for definitions that already live in this process: a notebook's kernel, where a student runs a test
    cell. The probes call the objects in `namespace`; nothing is re-read from the notebook file."""

    def run(job, probes: list[str], *, recipe: Recipe, device: str, timeout: float) -> WorkerRun:
        _, plan = job() if callable(job) else job
        return _run_here(namespace, [], probes, plan, recipe, device)

    run.enforces_limits = False
    return run


def _provided(plan) -> dict:
    from autograder.notebook import GRADER_PROVIDED

    values = {"tokens": plan.tokens.clone(), "labels": plan.y.clone(), "PAD": plan.pad, "VOCAB_SIZE": plan.vocab_size}
    return {"__name__": "__main__", **{k: values[k] for k in GRADER_PROVIDED}}


def _run_here(namespace: dict, failures: list[dict], probes: list[str], plan, recipe: Recipe,
              device: str) -> WorkerRun:
    import torch

    from autograder.checks import probe_calls
    from autograder.probe_kit import run_probes

    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    run = WorkerRun(load={"failures": failures, "device": device})

    def emit(name, result, error):
        run.outcomes[name] = ProbeOutcome(name, data=result, error=error)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the worker: the same float rounding, so the same verdicts
    try:
        run_probes(namespace, probe_calls(probes), plan.to_worker(probes), recipe, device, emit)
    finally:
        torch.set_num_threads(threads)
    return run
