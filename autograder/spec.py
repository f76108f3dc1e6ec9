"""What a check and a probe are: each is declared once, as data (a `Check` and a `ProbeSpec`), and every table the
engine reads (the registry, the workers' groups and time floors, the border's validators, the reports' figures,
calibration's statistics) is derived from those declarations in autograder/checks.py. Also what a judge fills in
(a `Verdict`). No other module of the kit is imported here."""

from __future__ import annotations

from dataclasses import dataclass, field

PUBLIC, HIDDEN = "visible", "hidden"  # Gradescope's words

# The loop checks are decided by what a spy saw inside the student's process; they count only when the grader's own
# recomputation of the training run shows real training (docs/trust-boundary.md), so those checks are judged first.
CONFIRMED_BY = ("loss_decreases", "separability")


@dataclass(frozen=True)
class ProbeSpec:
    """A probe: code run in the worker, inside the sandbox, on the grader's inputs; it returns plain data that the
    border validates before any judge reads it."""

    name: str
    function: str  # "module:function", called in the worker as function(namespace, job, recipe, device)
    validator: str  # the function of autograder.border that accepts exactly its data: validator(data, plan)
    worker: int  # the worker that runs it (0 or 1: two cores); probes of one worker share its start-up (~3 s) ...
    order: int  # ... and run in this order, each result kept as soon as it is known
    floor: float  # seconds: its worker's shortest time limit (what the fixture needs on a quiet machine)
    trains: str = ""  # the training it asks of train() on the grading data: "" (none to speak of), "epochs" (one
    # run of Recipe.epochs), "restarts" (up to Recipe.restarts such runs); its time limit grows with it
    cpu_only: bool = False  # trained on the CPU on every grader: seeded CPU runs are bit-identical

    def work_epochs(self, recipe) -> int:
        """Full-batch epochs of the grading data that the probe asks the student's train() for."""
        return {"": 0, "epochs": recipe.epochs, "restarts": recipe.restarts * recipe.epochs}[self.trains]


@dataclass(frozen=True)
class Figure:
    """A figure of the feedback page drawn from a verdict's details: a learning curve ("losses", "reported") or 2-D
    summaries before and after training ("after", with "before" and "labels")."""

    detail: str
    caption: str
    order: int  # the page shows the student's own model first, then the grader's model trained by their train()


@dataclass(frozen=True)
class Check:
    name: str
    points: float
    visibility: str  # PUBLIC: students run it with `autograder check`; HIDDEN: only at grading
    needs: tuple[str, ...]  # names the notebook must define
    probe: str  # the probe whose data the judge reads (a ProbeSpec's name)
    judge: str  # "module:function": judge(verdict, outcome, context), imported only when judging
    hint: str  # one line shown with a failure
    title: str
    position: int  # where it stands in every report and in the notebook (its test cell's place)
    after: tuple[str, ...] = ()  # checks whose verdicts this judge reads: judged first, even when not asked for
    thresholds: tuple[str, ...] = ()  # the fields of Thresholds its judge draws lines at (calibrated per dataset)
    statistic: str = "margin"  # what calibration tabulates from its verdicts: "margin" (signed distance from its
    # threshold) or "deviation" (the largest |summary - accepted form|: the exact checks)
    figures: tuple[Figure, ...] = ()  # what the feedback page draws from its verdict, in this order


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
