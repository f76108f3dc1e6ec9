"""The checklist of adding a check, as a test: every check and every probe is declared once and completely, and each
table the engine reads is derived from those declarations. When this passes, a new check is wired everywhere: the
registry, the workers and their limits, the border, the reports, calibration, the notebook, the docs, the corpus."""

from __future__ import annotations

import dataclasses

import nbformat
import pytest

import submissions as corpus
from autograder import border, checks, course
from autograder.hidden.judges import Thresholds
from autograder.spec import HIDDEN, PUBLIC
from conftest import REFERENCE_NOTEBOOK, REPO

FIGURE_DETAILS = {"losses", "reported", "after"}  # what autograder/report.py knows how to draw
# Checks no single bug targets: the student's own model trained end to end fails with every mutant of summarize or
# train on the way (tests/test_corpus.py, the cascades), and calibration has no mutant line to draw for it.
NO_TARGETED_MUTANT = {"end_to_end"}


@pytest.mark.parametrize("check", checks.REGISTRY, ids=lambda c: c.name)
def test_every_check_is_declared_completely(check):
    """Does each check have points, a visibility, the names it needs, a probe that exists, a judge that resolves,
    texts, known prerequisites, thresholds that exist, a statistic calibration knows, and figures it can draw?"""
    assert check.points > 0 and check.visibility in (PUBLIC, HIDDEN)
    assert check.needs and all(name.isidentifier() for name in check.needs)
    assert check.probe in checks.PROBES, f"{check.name}: no probe {check.probe!r} is declared"
    assert callable(checks.judge_function(check))
    assert check.hint and check.title
    assert set(check.after) <= set(checks.BY_NAME), f"{check.name}: reads unknown verdicts {check.after}"
    assert set(check.thresholds) <= {f.name for f in dataclasses.fields(Thresholds)}
    assert check.statistic in ("margin", "deviation")
    assert all(f.detail in FIGURE_DETAILS and f.caption for f in check.figures)
    hidden_side = check.judge.startswith("autograder.hidden.")
    assert hidden_side == (check.visibility == HIDDEN), "a hidden check's judge lives in autograder/hidden/"
    declared_in = checks.HIDDEN_CHECKS if check.visibility == HIDDEN else checks.PUBLIC_CHECKS
    assert check in declared_in, "a hidden check is declared in autograder/hidden/, a public one in checks.py"


@pytest.mark.parametrize("probe", checks.PROBES.values(), ids=lambda p: p.name)
def test_every_probe_is_declared_completely(probe):
    """Does each probe name a function that resolves, a border validator that exists, a worker, a floor, the training
    it asks for, and is it read by some check? Is a probe that only hidden checks read declared on the hidden side?"""
    assert callable(checks.resolve(probe.function))
    assert callable(getattr(border, probe.validator, None)), f"border.{probe.validator} does not exist"
    assert probe.worker in (0, 1) and probe.floor > 0 and probe.trains in ("", "epochs", "restarts")
    readers = [c for c in checks.REGISTRY if c.probe == probe.name]
    assert readers, f"no check reads probe {probe.name}"
    public = any(c.visibility == PUBLIC for c in readers)
    assert (probe in checks.PUBLIC_PROBES) == public, "a probe is public when a public check reads it"
    assert probe.function.startswith("autograder.hidden.") != public


def test_the_derived_tables_hold_every_declaration_once():
    """Are the registry's order, the workers' groups, the floors and the figures exactly what the specs declare?"""
    positions = [c.position for c in checks.REGISTRY]
    assert positions == sorted(set(positions)), "two checks share a position"
    grouped = [p for group in checks.WORKER_GROUPS for p in group]
    assert sorted(grouped) == sorted(checks.PROBES) and len(set(grouped)) == len(grouped)
    assert len({p.order for p in checks.PROBES.values()}) == len(checks.PROBES)
    assert checks.FLOORS == {p.name: p.floor for p in checks.PROBES.values()}
    assert len({f.order for _, f in checks.FIGURES}) == len(checks.FIGURES)
    assert checks.TOTAL_POINTS == sum(c.points for c in checks.REGISTRY)


def test_the_notebook_has_each_checks_test_cell_in_registry_order():
    """Does the reference notebook hold one locked test cell per check, in the registry's order, with the check's
    points and the source course.check_cell_source makes?"""
    nb = nbformat.read(REFERENCE_NOTEBOOK, as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("check-")]
    assert [c.metadata.nbgrader.grade_id for c in cells] == [course.check_cell_id(c.name) for c in checks.REGISTRY]
    for cell, check in zip(cells, checks.REGISTRY):
        assert cell.metadata.nbgrader["points"] == check.points and cell.metadata.nbgrader["locked"]
        assert cell.source == course.check_cell_source(check), f"{check.name}: run `autograder release`"


def test_the_docs_and_the_corpus_know_every_check():
    """Is each check in docs/checks.md, failed by a mutant named after its bug, and is each threshold measured by
    calibration (a check that draws a line at it)?"""
    text = (REPO / "docs" / "checks.md").read_text()
    targeted = {name for mutant in corpus.MUTANTS for name in mutant.fails}
    for check in checks.REGISTRY:
        assert f"`{check.name}`" in text, f"docs/checks.md does not describe {check.name}"
        assert check.name in targeted or check.name in NO_TARGETED_MUTANT, \
            f"no mutant in tests/submissions.py targets {check.name}"
    drawn = {name for check in checks.REGISTRY for name in check.thresholds}
    assert drawn == {f.name for f in dataclasses.fields(Thresholds)}, "a threshold no check declares"


def test_what_students_are_told_grading_adds_is_the_hidden_checks_points():
    """`autograder check` and the public Check cells say how many points wait for grading (issue 20): that number is
    the hidden checks' points."""
    hidden = sum(c.points for c in checks.REGISTRY if c.visibility == HIDDEN)
    assert checks.AT_GRADING[0] == hidden
    assert checks.coverage_note().startswith(f"3 of {checks.TOTAL_POINTS:g} points are checked here; {hidden:g} more")
