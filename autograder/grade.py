"""Grades one notebook: reads its definitions, runs the probes the chosen checks need in worker processes (at most
two at a time), and judges every check. Every check gets a verdict, whatever the notebook holds.

torch and scikit-learn are imported only once the workers are running, so that a student's `autograder check`
spends its first seconds in the worker, not waiting on imports here.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from autograder.checks import Check, Verdict, judge_function, select, with_prerequisites
from autograder.notebook import Definitions, read_definitions
from autograder.recipe import DataPaths, Recipe, default_data_paths
from autograder.runner import ProbeOutcome, run_worker

# Probes that share a worker (and so its start-up: about 3 s of imports), in the order they run; each probe's result
# is kept as soon as it is known, so a train() that hangs still leaves the model checks scored. Two workers: two cores.
WORKER_GROUPS = (("rnn_model", "mean_model", "loop", "training"), ("end_to_end",))
TIMEOUTS = {"rnn_model": 60, "mean_model": 60, "loop": 60, "training": 180, "end_to_end": 300}  # a group: its largest


@dataclass
class GradeReport:
    notebook: str
    verdicts: list[Verdict]
    checks: list[Check]
    problems: list[str] = field(default_factory=list)  # notebook-level: unreadable, syntax errors, failed imports
    device: str = "cpu"
    isolation: str = "none"  # the weakest sandbox level any of its workers ran at (autograder.sandbox)
    seconds: float = 0.0
    recipe: Recipe = field(default_factory=Recipe)

    @property
    def score(self) -> float:
        return sum(v.score for v in self.verdicts)

    @property
    def max_score(self) -> float:
        return sum(v.max_score for v in self.verdicts)

    @property
    def internal_error(self) -> bool:
        return any(v.internal_error for v in self.verdicts)

    @property
    def exit_code(self) -> int:
        if self.internal_error:
            return 2
        return 0 if all(v.passed for v in self.verdicts) else 1


def _missing_names(check: Check, definitions: Definitions) -> list[str]:
    return [name for name in check.needs if name not in definitions.names]


def grade(notebook: str | Path, *, public_only: bool = False, names: list[str] | None = None,
          data: DataPaths | None = None, recipe: Recipe | None = None, device: str | None = None,
          thresholds=None, timeouts: dict[str, float] | None = None, runner=run_worker,
          parallel: int = 2, namespace: dict | None = None) -> GradeReport:
    """Every chosen check's verdict for one notebook.

    `runner` runs a group of probes (run_worker: a separate process with a time limit); `parallel` is how many
    groups run at once (1 for run_in_process, whose probes share the process's global state). With `namespace`
    (a running notebook's globals), the probes call the objects defined there, in this process, and `notebook` is
    only a label for the report.
    """
    if namespace is not None:
        from autograder.runner import namespace_runner

        runner, parallel = namespace_runner(namespace), 1
    start = time.perf_counter()
    recipe = recipe or Recipe()
    data = data or default_data_paths()
    device = device or "auto"  # the worker resolves it: cuda if it sees one, else cpu
    timeouts = {**TIMEOUTS, **(timeouts or {})}
    checks = select(public_only, names)
    judged = with_prerequisites(checks)  # the report holds `checks`; a judge may read another check's verdict
    groups = [[p for p in group if p in {c.probe for c in judged}] for group in WORKER_GROUPS]
    groups = [g for g in groups if g]

    # The workers start first and import torch while the notebook is read here.
    notebook_read: Future = Future()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        running = pool.map(lambda g: runner(notebook_read.result, g, recipe=recipe, data=data, device=device,
                                            timeout=max(timeouts[p] for p in g)), groups)
        definitions = Definitions()
        try:
            definitions = Definitions(names=set(namespace)) if namespace is not None else read_definitions(notebook)
        finally:  # never leave a worker waiting for its job
            notebook_read.set_result(definitions)
        report = GradeReport(str(notebook), [], checks, list(definitions.problems),
                             "cpu" if device == "auto" else device, recipe=recipe)
        # Meanwhile, what the judges need here.
        from autograder.grading_model import load_grading_data
        from autograder.judges import Context, Thresholds

        tokens, y, vocab_size, pad = load_grading_data(data)
        context = Context(recipe, tokens, y, vocab_size, pad, report.device, thresholds or Thresholds())
        runs = list(running)
    outcomes: dict[str, ProbeOutcome] = {}
    from autograder.sandbox import weakest

    report.isolation = weakest(run.isolation for run in runs) if runs else "none"
    for run in runs:
        if run.device:
            report.device = context.device = run.device
        outcomes.update(run.outcomes)
        for failure in run.load_failures:
            problem = f"cell {failure['cell']}, line {failure['line']}: {failure['type']}: {failure['message']}"
            if problem not in report.problems:
                report.problems.append(problem)

    for check in judged:
        verdict = Verdict(check.name, check.points)
        missing = _missing_names(check, definitions)
        if missing:
            verdict.expected = f"the notebook defines {', '.join(f'`{n}`' for n in check.needs)}"
            verdict.observed = "; ".join(definitions.problems) if not definitions.blocks and definitions.problems \
                else f"{', '.join(f'`{n}`' for n in missing)} not found"
            verdict.fix = " ".join(f"Define `{n}` in your notebook." for n in missing)
        else:
            try:
                judge_function(check)(verdict, outcomes[check.probe], context)
            except Exception as err:  # a bug in the grader must not cost the student: flag it, go on
                verdict.passed = False
                verdict.internal_error = True
                verdict.observed = f"the grader failed while judging ({type(err).__name__}: {err})"
                verdict.fix = "Nothing on your side: tell your instructor."
        context.verdicts[check.name] = verdict
        if check in checks:
            report.verdicts.append(verdict)
    report.seconds = time.perf_counter() - start
    return report
