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

from autograder.checks import WORKER_GROUPS, Check, Verdict, choose_thresholds, judge_function, select, \
    with_prerequisites
from autograder.notebook import Definitions, read_definitions
from autograder.recipe import DataPaths, Recipe, default_data_paths
from autograder.runner import ProbeOutcome, run_worker

# WORKER_GROUPS (autograder/checks.py, from each ProbeSpec): the probes that share a worker, in the order they run.
# Each worker's time limit: from the work it asks for and this machine's measured pace (autograder/limits.py).


@dataclass
class GradeReport:
    notebook: str
    verdicts: list[Verdict]
    checks: list[Check]
    problems: list[str] = field(default_factory=list)  # notebook-level: unreadable, syntax errors, failed imports
    device: str = "cpu"
    isolation: str = "none"  # the weakest sandbox level any of its workers ran at (autograder.sandbox)
    calibration: str = ""  # whose thresholds judged it: "calibrated on <data> (<fingerprint>)", or "uncalibrated: ..."
    warnings: list[str] = field(default_factory=list)  # the grader's own: uncalibrated data (never the student's)
    seconds: float = 0.0
    recipe: Recipe = field(default_factory=Recipe)
    skipped: list[str] = field(default_factory=list)  # top-level statements that did not run in grading (no cost)
    grader_run: dict | None = None  # uncalibrated data: the grader's own run the thresholds came from (scores, s)
    manual_points: float = 0.0  # the answers the instructor grades (not scored here): reports say the whole total
    integrity: list[str] = field(default_factory=list)  # code that reaches for the grader (autograder.integrity):
    # for the instructor; never changes a score

    @property
    def points_text(self) -> str:
        """The score in words, the instructor's part included: "12 of 12 automatic points; 4 more for the two
        answers, graded by your instructor (16 in all)"."""
        text = f"{self.score:g} of {self.max_score:g} automatic points"
        if self.manual_points:
            text += (f"; {self.manual_points:g} more for the written answers, graded by your instructor "
                     f"({self.max_score + self.manual_points:g} in all)")
        return text

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
          parallel: int = 2, namespace: dict | None = None, secret_material: bytes | None = None,
          on_pace=None) -> GradeReport:
    """Every chosen check's verdict for one notebook; never raises because of the notebook or its workers.

    `runner` runs a group of probes (run_worker: a separate process with a time limit); `parallel` is how many
    groups run at once (1 for run_in_process, whose probes share the process's global state). With `namespace`
    (a running notebook's globals), the probes call the objects defined there, in this process, and `notebook` is
    only a label for the report; `secret_material` (the code of the notebook the kernel runs, when known) makes
    its plan the one the file would get. `on_pace` is called with the measured pace (limits.Pace) as soon as it is
    known, before any probe runs: a caller that bounds the whole grading (a batch task) derives its bound from it.
    """
    start = time.perf_counter()
    checks = select(public_only, names)
    recipe = recipe or Recipe()
    report = GradeReport(str(notebook), [], checks, [], "cpu" if device in (None, "auto") else device, recipe=recipe)
    try:
        _grade(report, notebook, data=data, recipe=recipe, device=device or "auto", thresholds=thresholds,
               timeouts=timeouts, runner=runner, parallel=parallel, namespace=namespace,
               secret_material=secret_material, on_pace=on_pace)
    except Exception as err:  # noqa: BLE001 - the grader's own failure: every check still gets a verdict
        if type(err).__name__ == "DataError":  # the grader's data, not the submission: nothing can be graded
            raise
        from autograder.border import clean_text

        done = {v.check for v in report.verdicts}
        for check in checks:
            if check.name not in done:
                report.verdicts.append(Verdict(check.name, check.points, internal_error=True,
                                               expected=check.title,
                                               observed=clean_text(f"the grader failed ({type(err).__name__}: {err})"),
                                               fix="Nothing on your side: tell your instructor."))
        report.verdicts.sort(key=lambda v: [c.name for c in checks].index(v.check))
    if namespace is None:
        from autograder.notebook import manual_points

        try:
            report.manual_points = manual_points(notebook)
        except Exception:  # noqa: BLE001 - only what the reports say of the instructor's part: never a reason to fail
            report.manual_points = 0.0
    report.seconds = time.perf_counter() - start
    return report


