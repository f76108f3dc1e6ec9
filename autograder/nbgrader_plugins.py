"""The nbgrader preprocessors that the course's nbgrader_config.py installs (see course.NBGRADER_CONFIG).

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
- FeedbackWithoutHiddenTests (generate_feedback): nbgrader's own ClearHiddenTests removes the hidden region of
  each test cell; this also cuts the traceback of an error raised in such a cell down to its last line, since
  IPython tracebacks quote the cell's source.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Unicode


class EngineScores(NbGraderPreprocessor):
    data = Unicode("", help="grading data: a FakeNewsNet CSV or a folder (default: the kit's fixture)").tag(config=True)
    tokenizer = Unicode("", help="its sentencepiece model (default: beside the data)").tag(config=True)

    def preprocess(self, nb, resources):
        from autograder.checks import BY_NAME
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
                cell.outputs.append(new_output("execute_result", data={"text/plain": f"{verdict.score:g}"},
                                               execution_count=cell.get("execution_count")))
        self.log.info("engine scores for %s: %g / %g (sandbox: %s)", name, report.score, report.max_score,
                      report.isolation)
        return nb, resources


class GradedStderrToStdout(NbGraderPreprocessor):
    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
        return cell, resources


class FeedbackWithoutHiddenTests(ClearHiddenTests):
    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = cell.cell_type == "code" and self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if had_hidden:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
