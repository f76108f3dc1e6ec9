"""What a judge derives from a state dict, in the grading process only: the RNN's states, summaries, the loss and
the document embeddings, in float64 (the worker's float32 nn.RNN agrees to about 1e-6)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from autograder.training_model import real_lengths

RNN_KEYS = ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0")


def rnn_states(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The lesson's recurrence h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), from a state dict: (B, T, H)."""
    w_ih, w_hh, b_ih, b_hh = (state[k].double() for k in RNN_KEYS)
    x = x.double()
    h = torch.zeros(x.shape[0], w_hh.shape[0], dtype=torch.float64)
    states = []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        states.append(h)
    return torch.stack(states, 1)


def missing_keys(state: dict[str, torch.Tensor], keys=RNN_KEYS + ("embedding.weight", "linear.weight")) -> list[str]:
    return [k for k in keys if k not in state]


def summarize_with(state: dict[str, torch.Tensor], x: torch.Tensor, form: str) -> torch.Tensor:
    """A summary recomputed from weights: "last" (after the padding), "last_real" (at the last real token),
    "mean" (over all steps) or "masked_mean" (over real tokens)."""
    states = rnn_states(state, x)
    lengths = real_lengths(x)
    if form == "last":
        return states[:, -1]
    if form == "last_real":
        return states[torch.arange(len(x)), lengths - 1]
    if form == "grader":  # the grader's own model (hidden/grading_model.py, GraderRNN): the last real state, negated
        return -states[torch.arange(len(x)), lengths - 1]
    if form == "mean":
        return states.mean(1)
    if form == "masked_mean":
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).double()
        return (states * mask[..., None]).sum(1) / lengths[:, None].double()
    raise ValueError(form)


@torch.no_grad()
def document_summaries(state: dict[str, torch.Tensor], tokens: torch.Tensor, form: str) -> np.ndarray:
    x = F.embedding(tokens, state["embedding.weight"].double())
    return summarize_with(state, x, form).numpy()


@torch.no_grad()
def full_batch_loss(state: dict[str, torch.Tensor], tokens: torch.Tensor, y: torch.Tensor, form: str) -> float:
    """The lesson's loss, recomputed from weights on the whole training set."""
    summary = torch.from_numpy(document_summaries(state, tokens, form))
    logits = summary @ state["linear.weight"].double().T + state["linear.bias"].double()
    return float(F.binary_cross_entropy_with_logits(logits.squeeze(1), y.double()))


def prior_entropy(y: torch.Tensor) -> float:
    """The loss of always predicting the class prior: where a model that learned nothing from the text sits."""
    p = float(y.float().mean())
    return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)))
