"""Grade the program the student ran (issue 10): for every notebook of the corpus, the public checks' verdicts in a
kernel that ran the notebook top to bottom (as a student does in Jupyter, then runs the Check cells) equal the
engine's verdicts on the saved file.

The subjects are those with top-level code of their own (has_top_level_code), and the engine grades the file with
the trusted in-process runner: what is compared is the kernel's namespace against the file's extraction.

The copy run in the kernel trains its two experiments for 30 epochs instead of 3000 (a locked cell of the lesson,
never run in grading): the verdicts do not depend on it, and the corpus runs in minutes rather than an hour. The
engine grades the notebook unedited.
"""

from __future__ import annotations

import re

import nbformat
import pytest

import submissions as corpus
from autograder.checks import PUBLIC, REGISTRY
from autograder.grade import grade
from autograder.runner import run_in_process
from conftest import REFERENCE_NOTEBOOK, RELEASE_NOTEBOOK

pytestmark = [pytest.mark.slow, pytest.mark.ci_only]
PUBLIC_CHECKS = [c.name for c in REGISTRY if c.visibility == PUBLIC]
HEADS = {"ClassifierWithRNN": corpus.RNN_HEAD, "ClassifierWithMean": corpus.MEAN_HEAD, "train": corpus.TRAIN_HEAD}


def has_top_level_code(submission) -> bool:
    """Does the submission change what runs at a notebook's top level (statements, helpers, constants, magics),
    where the kernel and the file's extraction could disagree? A subject that only rewrites the body of the
    lesson's class or function runs the same source in both: the corpus tier judges its verdicts on the file."""
    return any(grade_id not in HEADS or not source.startswith(HEADS[grade_id])
               for grade_id, source in submission.edits.items())


def merged(subjects: list) -> list:
    """The subjects, with those that edit only a model cell sharing a notebook with one that edits only `train`
    (their edits merged, names joined by "+"): each notebook costs a kernel and four gradings (about 30 s). Only
    correct variants are merged: each of their public checks passes on both sides, and a disagreement names the
    check, hence the cell (shapes: ClassifierWithRNN; the loop checks: train). Mutants stay alone."""
    correct = {s.name for s in corpus.VARIANTS}
    hosts = [s for s in subjects if set(s.edits) == {"train"} and s.name in correct]
    guests = [s for s in subjects if s.edits and set(s.edits) <= {"ClassifierWithRNN", "ClassifierWithMean"}
              and s.name in correct]
    result = [s for s in subjects if s not in hosts and s not in guests]
    for host in hosts:
        for guest in list(guests):
            if not set(guest.edits) & set(host.edits):
                host = corpus.Submission(f"{host.name}+{guest.name}", {**host.edits, **guest.edits})
                guests.remove(guest)
                break
        result.append(host)
    return result + guests  # a guest no host could take stays alone


# Not the reference itself: its Check cells' verdicts in a kernel are those of the lesson's run (tests/test_notebooks.py,
# every check passed) and its verdicts on the file are the engine's (tests/test_grading.py): the same comparison.
SUBJECTS = merged([s for s in corpus.ALL if has_top_level_code(s)])
# The hidden checks' test cells as the release has them (nbgrader takes the hidden tests out): a kernel the student
# runs never trains for them, and what is compared here is the public checks.
RELEASED_HIDDEN_CELLS = {cell.metadata.nbgrader.grade_id: cell.source
                         for cell in nbformat.read(RELEASE_NOTEBOOK, as_version=4).cells
                         if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith("check-")
                         and cell.metadata.nbgrader.grade_id[6:] not in PUBLIC_CHECKS}
VERDICT = re.compile(r"^(?P<title>.+): (?P<status>passed|failed|grader error) \((?P<score>[\d.]+) of", re.M)


def _kernel_verdicts(path, tmp_path, monkeypatch) -> dict[str, bool]:
    """Runs the notebook top to bottom in a fresh kernel (experiments shortened); reads each public Check cell. The
    kernel is told which notebook it runs, as Jupyter tells it (JPY_SESSION_NAME)."""
    from nbclient import NotebookClient

    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id == "exp1":
            cell.source = cell.source.replace("EPOCHS, LR = 3000, 1e-3", "EPOCHS, LR = 30, 1e-3")
        elif grade_id in RELEASED_HIDDEN_CELLS:  # as the student's copy has it: the hidden checks are not run there
            cell.source = RELEASED_HIDDEN_CELLS[grade_id]
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(REFERENCE_NOTEBOOK.parent)}}).execute()
    found = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("check-") and grade_id[6:] in PUBLIC_CHECKS:
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            match = VERDICT.search(text)
            assert match, f"{grade_id}: no verdict in {text[:500]!r} {cell.outputs}"
            found[grade_id[6:]] = match["status"] == "passed"
    return found


@pytest.mark.parametrize("submission", SUBJECTS, ids=lambda s: s.name)
def test_public_checks_in_the_kernel_equal_the_engines_on_the_file(submission, tmp_path, monkeypatch):
    path = corpus.build(submission, tmp_path)
    in_kernel = _kernel_verdicts(path, tmp_path, monkeypatch)
    on_file = {v.check: v.passed for v in grade(path, public_only=True, runner=run_in_process, parallel=1).verdicts}
    assert in_kernel == on_file
