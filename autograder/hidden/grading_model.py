"""The grader's own model, on which the student's train() is graded (grader package only).

The worker never imports this module: autograder.training_model.source() sends its text in the job, and the worker
builds the class from it when a training probe starts. It imports nothing but torch for that reason (its one line
of real_lengths repeats autograder.training_model.real_lengths). The judges recompute its summary from weights as the
form "grader" (autograder/recompute.py).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class GraderRNN(nn.Module):
    """The lesson's architecture, summarized by the state at the last real token (it separates reliably; the
    lesson's state after the padding does not), NEGATED. The sign changes nothing for training (the linear layer's
    weights absorb it, and their initial distribution is symmetric), but it is no accepted answer to summarize: a
    student's model that copies this class fails summarize_is_last_state."""

    def __init__(self, vocab_size: int, hidden_dim: int, embedding_dim: int, padding_idx: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.rnn = nn.RNN(embedding_dim, hidden_dim, batch_first=True)
        self.linear = nn.Linear(hidden_dim, 1)

    def summarize(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x)  # (B, T, H)
        last = ((x.abs().sum(-1) > 0).sum(1).clamp(min=1) - 1).to(outputs.device)  # the last real token
        return -outputs[torch.arange(len(x), device=outputs.device), last]  # (B, H)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.summarize(self.embedding(tokens)))


TRAINED = GraderRNN  # what the worker builds from this module's source
