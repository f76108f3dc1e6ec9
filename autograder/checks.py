"""The registry: the public checks and their probes are declared here, the hidden ones in autograder/hidden/ (grader
package only), and every table the engine reads is derived from those declarations: this is the one module that
knows both exist. The CLI, the pytest graders, the nbgrader cells and the batch all grade through it.

Adding a check: its `Check` (and its probe's `ProbeSpec`, if new) here or in hidden/__init__.py, the probe, the judge,
its test cell in the notebook and docs/checks.md; tests/test_specs.py says what is still missing."""

from __future__ import annotations

import importlib
from pathlib import Path

from autograder.spec import CONFIRMED_BY, HIDDEN, PUBLIC, Check, Figure, ProbeSpec, Verdict

__all__ = ["CONFIRMED_BY", "HIDDEN", "PUBLIC", "Check", "Figure", "ProbeSpec", "Verdict", "PUBLIC_PROBES",
           "PUBLIC_CHECKS", "HIDDEN_PROBES", "HIDDEN_CHECKS", "HIDDEN_INSTALLED", "REGISTRY", "BY_NAME", "ORDER",
           "PROBES", "WORKER_GROUPS", "FLOORS", "FIGURES", "TOTAL_POINTS", "resolve", "judge_function",
           "probe_calls", "choose_thresholds", "select", "with_prerequisites", "AT_GRADING", "coverage_note"]

# The public checks: what students run (`autograder check`, the release's Check cells), and their probes.
PUBLIC_PROBES: tuple[ProbeSpec, ...] = (
    ProbeSpec("rnn_model", "autograder.probes:probe_rnn_model", "model_probe", worker=0, order=0, floor=60.0),
    ProbeSpec("loop", "autograder.probes:probe_loop", "loop_probe", worker=0, order=2, floor=60.0),
)
PUBLIC_CHECKS: tuple[Check, ...] = (
    Check("shapes", 1, PUBLIC, ("ClassifierWithRNN",), "rnn_model", "autograder.judges:shapes",
          "summarize() returns (batch, hidden_dim); forward() returns (batch, 1)",
          "ClassifierWithRNN: summarize and forward return the right shapes", position=0),
    Check("train_returns_losses", 1, PUBLIC, ("train",), "loop", "autograder.judges:train_returns_losses",
          "train() returns one float loss per epoch",
          "train returns one finite loss per epoch", position=3, after=CONFIRMED_BY),
    Check("device_placement", 1, PUBLIC, ("train",), "loop", "autograder.judges:device_placement",
          "train() sends the model and the data to `device`",
          "train puts the model and the data on the requested device", position=4, after=CONFIRMED_BY),
)

# What `autograder check` and the public Check cells cannot tell, in words (the student package holds no hidden
# check): the points decided only when a notebook is graded. tests/test_specs.py keeps the number equal to the hidden
# checks' points.
AT_GRADING = (9, "which time step summarize returns, the mean over time, the optimizer protocol (zero_grad, step), "
                 "whether training lowers the loss, whether the trained embeddings separate, and your model trained "
                 "end to end")


def coverage_note() -> str:
    """What the public checks leave to grading: '3 of 12 points are checked here; 9 more when ...'."""
    public = sum(c.points for c in PUBLIC_CHECKS)
    hidden, what = AT_GRADING
    return f"{public:g} of {public + hidden:g} points are checked here; {hidden:g} more when your notebook is " \
           f"graded: {what}."


# Part of this very package (not found elsewhere on the path: an editable install's finder resolves submodules to
# its own tree even for a copy of the package that lacks them).
if (Path(__file__).resolve().parent / "hidden" / "__init__.py").is_file():
    from autograder.hidden import HIDDEN_CHECKS, HIDDEN_PROBES, THRESHOLDS
else:  # the student package
    HIDDEN_CHECKS, HIDDEN_PROBES, THRESHOLDS = (), (), None
HIDDEN_INSTALLED = bool(HIDDEN_CHECKS)

REGISTRY: tuple[Check, ...] = tuple(sorted(PUBLIC_CHECKS + HIDDEN_CHECKS, key=lambda c: c.position))
BY_NAME = {check.name: check for check in REGISTRY}
ORDER = tuple(check.name for check in REGISTRY)  # every check's name, in the order of the notebook's test cells
TOTAL_POINTS = sum(check.points for check in REGISTRY)

PROBES: dict[str, ProbeSpec] = {p.name: p for p in sorted(PUBLIC_PROBES + HIDDEN_PROBES, key=lambda p: p.order)}
# Probes that share a worker (and so its start-up: about 3 s of imports), in the order they run; each probe's result
# is kept as soon as it is known, so a train() that hangs still leaves the model checks scored. Two workers: two cores.
WORKER_GROUPS: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.name for p in PROBES.values() if p.worker == w) for w in sorted({p.worker for p in PROBES.values()}))
FLOORS: dict[str, float] = {p.name: p.floor for p in PROBES.values()}
# (check, Figure) in the order the feedback page shows them
FIGURES: tuple[tuple[str, Figure], ...] = tuple(sorted(((c.name, f) for c in REGISTRY for f in c.figures),
                                                       key=lambda pair: pair[1].order))


def resolve(path: str):
    """The object a "module:function" declaration names (imported only when it is needed)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def judge_function(check: Check):
    return resolve(check.judge)


def probe_calls(names) -> list[dict]:
    """What the worker needs to run these probes, as plain data: their names, functions and devices."""
    return [{"name": n, "function": PROBES[n].function, "cpu_only": PROBES[n].cpu_only} for n in names]


def choose_thresholds():
    """The hidden checks' threshold chooser (autograder.hidden.calibrations.choose), or None in the student
    package."""
    return resolve(THRESHOLDS) if THRESHOLDS else None


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
