"""Time limits from the work asked for and this machine's measured speed.

When a grading starts, the grader times its own model on the grading data (one thread, as the workers train), while
the workers start beside it: a few full-batch epochs (the lesson's loop), and a few steps on minibatches of
MINIBATCH rows, scaled to an epoch (a correct loop may take minibatches, and then pays a fixed cost per step: on
23,000 rows an epoch in batches of 32 takes about 16 times a full-batch epoch). Each probe's limit is the work it
asks for (epochs x restarts on these rows) at the slower of MARGIN times the full-batch pace and MINIBATCH_MARGIN
times the minibatch pace, plus a fixed allowance for starting and for the small probes, and never below the floors
(which the fixture needs on a quiet machine). A submission that runs at the pace of either loop cannot reach its
limit.

When a probe does run out of time, the pace is measured again. The timeout is the grader's problem (a busy machine,
flagged as such and not scored) when the machine itself got slower (SLOWED_DOWN times or more) *and* that slowdown
explains it: at the pace measured now, a correct loop would need more than the limit it was given. A limit with room
to spare at the slowed pace (the floors, on small data) stays the submission's, however busy the machine is, so that
a submission cannot earn "not scored" by burning the grader's cores until its own time runs out.

Every pace is timed over a window (MIN_TIMED seconds, at least TIMED_EPOCHS epochs), not over a few epochs of a few
milliseconds each, where one descheduling of the process reads as a machine several times slower.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from autograder.checks import FLOORS, PROBES, WORKER_GROUPS

MARGIN = 4.0  # a correct loop may be this much slower per epoch than the grader's (a progress bar, extra work)
MINIBATCH = 32  # rows per step of the smallest minibatches a correct loop is allowed the time for
MINIBATCH_MARGIN = 2.0  # ... at this much slower than the grader's own minibatch steps (a DataLoader, shuffling)
MINIBATCH_STEPS = 20  # steps timed to measure the minibatch pace
ALLOWANCE = 30.0  # seconds: the worker's start, the notebook's top-level statements, the small probes
SLOWED_DOWN = 2.0  # re-measured pace this many times slower, and the limit too short for it: the machine's fault
TIMED_EPOCHS = 3  # epochs timed at least ...
MIN_TIMED = 0.3  # ... and seconds at least (more epochs on small data): a window that one hiccup does not decide
MAX_TIMED_STEPS = 500  # steps timed at most, whatever their length


@dataclass
class Pace:
    """Seconds per full-batch epoch of the grader's model on the grading data, and each probe's limit."""

    epoch_seconds: float  # a full-batch epoch
    limits: dict[str, float]
    rows: int
    after_timeout: float | None = None  # the full-batch pace measured again after a probe ran out of time
    minibatch_seconds: float = 0.0  # an epoch in minibatches of MINIBATCH rows

    def expected(self, probe: str, recipe) -> float:
        """Seconds the probe's training takes at the grader's pace (0 for the probes that train nothing much)."""
        return work_epochs(probe, recipe) * self.epoch_seconds

    @property
    def slowdown(self) -> float:
        return (self.after_timeout / self.epoch_seconds) if self.after_timeout and self.epoch_seconds else 1.0

    def needed_now(self, probes, recipe) -> float:
        """Seconds a correct loop needs for a worker's probes at the pace measured after the timeout: the allowance,
        and their work at the margins the limit was derived with, slowed down as much as the grader's own model."""
        per_epoch = max(MARGIN * self.epoch_seconds, MINIBATCH_MARGIN * self.minibatch_seconds)
        return ALLOWANCE + sum(work_epochs(p, recipe) for p in probes) * per_epoch * self.slowdown

    def worker_needs(self, probe: str, recipe) -> tuple[float, float]:
        """For the worker that ran `probe`: the seconds a correct loop needs at the pace measured after the timeout,
        and the limit that worker had."""
        group = [p for p in next((g for g in WORKER_GROUPS if probe in g), (probe,)) if p in self.limits]
        return self.needed_now(group, recipe), group_limit(self, group)

    def machine_slowed(self, probe: str, recipe) -> bool:
        """Did the machine, not the submission, make the probe run out of time? It got SLOWED_DOWN times slower or
        more, and at its new pace a correct loop would need more than the limit of the worker that ran the probe."""
        if self.slowdown < SLOWED_DOWN:
            return False
        needed, limit = self.worker_needs(probe, recipe)
        return needed > limit


def work_epochs(probe: str, recipe) -> int:
    """Full-batch epochs of the grading data that a probe asks the student's train() for (its ProbeSpec.trains)."""
    return PROBES[probe].work_epochs(recipe) if probe in PROBES else 0


