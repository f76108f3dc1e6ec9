"""The notebooks themselves: the reference runs top to bottom, and the committed release is up to date."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import nbformat
import pytest

from autograder import lesson_cli
from autograder import course
from conftest import REFERENCE_NOTEBOOK


# CI (.ci/run) runs `make demo` first, whose last step is this very command on this checkout; it names the demo's
# output here instead of running the lesson a second time (about 100 s of one core).
DEMO_OUTPUT = "FAKENEWS_LESSON_OUTPUT"


@pytest.mark.slow
@pytest.mark.ci_only  # `make demo` runs the lesson too: CI checks the demo's run (DEMO_OUTPUT)
def test_reference_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    """Does `fakenews-lesson run` execute every cell on the fixture, write no stderr, and save the four figures?"""
    monkeypatch.setenv("MPLBACKEND", "agg")
    if os.environ.get(DEMO_OUTPUT):
        tmp_path = Path(os.environ[DEMO_OUTPUT])
        assert (tmp_path / REFERENCE_NOTEBOOK.name).stat().st_mtime >= REFERENCE_NOTEBOOK.stat().st_mtime
    else:
        assert lesson_cli.main(["run", "--out", str(tmp_path)]) == 0
    nb = nbformat.read(tmp_path / REFERENCE_NOTEBOOK.name, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "400 headlines, 75% real" in text
    for cell in nb.cells:  # each Check cell ran its check on the kernel's objects and printed its verdict, no Out[]
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id", "").startswith("check-"):
            assert not [o for o in cell.outputs if o.output_type == "execute_result"], meta["grade_id"]
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            points = f"{float(meta['points']):g}"
            assert f"passed ({points} of {points} points)" in printed, (meta["grade_id"], printed[:300])
    figures = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert figures == ["mean_embeddings.png", "mean_learning_curve.png", "rnn_embeddings.png", "rnn_learning_curve.png"]


@pytest.mark.slow
def test_committed_release_matches_nbgrader_output(tmp_path):
    """Is assignment/ exactly what `nbgrader generate_assignment` makes of reference/ (run `autograder release`)?"""
    fresh = course.generate_release(tmp_path / "assignment")
    comparison = filecmp.dircmp(fresh, course.ASSIGNMENT_DIR)
    assert not comparison.left_only and not comparison.right_only, "run `autograder release`"
    for name in ("fakenews_lesson.py", "data/FakeNewsNet.csv", "data/fakenews_tokenizer.model", "README.md",
                 ".github/workflows/grade.yml"):
        assert (fresh / name).read_bytes() == (course.ASSIGNMENT_DIR / name).read_bytes(), f"{name}: run `autograder release`"
    assert nbformat.read(fresh / "rnn_embeddings.ipynb", 4) == nbformat.read(course.ASSIGNMENT_DIR / "rnn_embeddings.ipynb", 4)


def test_release_has_stubs_and_no_solutions():
    """Do the three stubs raise NotImplementedError in the release, with no solution code left?"""
    nb = nbformat.read(course.ASSIGNMENT_DIR / "rnn_embeddings.ipynb", as_version=4)
    source = "\n".join(c.source for c in nb.cells)
    assert source.count("raise NotImplementedError()") == 3
    assert "BEGIN SOLUTION" not in source and "outputs[:, -1, :]" not in source
    assert "optimizer.step()" not in source
