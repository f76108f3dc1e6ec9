"""The grader's own model, on which the student's train() is graded (inside the worker too). Judge-side
recomputation from weights lives in autograder.recompute, which the sandbox never sees."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def real_lengths(x: torch.Tensor) -> torch.Tensor:
    """How many leading positions of each row are real tokens: padding embeds to an exact zero vector."""
    return (x.abs().sum(-1) > 0).sum(1).clamp(min=1)


class GraderRNN(nn.Module):
    """The grader's own model, on which the student's train() is graded: the lesson's architecture, summarized by
    the state at the last real token (it separates reliably; the lesson's state after the padding does not),
    NEGATED. The sign changes nothing for training (the linear layer's weights absorb it, and their initial
    distribution is symmetric), but it is no accepted answer to summarize: a student's model that inherits or
    copies this class fails summarize_is_last_state. The judges recompute it as the form "grader"."""

    def __init__(self, vocab_size: int, hidden_dim: int, embedding_dim: int, padding_idx: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.rnn = nn.RNN(embedding_dim, hidden_dim, batch_first=True)
        self.linear = nn.Linear(hidden_dim, 1)

    def summarize(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x)  # (B, T, H)
        last = (real_lengths(x) - 1).to(outputs.device)
        return -outputs[torch.arange(len(x), device=outputs.device), last]  # (B, H)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.summarize(self.embedding(tokens)))


def full_batch_step(model: nn.Module, optimizer, tokens: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One step of the lesson's loop: binary cross-entropy of the model's logits on (tokens, y), backward, step.
    Returns the loss (before the step). The grader's own runs use it: its pace (autograder/limits.py) and its
    reference run on uncalibrated data (autograder/hidden/calibrations.py)."""
    optimizer.zero_grad()
    loss = F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y.float())
    loss.backward()
    optimizer.step()
    return loss
