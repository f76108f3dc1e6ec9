"""How much a hidden check tells the student: the course's feedback policy (issue 20).

A hidden check's message has three parts (autograder.spec.Verdict): what was expected, what was observed, what to
change. An instructor chooses, per course, how many of them a student sees before grades are final:

    verdict    passed or not, and what the check is about (its title): nothing to aim at
    observed   also what was expected and what was observed: the student knows what is wrong, not how to fix it
    fix        the whole message (what the kit always showed before the policy existed)

Public checks always show the whole message: the student runs them anyway. The policy is applied once, to a copy of
the report, before anything a student reads is written (results.json, junit.xml, feedback.html, the terminal table
of a Classroom run, nbgrader's feedback cells); the instructor's report (`instructor.txt` beside the others, the
batch's folders, `autograder nbgrader-report`) is always complete.

Where it is set: `--hidden-feedback` (grade, batch), else the environment variable AUTOGRADER_HIDDEN_FEEDBACK (the
Classroom workflow and Gradescope set it), else nbgrader's `c.EngineScores.hidden_feedback`, else the default below.
"""

from __future__ import annotations

import dataclasses
import os

POLICIES = {
    "verdict": "the verdict only",
    "observed": "what was expected and what was observed, without the fix",
    "fix": "the whole message, with what to change",
}
ENV = "AUTOGRADER_HIDDEN_FEEDBACK"
# After the deadline (nbgrader's feedback, a batch the instructor returns) the fix is what a student learns from.
# Where a student can push again before the deadline (the Classroom workflow, Gradescope), the workflow and the
# zip set "observed" themselves: a hidden check that handed out its fix would be a public one.
DEFAULT = "fix"


def choose(explicit: str | None = None) -> str:
    """The policy in force: `explicit`, else $AUTOGRADER_HIDDEN_FEEDBACK, else DEFAULT. An unknown name is a
    ValueError that lists the known ones (the CLI turns it into exit status 2)."""
    name = explicit or os.environ.get(ENV, "").strip() or DEFAULT
    if name not in POLICIES:
        known = ", ".join(f"{key} ({text})" for key, text in POLICIES.items())
        source = "--hidden-feedback" if explicit else ENV
        raise ValueError(f"{source}={name!r} is not a feedback policy; choose one of: {known}")
    return name


def _withheld(verdict, title: str, policy: str):
    if policy == "fix" or verdict.internal_error:  # a grader error is never the student's to decode
        return verdict
    note = "(your course shows the verdict of hidden checks"
    if policy == "verdict":
        outcome = "passed" if verdict.passed else "not passed"
        return dataclasses.replace(verdict, expected=title, observed=f"{outcome} {note} only)", fix="")
    tail = "" if verdict.passed else f" {note} without the fix)"
    return dataclasses.replace(verdict, observed=verdict.observed + tail, fix="")


def for_students(report, policy: str):
    """A copy of `report` whose hidden checks say what `policy` lets them say; public checks unchanged."""
    from autograder.checks import PUBLIC

    verdicts = [v if check.visibility == PUBLIC else _withheld(v, check.title, policy)
                for check, v in zip(report.checks, report.verdicts)]
    return dataclasses.replace(report, verdicts=verdicts)