def _grade(report: GradeReport, notebook, *, data, recipe: Recipe, device: str, thresholds, timeouts, runner,
           parallel: int, namespace, secret_material: bytes | None, on_pace=None) -> None:
    from autograder.plan import grading_secret, make_plan

    if namespace is not None:
        from autograder.runner import namespace_runner

        runner, parallel = namespace_runner(namespace), 1
    from autograder import limits

    data = data or default_data_paths()
    checks = report.checks
    judged = with_prerequisites(checks)  # the report holds `checks`; a judge may read another check's verdict
    groups = [[p for p in group if p in {c.probe for c in judged}] for group in WORKER_GROUPS]
    groups = [g for g in groups if g]

    # The workers start first and import torch while the notebook is read and the grader's plan is drawn here.
    job_ready: Future = Future()
    definitions = Definitions()
    paces: list[limits.Pace] = []  # measured once the plan's data are loaded, before the workers get their job
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        running = pool.map(lambda g: runner(job_ready.result, g, recipe=recipe, device=device,
                                            timeout=lambda g=g: limits.group_limit(paces[0], g)), groups)
        try:
            definitions = Definitions(names=set(namespace)) if namespace is not None else read_definitions(notebook)
            # The secret follows the code the student wrote, not the file's bytes: the same code gets the same plan
            # (and score) from the CLI and from nbgrader's sanitized copy, and when a notebook is only re-saved.
            material = secret_material or (b"kernel" if namespace is not None
                                           else definitions.source.encode("utf-8", "surrogatepass"))
            plan = make_plan(recipe, data, grading_secret(material, recipe))
            # A runner that enforces no time limit (in this process: the kit's corpus, a notebook's kernel) needs
            # no pace: the floors stand in, unmeasured.
            timed = getattr(runner, "enforces_limits", True)
            paces.append(limits.measure(plan, recipe, timeouts, probes=[p for g in groups for p in g] if timed else []))
            if on_pace is not None:
                on_pace(paces[0])
        except BaseException as err:  # never leave a worker waiting for its job
            job_ready.set_exception(err)
            raise
        job_ready.set_result((definitions, plan))
        report.problems.extend(definitions.problems)
        from autograder.integrity import scan

        report.integrity = scan(definitions)
        from autograder.judging import Context

        chooser = choose_thresholds()
        if thresholds is None and chooser is not None:  # the hidden checks' thresholds, for these data
            choice = chooser(data, plan, recipe, {c.name for c in judged})
            thresholds, report.calibration, report.grader_run = choice.thresholds, choice.calibration, choice.grader_run
            report.warnings.extend(choice.warnings)
        context = Context(recipe, plan, report.device, thresholds, pace=paces[0])
        runs = list(running)
    # A worker that died or ran out of time in one probe took the probes after it down with it: they run again, in
    # a fresh worker, so that a bug costs the checks of the probe it broke, not those that happened to share it.
    pending = list(zip(runs, groups))
    while pending:
        run, group = pending.pop(0)
        lost = _lost_with(run, group)
        if lost:
            again = runner(job_ready.result, lost, recipe=recipe, device=device,
                           timeout=lambda g=lost: limits.group_limit(paces[0], g))
            runs.append(again)
            pending.append((again, lost))
    if any(run.timed_out for run in runs) and context.pace.epoch_seconds:  # the machine, or the submission?
        context.pace.after_timeout = limits.epoch_seconds_after_timeout(plan, recipe)
    from autograder import border
    from autograder.sandbox import weakest

    report.isolation = weakest(run.isolation for run in runs) if runs else "none"
    outcomes: dict[str, ProbeOutcome] = {}
    for run in runs:
        try:
            load = border.load_report(run.load) if run.load is not None else None
        except border.BorderError as err:
            load = None
            problem = f"the worker's load report was not valid ({err})"
            if problem not in report.problems:
                report.problems.append(problem)
        if load:
            report.device = context.device = load["device"]
            context.load_failures.extend(f for f in load["failures"] if f not in context.load_failures)
        for name, outcome in run.outcomes.items():
            if outcome.ok:
                try:
                    outcome = ProbeOutcome(name, data=border.validate(name, outcome.data, plan))
                except border.BorderError as err:
                    outcome = ProbeOutcome(name, error={"type": "BadResult", "message": str(err)[:300], "where": []})
            else:
                try:
                    outcome = ProbeOutcome(name, error=border.error(outcome.error, name))
                except border.BorderError as err:
                    outcome = ProbeOutcome(name, error={"type": "BadResult", "message": str(err)[:300], "where": []})
            outcomes[name] = outcome
    context.outcomes = outcomes
    for failure in context.load_failures:
        problem = describe_failure(failure)
        if failure["kind"] == "definition" and problem not in report.problems:
            report.problems.append(problem)
    report.skipped = [describe_failure(f) for f in context.load_failures if f["kind"] == "statement"]

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
    order = [c.name for c in checks]
    report.verdicts.sort(key=lambda v: order.index(v.check))


def _lost_with(run, group: list[str]) -> list[str]:
    """The probes a worker never ran: those after the one it died or ran out of time in (it sends each probe's
    frame as soon as that probe is done, in order). None when it never loaded the definitions: a death there
    would end the next worker the same way."""
    if run.load is None:
        return []
    unfinished = [p for p in group if p in run.outcomes and not run.outcomes[p].ok
                  and run.outcomes[p].error.get("type") in ("WorkerDied", "Timeout")]
    return unfinished[1:]  # the first is the one it was running


def describe_failure(failure: dict) -> str:
    """A top-level statement that did not run in grading, as the report says it."""
    what = "a definition" if failure["kind"] == "definition" else "a top-level statement"
    return f"code cell {failure['cell']}, line {failure['line']} ({what}): {failure['type']}: {failure['message']}"
