"""Two nbgrader preprocessors that the course's nbgrader_config.py installs (see course.NBGRADER_CONFIG).

- GradedStderrToStdout (autograde, right after Execute): nbgrader scores a test cell 0 if it wrote anything to
  standard error, so a tqdm bar or a PyTorch warning would cost a correct submission its points. In graded cells,
  stderr output is kept, as standard output, with its text unchanged. The test cells report failure by their value
  (0 points), never through stderr, so nothing is lost by this.
- FeedbackWithoutHiddenTests (generate_feedback): nbgrader's own ClearHiddenTests removes the hidden region of
  each test cell; this also cuts the traceback of an error raised in such a cell down to its last line, since
  IPython tracebacks quote the cell's source.
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.utils import is_grade


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
