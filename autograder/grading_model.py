"""What the grader chooses and recomputes: its training recipe, its probe inputs, its own model, and the numbers a
judge derives from a state dict (summaries, loss, embeddings). Used both in the worker and by the judges, so that
both build bit-identical inputs and initial weights from the same seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.recipe import DataPaths, Recipe


@dataclass(frozen=True)
class ModelCase:
    """One input to summarize()/forward(): sizes chosen by the grader, batch 1 included."""

    batch: int
    length: int
    embedding_dim: int
    hidden_dim: int
    vocab_size: int = 40
    padding_idx: int = 3  # not 0: a model that hard-codes 0 is caught


MODEL_CASES = (
    ModelCase(batch=1, length=30, embedding_dim=2, hidden_dim=2),
    ModelCase(batch=6, length=9, embedding_dim=3, hidden_dim=4),
    ModelCase(batch=5, length=12, embedding_dim=2, hidden_dim=3),
    ModelCase(batch=7, length=4, embedding_dim=5, hidden_dim=2),
)


def case_inputs(case: ModelCase, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Embedded inputs x (batch, length, embedding_dim), whose trailing rows are zero like padding, their real
    lengths, and token ids (batch, length) right-padded with padding_idx. Deterministic in (case, seed)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, case.length + 1, (case.batch,), generator=g)
    if case.batch > 1:
        lengths[0] = case.length  # one full-length row
        lengths[1] = max(1, case.length // 3)  # one with many pads
    x = torch.randn(case.batch, case.length, case.embedding_dim, generator=g)
    positions = torch.arange(case.length)
    x[positions.expand(case.batch, -1) >= lengths[:, None]] = 0.0
    real = torch.tensor([t for t in range(case.vocab_size) if t != case.padding_idx])
    tokens = real[torch.randint(0, len(real), (case.batch, case.length), generator=g)]
    tokens[positions.expand(case.batch, -1) >= lengths[:, None]] = case.padding_idx
    return x, lengths, tokens


def real_lengths(x: torch.Tensor) -> torch.Tensor:
    """How many leading positions of each row are real tokens: padding embeds to an exact zero vector."""
    return (x.abs().sum(-1) > 0).sum(1).clamp(min=1)


class GraderRNN(nn.Module):
    """The grader's own model, on which the student's train() is graded: the lesson's architecture, summarized by
    the state at the last real token (it separates reliably; the lesson's state after the padding does not)."""

    def __init__(self, vocab_size: int, hidden_dim: int, embedding_dim: int, padding_idx: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.rnn = nn.RNN(embedding_dim, hidden_dim, batch_first=True)
        self.linear = nn.Linear(hidden_dim, 1)

    def summarize(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x)  # (B, T, H)
        last = (real_lengths(x) - 1).to(outputs.device)
        return outputs[torch.arange(len(x), device=outputs.device), last]  # (B, H)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(self.summarize(self.embedding(tokens)))


def seeded_grader_model(vocab_size: int, pad: int, recipe: Recipe, seed: int) -> GraderRNN:
    """The grader's model with the initial weights that `seed` gives (bit-identical on every CPU run)."""
    torch.manual_seed(seed)
    return GraderRNN(vocab_size, recipe.hidden_dim, recipe.embedding_dim, pad)


# ------------------------------------------------------------------------------------- recomputing from weights

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


# ----------------------------------------------------------------------------------------------- grading data

def load_grading_data(paths: DataPaths) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Token ids (N, 30), labels (N,) as floats, vocabulary size and pad id."""
    import fakenews_lesson as lesson

    frame, _ = lesson.read_fakenews_csv(paths.csv)
    sp = lesson.load_tokenizer(paths.tokenizer)
    tokens = lesson.encode_titles(sp, frame["title"])
    y = torch.tensor(frame["real"].to_numpy(), dtype=torch.float32)
    return tokens, y, sp.get_piece_size(), lesson.pad_id(sp)
