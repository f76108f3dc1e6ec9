"""The nbgrader preprocessors that the course's nbgrader_config.py installs (see course.NBGRADER_CONFIG).

- ExecuteUntilTheKernelDies (autograde, in place of nbgrader's Execute): a kernel that dies (os._exit, killed for
  memory, a crash in native code) makes nbgrader's Execute abandon the whole notebook, and `nbgrader export` then
  writes a 0 as for a real zero, while `autograder batch`, which does not run the notebook, grades its code. Here the
  cell the kernel died in gets an error output that says so, the cells after it are left unrun (and say so), and
  autograding goes on: EngineScores grades the code as on every other path, so a notebook gets the same automatic
  points from nbgrader as from `autograder batch`, and `autograder nbgrader-report` names the cell.

- EngineScores (autograde, right after Execute): the points of every test cell come from the grading engine, not
  from the student's kernel. It grades the notebook as nbgrader holds it in memory (the submission with its locked
  and test cells restored; a kernel can change outputs, never these sources), with `autograder.grade.grade`: the
  sandboxed workers, the judges in this process. Then it replaces each test cell's outputs with the engine's verdict
  and its points, which nbgrader's SaveAutoGrades reads. A kernel that rebinds `check`, points it at another
  notebook or prints a forged score changes nothing.

- GradedStderrToStdout (autograde, right after Execute): nbgrader scores a test cell 0 if it wrote anything to
  standard error, so a tqdm bar or a PyTorch warning would cost a correct submission its points. In graded cells,
  stderr output is kept, as standard output, with its text unchanged. The test cells report failure by their value
  (0 points), never through stderr, so nothing is lost by this.
- OverwriteCellsKnowingHiddenTests (autograde's sanitizing, in place of nbgrader's OverwriteCells): the gradebook
  keeps a test cell's checksum from before its hidden tests were cleared, so nbgrader warns "Attribute 'checksum'
  ... has changed!" for every hidden-test cell of every student, untouched copies included (nbgrader issue #1961):
  six warnings per student here, with nothing to act on. A locked cell equal to the release's copy (the stored
  source with its hidden tests cleared) is restored without a warning; a cell the student did change is still
  reported, and restored, as nbgrader does.
- FeedbackWithoutHiddenTests (generate_feedback): nbgrader's own ClearHiddenTests removes the hidden region of
  each test cell; this also cuts the traceback of an error raised in such a cell down to its last line, since
  IPython tracebacks quote the cell's source.
"""

from __future__ import annotations

import copy
import tempfile
import textwrap
from pathlib import Path

from nbformat.v4 import new_output
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor, OverwriteCells
from nbgrader.utils import is_grade, is_locked
from traitlets import List, Unicode

from autograder.nbgrader_cells import WIDTH


KERNEL_DIED = "KernelDied"  # the error name of the output that marks the cell a kernel died in


def kernel_death_text(code_cell: int) -> str:
    return (f"the kernel died while running code cell {code_cell} (os._exit, killed for using too much memory, or a "
            "crash in native code): this cell and the ones after it did not finish. The automatic checks graded the "
            "notebook's code outside the kernel, as `autograder batch` does.")


class ExecuteUntilTheKernelDies(Execute):
    def __init__(self, *args, **kwargs):
        """Unix sockets instead of TCP: the sandboxed kernel then runs without network (kernel_sandbox.py). (nbgrader's
        Execute passes its own kernel manager class as an argument, which a configured one does not override.)"""
        from autograder.kernel_sandbox import kernel_over_ipc

        kwargs.setdefault("kernel_manager_class", kernel_over_ipc())
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._died_in = None
        self._code_cells = 0
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            self._code_cells += 1
        if self._died_in is not None:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError as err:
            self._died_in = self._code_cells
            text = kernel_death_text(self._code_cells)
            self.log.warning("%s: %s (%s)", resources.get("metadata", {}).get("name", "notebook"), text, err)
            lines = textwrap.wrap(f"{KERNEL_DIED}: {text}", WIDTH, subsequent_indent="  ", break_long_words=False)
            cell.outputs.append(new_output("error", ename=KERNEL_DIED, evalue=text, traceback=lines))
            return cell, resources


