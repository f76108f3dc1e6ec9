"""The grader's own model, on which the student's train() is graded (grader package only).

The worker never imports this module: autograder.training_model.source() sends its text in the job, and the worker
builds the class from it when a training probe starts. It imports only autograder.training_model, which the worker's
copy of the kit holds. The judges recompute its summary from weights as the form "grader" (autograder/recompute.py).
"""

from __future__ import annotations

import torch

from autograder.training_model import LessonLayers, real_lengths


class GraderRNN(LessonLayers):
    """The lesson's architecture, summarized by the state at the last real token (it separates reliably; the
    lesson's state after the padding does not), NEGATED. The sign changes nothing for training (the linear layer's
    weights absorb it, and their initial distribution is symmetric), but it is no accepted answer to summarize: a
    student's model that copies this class fails summarize_is_last_state."""

    def summarize(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x)  # (B, T, H)
        last = (real_lengths(x) - 1).to(outputs.device)
        return -outputs[torch.arange(len(x), device=outputs.device), last]  # (B, H)


TRAINED = GraderRNN  # what the worker builds from this module's source
