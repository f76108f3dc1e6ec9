"""The checks: each is data (name, points, visibility, hint, the names it needs, the probe it reads) plus a judge.
The CLI, the pytest graders and the nbgrader hidden cells all grade through this registry."""

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

REGISTRY: tuple[Check, ...] = (
    Check("shapes", 1, PUBLIC, ("ClassifierWithRNN",), "rnn_model", "shapes",
          "summarize() returns (batch, hidden_dim); forward() returns (batch, 1)",
          "ClassifierWithRNN: summarize and forward return the right shapes"),
    Check("summarize_is_last_state", 2, HIDDEN, ("ClassifierWithRNN",), "rnn_model", "summarize_is_last_state",
          "the summary is the RNN's hidden state after the last step",
          "ClassifierWithRNN.summarize is the RNN's last hidden state"),
    Check("mean_summary", 1, HIDDEN, ("ClassifierWithMean",), "mean_model", "mean_summary",
          "the summary is the RNN's states averaged over time",
          "ClassifierWithMean.summarize is the mean over time"),
    Check("train_returns_losses", 1, PUBLIC, ("train",), "loop", "train_returns_losses",
          "train() returns one float loss per epoch",
          "train returns one finite loss per epoch", after=CONFIRMED_BY),
    Check("device_placement", 1, PUBLIC, ("train",), "loop", "device_placement",
          "train() sends the model and the data to `device`",
          "train puts the model and the data on the requested device", after=CONFIRMED_BY),
    Check("optimizer_protocol", 1, HIDDEN, ("train",), "loop", "optimizer_protocol",
          "each step: zero_grad(), backward(), step()",
          "train steps the optimizer and clears gradients every step", after=CONFIRMED_BY),
    Check("loss_decreases", 2, HIDDEN, ("train",), "training", "loss_decreases",
          "training lowers the loss, recomputed by the grader from your weights",
          "train really lowers the loss"),
    Check("separability", 2, HIDDEN, ("train",), "training", "separability",
          "after training, the 2-D document embeddings separate real from fake",
          "after train, the embeddings are linearly separable"),
    Check("end_to_end", 1, HIDDEN, ("ClassifierWithRNN", "train"), "end_to_end", "end_to_end",
          "your model, trained by your loop, separates the classes",
          "your ClassifierWithRNN trained by your train separates the classes", after=("summarize_is_last_state",)),
)

BY_NAME = {check.name: check for check in REGISTRY}


def judge_function(check: Check):
    from autograder import judges

    return getattr(judges, check.judge)


TOTAL_POINTS = sum(check.points for check in REGISTRY)


def select(public_only: bool = False, names: list[str] | None = None) -> list[Check]:
    chosen = [c for c in REGISTRY if (not public_only or c.visibility == PUBLIC)]
    if names:
        unknown = sorted(set(names) - set(BY_NAME))
        if unknown:
            raise KeyError(f"unknown check(s) {unknown}; known: {sorted(BY_NAME)}")
        chosen = [c for c in chosen if c.name in names]
    return chosen


def with_prerequisites(checks: list[Check]) -> list[Check]:
    """`checks` and the checks their judges read (Check.after, transitively), each after those it reads, otherwise
    in registry order."""
    wanted: set[str] = set()
    todo = [c.name for c in checks]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(BY_NAME[name].after)
    ordered: list[Check] = []

    def place(check: Check) -> None:
        if check in ordered:
            return
        for name in check.after:
            place(BY_NAME[name])
        ordered.append(check)

    for check in REGISTRY:
        if check.name in wanted:
            place(check)
    return ordered
