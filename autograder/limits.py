"""Time limits from the work asked for and this machine's measured speed.

When a grading starts, the grader times a few full-batch epochs of its own model on the grading data (one thread, as
the workers train), while the workers start beside it: the pace of a correct loop on this machine, now. Each probe's
limit is then the work it asks for (epochs x restarts of full-batch training on these rows) at MARGIN times that
pace, plus a fixed allowance for starting and for the small probes, and never below the floors (which the fixture
needs on a quiet machine). A submission that runs at the reference's pace cannot reach its limit.

When a probe does run out of time, the pace is measured again: if the machine itself got slower (SLOWED_DOWN times
or more), the timeout is the grader's problem (a busy machine), flagged as such and not scored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

FLOORS = {"rnn_model": 60.0, "mean_model": 60.0, "loop": 60.0, "training": 180.0, "end_to_end": 300.0}
MARGIN = 4.0  # a correct loop may be this much slower per epoch than the grader's (a progress bar, extra work)
ALLOWANCE = 30.0  # seconds: the worker's start, the notebook's top-level statements, the small probes
SLOWED_DOWN = 2.0  # re-measured pace this many times slower: the machine, not the submission
TIMED_EPOCHS = 3


@dataclass
class Pace:
    """Seconds per full-batch epoch of the grader's model on the grading data, and each probe's limit."""

    epoch_seconds: float
    limits: dict[str, float]
    rows: int
    after_timeout: float | None = None  # the pace measured again after a probe ran out of time

    def expected(self, probe: str, recipe) -> float:
        """Seconds the probe's training takes at the grader's pace (0 for the probes that train nothing much)."""
        return work_epochs(probe, recipe) * self.epoch_seconds

    @property
    def slowdown(self) -> float:
        return (self.after_timeout / self.epoch_seconds) if self.after_timeout and self.epoch_seconds else 1.0

    @property
    def machine_slowed(self) -> bool:
        return self.slowdown >= SLOWED_DOWN


def work_epochs(probe: str, recipe) -> int:
    """Full-batch epochs of the grading data that a probe asks the student's train() for."""
    return {"training": recipe.epochs, "end_to_end": recipe.restarts * recipe.epochs}.get(probe, 0)


def epoch_seconds(plan, recipe, epochs: int = TIMED_EPOCHS) -> float:
    """The median time of a full-batch epoch of the grader's model (Adam, binary cross-entropy) on the plan's data,
    on one thread, after one epoch of warm-up."""
    import statistics

    import torch
    import torch.nn.functional as F

    from autograder.grading_model import GraderRNN

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = GraderRNN(plan.vocab_size, recipe.hidden_dim, recipe.embedding_dim, plan.pad)
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
        times = []
        for _ in range(epochs + 1):
            start = time.perf_counter()
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(plan.tokens).squeeze(1), plan.y)
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:])
    finally:
        torch.set_num_threads(threads)


def limits_for(recipe, seconds_per_epoch: float) -> dict[str, float]:
    return {probe: max(floor, ALLOWANCE + MARGIN * work_epochs(probe, recipe) * seconds_per_epoch)
            for probe, floor in FLOORS.items()}


def measure(plan, recipe, overrides: dict[str, float] | None = None) -> Pace:
    seconds = epoch_seconds(plan, recipe)
    limits = {**limits_for(recipe, seconds), **(overrides or {})}
    return Pace(seconds, limits, len(plan.y))


def group_limit(pace: Pace, probes) -> float:
    """A worker's limit: its largest probe's (the small probes run within the allowance of the training one)."""
    return max(pace.limits[p] for p in probes)
