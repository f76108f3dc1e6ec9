"""What a check is (data: name, points, visibility, hint, the names it needs, the probe it reads, its judge) and
what a judge fills in (a Verdict). The registry of checks is in autograder/checks.py."""

from __future__ import annotations

from dataclasses import dataclass, field

PUBLIC, HIDDEN = "visible", "hidden"  # Gradescope's words


@dataclass(frozen=True)
class Check:
    name: str
    points: float
    visibility: str  # PUBLIC: students run it with `autograder check`; HIDDEN: only at grading
    needs: tuple[str, ...]  # names the notebook must define
    probe: str  # the probe whose data the judge reads (probes.PROBES)
    judge: str  # the name of its function in autograder.judges (imported only when judging)
    hint: str  # one line shown with a failure
    title: str
    after: tuple[str, ...] = ()  # checks whose verdicts this judge reads: judged first, even when not asked for


@dataclass
class Verdict:
    """A check's outcome. Its message has three parts: what was expected, what was observed, what to change."""

    check: str
    max_score: float
    passed: bool = False
    expected: str = ""
    observed: str = ""
    fix: str = ""
    details: dict = field(default_factory=dict)  # numbers and arrays for the report's figures
    internal_error: bool = False  # the grader, not the submission, failed

    @property
    def score(self) -> float:
        return self.max_score if self.passed else 0.0

    @property
    def message(self) -> str:
        parts = [f"Expected: {self.expected}", f"Observed: {self.observed}"]
        if not self.passed and self.fix:
            parts.append(f"To fix: {self.fix}")
        return "\n".join(parts)


# The loop checks are decided by what a spy saw inside the student's process; they count only when the grader's own
# recomputation of the training run shows real training (docs/trust-boundary.md), so those checks are judged first.
CONFIRMED_BY = ("loss_decreases", "separability")