class EngineScores(NbGraderPreprocessor):
    data = Unicode("", help="grading data: a FakeNewsNet CSV or a folder (default: the kit's fixture)").tag(config=True)
    tokenizer = Unicode("", help="its sentencepiece model (default: beside the data)").tag(config=True)

    def preprocess(self, nb, resources):
        from autograder.checks import BY_NAME
        from autograder.disclosure import POLICIES, for_students
        from autograder.grade import grade
        from autograder.nbgrader_cells import verdict_text
        from autograder.recipe import default_data_paths

        source = copy.deepcopy(nb)
        for cell in source.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        name = Path(resources.get("metadata", {}).get("name") or "submission").name + ".ipynb"
        data = default_data_paths(self.data or None, self.tokenizer or None)
        with tempfile.TemporaryDirectory(prefix="nbgrader-engine-") as tmp:
            import nbformat

            path = Path(tmp) / name
            nbformat.write(source, path)
            report = grade(path, data=data)
        by_name = {v.check: v for v in report.verdicts}
        # What each feedback policy lets a student read: kept beside the score, for FeedbackWithoutHiddenTests.
        # The autograded notebook (formgrader's view, the instructor's) keeps the complete text.
        told = {policy: {v.check: v for v in for_students(report, policy).verdicts} for policy in POLICIES}
        for cell in nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if cell.cell_type != "code" or not is_grade(cell) or not grade_id.startswith("check-"):
                continue
            verdict = by_name.get(grade_id[len("check-"):])
            if verdict is None or grade_id[len("check-"):] not in BY_NAME:
                continue
            text = verdict_text(verdict, report)
            cell.outputs = [new_output("stream", name="stdout", text=text + "\n")]
            if verdict.internal_error:
                cell.outputs.append(new_output("error", ename="GraderError", evalue=verdict.observed, traceback=[]))
            else:
                texts = {policy: verdict_text(told[policy][verdict.check], report) + "\n" for policy in POLICIES}
                cell.outputs.append(new_output("execute_result", data={"text/plain": f"{verdict.score:g}"},
                                               metadata={FEEDBACK_KEY: texts},
                                               execution_count=cell.get("execution_count")))
        self.log.info("engine scores for %s: %g / %g (sandbox: %s)", name, report.score, report.max_score,
                      report.isolation)
        for flag in report.integrity:  # for the instructor (autograder.integrity); never a score
            self.log.info("integrity flag for %s: %s", name, flag)
        return nb, resources


class GradedStderrToStdout(NbGraderPreprocessor):
    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
        return cell, resources


class OverwriteCellsKnowingHiddenTests(OverwriteCells):
    def preprocess_cell(self, cell, resources, cell_index):
        self._as_released = False
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is not None and is_locked(cell):
            try:
                stored = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                stored = None
            if stored is not None:
                released = NotebookNode(cell_type=stored.cell_type, source=stored.source, metadata={})
                ClearHiddenTests(parent=self)._remove_hidden_test_region(released)
                self._as_released = released.source == cell.source
        return super().preprocess_cell(cell, resources, cell_index)

    def report_change(self, name, attr, old, new):
        if attr == "checksum" and self._as_released:
            self.log.debug("cell %s: the release's copy (hidden tests cleared); its hidden tests restored", name)
            return
        super().report_change(name, attr, old, new)


FEEDBACK_KEY = "autograder_feedback"  # an execute_result's metadata: the verdict's text under each feedback policy


class FeedbackWithoutHiddenTests(ClearHiddenTests):
    """The feedback students get: hidden tests' source and tracebacks taken out, and each verdict as the course's
    feedback policy tells it (c.FeedbackWithoutHiddenTests.hidden_feedback, else $AUTOGRADER_HIDDEN_FEEDBACK, else
    autograder.disclosure.DEFAULT). The autograded notebook the instructor sees keeps the complete text."""

    hidden_feedback = Unicode("", help="what the feedback says of a hidden check: verdict, observed or fix "
                                       "(autograder.disclosure)").tag(config=True)

    # nbconvert's HTML exporter configures NbConvertBase.display_data_priority, which nbgrader's preprocessors
    # redeclare without config=True: traitlets then warns "Config option `display_data_priority` not recognized". As
    # nbgrader's GetGrades does, accept it (this preprocessor does not use it).
    display_data_priority = List(["text/html", "application/pdf", "text/latex", "image/svg+xml", "image/png",
                                  "image/jpeg", "text/plain"]).tag(config=True)

    def preprocess(self, nb, resources):
        from autograder.disclosure import choose

        self._policy = choose(self.hidden_feedback or None)  # a wrong setting stops generate_feedback at once
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = cell.cell_type == "code" and self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        outputs = cell.get("outputs", [])
        texts = next((o.get("metadata", {}).pop(FEEDBACK_KEY) for o in outputs
                      if FEEDBACK_KEY in o.get("metadata", {})), None)
        if texts is not None:  # the engine's verdict: the student reads the policy's text, never the others
            for output in outputs:
                if output.get("output_type") == "stream":
                    output["text"] = texts.get(self._policy, "")
                    break
        if had_hidden:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
