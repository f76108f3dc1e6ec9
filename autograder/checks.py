"""The checks: each is data (name, points, visibility, hint, the names it needs, the probe it reads) plus a judge.
The CLI, the pytest graders and the nbgrader hidden cells all grade through this registry."""

from __future__ import annotations

from pathlib import Path

from autograder.check_types import CONFIRMED_BY, HIDDEN, PUBLIC, Check, Verdict

__all__ = ["CONFIRMED_BY", "HIDDEN", "PUBLIC", "Check", "Verdict", "PUBLIC_CHECKS", "ORDER", "HIDDEN_CHECKS",
           "HIDDEN_INSTALLED", "REGISTRY", "BY_NAME", "TOTAL_POINTS", "judge_function", "select", "with_prerequisites"]

# The public checks: what students run (`autograder check`, the release's Check cells). The hidden checks are in
# autograder/hidden/, which only the grader package holds (the student package ships without it).
PUBLIC_CHECKS: tuple[Check, ...] = (
    Check("shapes", 1, PUBLIC, ("ClassifierWithRNN",), "rnn_model", "shapes",
          "summarize() returns (batch, hidden_dim); forward() returns (batch, 1)",
          "ClassifierWithRNN: summarize and forward return the right shapes"),
    Check("train_returns_losses", 1, PUBLIC, ("train",), "loop", "train_returns_losses",
          "train() returns one float loss per epoch",
          "train returns one finite loss per epoch", after=CONFIRMED_BY),
    Check("device_placement", 1, PUBLIC, ("train",), "loop", "device_placement",
          "train() sends the model and the data to `device`",
          "train puts the model and the data on the requested device", after=CONFIRMED_BY),
)
# Every check's name, in the order of the notebook's test cells and of every report.
ORDER = ("shapes", "summarize_is_last_state", "mean_summary", "train_returns_losses", "device_placement",
         "optimizer_protocol", "loss_decreases", "separability", "end_to_end")

# Part of this very package (not found elsewhere on the path: an editable install's finder resolves submodules to
# its own tree even for a copy of the package that lacks them).
if (Path(__file__).resolve().parent / "hidden" / "__init__.py").is_file():
    from autograder.hidden import HIDDEN_CHECKS
else:  # the student package
    HIDDEN_CHECKS = ()
HIDDEN_INSTALLED = bool(HIDDEN_CHECKS)
REGISTRY: tuple[Check, ...] = tuple(sorted(PUBLIC_CHECKS + HIDDEN_CHECKS, key=lambda c: ORDER.index(c.name)))

BY_NAME = {check.name: check for check in REGISTRY}


def judge_function(check: Check):
    if check.visibility == PUBLIC:
        from autograder import judges
    else:
        from autograder.hidden import judges
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
        if name in BY_NAME and name not in wanted:  # the student package has no hidden check to read
            wanted.add(name)
            todo.extend(BY_NAME[name].after)
    ordered: list[Check] = []

    def place(check: Check) -> None:
        if check in ordered:
            return
        for name in check.after:
            if name in BY_NAME:
                place(BY_NAME[name])
        ordered.append(check)

    for check in REGISTRY:
        if check.name in wanted:
            place(check)
    return ordered