def _grader_setup(plan, recipe):
    import torch

    from autograder.training_model import model_class

    model = model_class()(plan.vocab_size, recipe.hidden_dim, recipe.embedding_dim, plan.pad)
    return model, torch.optim.Adam(model.parameters(), lr=recipe.lr)


def one_thread(measure):
    """Runs `measure()` with torch on one thread (as the workers train), then restores the thread count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return measure()
    finally:
        torch.set_num_threads(threads)


def _step_seconds(model, optimizer, tokens, y, steps: int, window: float = MIN_TIMED) -> float:
    """The median time of an Adam step on binary cross-entropy over (tokens, y), after one step of warm-up: at least
    `steps` steps, and more until `window` seconds were timed (MAX_TIMED_STEPS at most)."""
    import statistics

    from autograder.training_model import full_batch_step

    times: list[float] = []
    while len(times) < steps + 1 or (sum(times[1:]) < window and len(times) <= MAX_TIMED_STEPS):
        start = time.perf_counter()
        full_batch_step(model, optimizer, tokens, y).item()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def epoch_seconds(plan, recipe, epochs: int = TIMED_EPOCHS) -> float:
    """The median time of a full-batch epoch of the grader's model (Adam, binary cross-entropy) on the plan's data,
    on one thread, after one epoch of warm-up, over a window of MIN_TIMED seconds at least."""
    return one_thread(lambda: _step_seconds(*_grader_setup(plan, recipe), plan.tokens, plan.y, epochs))


def epoch_seconds_after_timeout(plan, recipe, windows: int = 2) -> float:
    """The full-batch pace measured again once every worker has stopped: the faster of `windows` windows, so that
    the machine counts as slow only while it stays slow (a killed worker's clean-up passes within a window)."""
    return min(epoch_seconds(plan, recipe) for _ in range(windows))


def minibatch_seconds(plan, recipe, steps: int = MINIBATCH_STEPS) -> float:
    """An epoch in minibatches of MINIBATCH rows at the grader's pace: the median step, times the steps an epoch
    takes (a few steps timed, not the epoch)."""
    import math

    rows = len(plan.y)
    batch = min(MINIBATCH, rows)
    step = one_thread(lambda: _step_seconds(*_grader_setup(plan, recipe), plan.tokens[:batch], plan.y[:batch], steps))
    return step * math.ceil(rows / batch)


def limits_for(recipe, seconds_per_epoch: float, minibatch_per_epoch: float = 0.0) -> dict[str, float]:
    per_epoch = max(MARGIN * seconds_per_epoch, MINIBATCH_MARGIN * minibatch_per_epoch)
    return {probe: max(floor, ALLOWANCE + work_epochs(probe, recipe) * per_epoch) for probe, floor in FLOORS.items()}


def measure(plan, recipe, overrides: dict[str, float] | None = None, probes=None) -> Pace:
    """The pace and the limits; when none of `probes` trains on the grading data (`autograder check` in the student
    package: the model checks and the 3-epoch loop check), the floors, unmeasured (pace 0)."""
    if probes is not None and not any(work_epochs(p, recipe) for p in probes):
        return Pace(0.0, {**FLOORS, **(overrides or {})}, len(plan.y))
    seconds, minibatch = epoch_seconds(plan, recipe), minibatch_seconds(plan, recipe)
    limits = {**limits_for(recipe, seconds, minibatch), **(overrides or {})}
    return Pace(seconds, limits, len(plan.y), minibatch_seconds=minibatch)


BEFORE_PACE = 600.0  # seconds a grading may take before its pace is measured: reading the notebook, tokenizing the
# data (23k headlines: about 1 s), starting the workers; after that, grading_limit() bounds the rest


def grading_limit(pace: Pace, groups=None) -> float:
    """The longest a whole grading can take with one worker at a time: each worker group's limit, once for every
    probe in it (a worker that dies or times out in one probe has the probes after it run again, in a new worker
    with their own limit), and the allowance again for the judges. The outer bound of a batch task
    (autograder/batch.py): a grading that runs past it is the grader's problem, since every worker is stopped at
    its own limit before."""
    groups = groups or WORKER_GROUPS
    return sum(group_limit(pace, g[i:]) for g in groups for i in range(len(g))) + ALLOWANCE


def group_limit(pace: Pace, probes) -> float:
    """A worker's limit: its largest probe's (the small probes run within the allowance of the training one)."""
    return max(pace.limits[p] for p in probes)
