"""The model the student's train() is graded on, and what the grader's own runs share with it.

The worker never imports a model of the grader's: `source()` is sent to it in the job, and the worker builds the
class from that text when a training probe starts (autograder.probe_kit.training_model), after the model probes have
called the student's summarize(). Nothing of it lies in the sandbox's copy of the kit, so student code cannot import
it, inherit from it, or call its summarize() as its own (issue 19).

Two models, one per package. The grader package trains the grader's model (autograder/hidden/grading_model.py,
GraderRNN: it separates reliably, and the hidden judges recompute from its weights). The student package, which
holds no hidden check and none of the grader's code, trains PracticeRNN below: its summary (the state after the
FIRST token) is no answer to summarize(), and the public checks only ask that train() returns its losses and moves
what it should to the device, which any model shows. Both draw their initial weights identically (the same layers,
made in the same order).

This module holds nothing of the grader's (the lesson's given layers, a wrong summary), so the worker's copy of the
kit has it (sandbox.WORKER_MODULES): hidden/grading_model.py builds on it there.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

GRADER_MODULE = "autograder.hidden.grading_model"  # the grader package's model (not in the student package)


def real_lengths(x: torch.Tensor) -> torch.Tensor:
    """How many leading positions of each row are real tokens: padding embeds to an exact zero vector."""
    return (x.abs().sum(-1) > 0).sum(1).clamp(min=1)


class LessonLayers(nn.Module):
    """The lesson's layers, as the notebook gives them (embedding, RNN, linear), and its forward; a training model
    adds its summarize(). The same layers made in the same order: the same initial weights from the same seed."""

    def __init__(self, vocab_size: int, hidden_dim: int, embedding_dim: int, padding_idx: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.rnn = nn.RNN(embedding_dim, hidden_dim, batch_first=True)
        self.linear = nn.Linear(hidden_dim, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.summarize(self.embedding(tokens)))


class PracticeRNN(LessonLayers):
    """The student package's training model, summarized by the state after the first token (a wrong summary on
    purpose: copying it costs summarize_is_last_state)."""

    def summarize(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x)
        return outputs[:, 0]


TRAINED = PracticeRNN  # what the worker builds from this module's source


def full_batch_step(model: nn.Module, optimizer, tokens: torch.Tensor, y: torch.Tensor,
                    clear_gradients: bool = True) -> torch.Tensor:
    """One step of the lesson's loop: binary cross-entropy of the model's logits on (tokens, y), backward, step.
    Returns the loss (before the step). The grader's own runs use it: its pace (autograder/limits.py), its reference
    run on uncalibrated data (autograder/hidden/calibrations.py) and optimizer_protocol's replays, which also run it
    without clearing the gradients (clear_gradients=False: the mistake they recognise)."""
    if clear_gradients:
        optimizer.zero_grad()
    loss = F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y.float())
    loss.backward()
    optimizer.step()
    return loss


def _grader_module():
    """The grader's model module where the grader package is installed; None in the student package."""
    try:
        return importlib.import_module(GRADER_MODULE)
    except ModuleNotFoundError:
        return None


def source() -> str:
    """The text the worker builds the training model from (its module defines TRAINED)."""
    module = _grader_module()
    return Path(module.__file__ if module else __file__).read_text(encoding="utf-8")


def model_class() -> type[nn.Module]:
    """The training model's class, for the grader's own runs and the plan's initial weights."""
    module = _grader_module()
    return module.TRAINED if module else PracticeRNN
