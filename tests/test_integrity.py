"""The integrity report (issue 19): code that reaches for the grader is flagged for the instructor, with its place;
the lesson's code never is. Static, on the extracted code: no grading here."""

from __future__ import annotations

import adversarial
import submissions as corpus
from autograder import course
from autograder.integrity import scan
from autograder.notebook import extract_definitions, read_definitions
from conftest import REFERENCE_NOTEBOOK, RELEASE_NOTEBOOK


def _attack_notebook(attack, folder):
    cells = {k: adversarial.fill(v, reference=REFERENCE_NOTEBOOK, judges="", out="", port=0, marker="")
             for k, v in attack.cells.items()}
    return corpus.build(corpus.Submission(attack.name, cells), folder, base=course.ASSIGNMENT_DIR / "rnn_embeddings.ipynb")


def test_no_flag_on_the_reference_the_release_the_variants_or_the_mutants(tmp_path):
    """0 false flags: every correct variant of the corpus (students' styles: helpers, magics, lambdas, code that
    touches the lesson's data) and every honest mistake."""
    assert scan(read_definitions(REFERENCE_NOTEBOOK)) == [] and scan(read_definitions(RELEASE_NOTEBOOK)) == []
    flagged = {s.name: scan(read_definitions(corpus.build(s, tmp_path))) for s in corpus.VARIANTS + corpus.MUTANTS}
    assert {name: flags for name, flags in flagged.items() if flags} == {}


# The attacks that reach for the grader (its files, processes, modules, libraries, the model's readers); the others
# fake an answer in the lesson's own terms (invented losses, pasted weights, huge allocations, hostile text), which
# the judges' recomputation answers and no reading of the code could tell from a mistake.
REACHING = {"ReadsReferenceAndGraders", "DetectsGradingThenCopiesTheReference", "WritesResultsFiles",
            "MonkeypatchesTorchAndSklearn", "OpensASocket", "KillsTheGrader", "ForkLoop", "EndlessLoopIgnoringSIGINT",
            "PicklePayloadAsResult", "ForgesEveryProbe", "InheritsTheGradersModel", "HostileResultFrames",
            "FillsTheDiskAndNests", "SymlinkAsResult", "ZeroSummaryForgedStateDict", "BorrowsTheGradersSummarize",
            "KeepsTheTrainingModelForLater", "ForgesTheSpyAfterAnAccumulatingLoop"}


def test_every_attack_that_reaches_for_the_grader_is_flagged_where_it_does(tmp_path):
    flagged = {a.name: scan(read_definitions(_attack_notebook(a, tmp_path))) for a in adversarial.ATTACKS}
    assert {name for name, flags in flagged.items() if flags} == REACHING
    assert all(flag.startswith("code cell ") and ", line " in flag and "(`" in flag
               for flags in flagged.values() for flag in flags)
    assert any("imports autograder" in f for f in flagged["InheritsTheGradersModel"])


def test_a_flag_names_the_cell_and_line_as_jupyter_shows_them():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch\nx = 1"),
                                         nbformat.v4.new_code_cell("def train():\n    import gc\n    return gc")])
    assert scan(extract_definitions(nb)) == ["code cell 2, line 2: imports gc: the garbage collector (finds the "
                                             "grader's objects) (`import gc`)"]
