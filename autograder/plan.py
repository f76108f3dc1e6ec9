"""What the grader chooses for one grading, in secret: the weights and inputs the student's models are called with,
the initial weights of every model the student's train() trains, and the training data with its vocabulary and
rows permuted. Built in the grading process from a secret the worker never sees, sent to the worker as tensors
(`to_worker`), and read by the judges, who recompute everything from it (docs/trust-boundary.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autograder import training_model
from autograder.recipe import DataPaths, Recipe

KEY_ENV = "AUTOGRADER_KEY"


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


def grading_key() -> bytes:
    """The grading key (see _key): what signs this grader's calibrations too."""
    return _key()


def _key() -> bytes:
    """The grading key: $AUTOGRADER_KEY, else a random key made once in the grader's config folder (0600)."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode()
    folder = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "rnn-embeddings-kit"
    path = folder / "grading.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode())
    except FileExistsError:
        pass
    except OSError:  # a read-only home: a key for this process only (grades stay fixed within the run)
        return _PROCESS_KEY
    return path.read_bytes()


_PROCESS_KEY = secrets.token_hex(32).encode()


def grading_secret(material: bytes, recipe: Recipe) -> int:
    """A 62-bit seed only the grading process can compute: the same code (`material`: the notebook's kept
    statements), seed and key give the same one."""
    digest = hmac.new(_key(), material + f"|seed={recipe.seed}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 2


def case_inputs(case: ModelCase, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Embedded inputs x (batch, length, embedding_dim), whose trailing rows are zero like padding, their real
    lengths, and token ids (batch, length) right-padded with padding_idx."""
    lengths = torch.randint(1, case.length + 1, (case.batch,), generator=generator)
    if case.batch > 1:
        lengths[0] = case.length  # one full-length row
        lengths[1] = max(1, case.length // 3)  # one with many pads
    x = torch.randn(case.batch, case.length, case.embedding_dim, generator=generator)
    positions = torch.arange(case.length)
    x[positions.expand(case.batch, -1) >= lengths[:, None]] = 0.0
    real = torch.tensor([t for t in range(case.vocab_size) if t != case.padding_idx])
    tokens = real[torch.randint(0, len(real), (case.batch, case.length), generator=generator)]
    tokens[positions.expand(case.batch, -1) >= lengths[:, None]] = case.padding_idx
    return x, lengths, tokens


def _weights(vocab_size: int, hidden_dim: int, embedding_dim: int, pad: int, seed: int) -> dict[str, torch.Tensor]:
    """Initial weights as the lesson's layers draw them (padding row zero), from `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = training_model.model_class()(vocab_size, hidden_dim, embedding_dim, pad)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class Case:
    case: ModelCase
    weights: dict[str, torch.Tensor]
    x: torch.Tensor
    tokens: torch.Tensor


@dataclass
class GradingPlan:
    recipe: Recipe
    cases: list[Case]
    tokens: torch.Tensor  # (N, 30) the training data, vocabulary and rows permuted
    y: torch.Tensor  # (N,) its labels, floats
    vocab_size: int
    pad: int
    grader_init: dict[str, torch.Tensor]  # the grader's model, before the student's train() (training probe)
    loop_init: dict[str, torch.Tensor]  # the same model for the short, spied loop run
    student_inits: list[dict[str, torch.Tensor]] = field(default_factory=list)  # end_to_end, one per restart
    student_seeds: list[int] = field(default_factory=list)

    @property
    def grader_shapes(self) -> dict[str, tuple]:
        return {k: tuple(v.shape) for k, v in self.grader_init.items()}

    @property
    def student_shapes(self) -> dict[str, tuple]:
        return self.grader_shapes  # the lesson's ClassifierWithRNN has the grader's parameters

    @property
    def loop_tokens(self) -> torch.Tensor:
        return self.tokens[: self.recipe.loop_rows]

    @property
    def loop_y(self) -> torch.Tensor:
        return self.y[: self.recipe.loop_rows]

    def to_worker(self, probes) -> dict:
        """What the worker needs for `probes`: plain tensors, lists and numbers (torch.save, weights_only)."""
        job: dict = {"vocab_size": self.vocab_size, "pad": self.pad}
        if {"rnn_model", "mean_model"} & set(probes):
            job["cases"] = [{"sizes": [c.case.vocab_size, c.case.hidden_dim, c.case.embedding_dim,
                                       c.case.padding_idx], "weights": c.weights, "x": c.x, "tokens": c.tokens}
                            for c in self.cases]
        if {"loop", "training", "end_to_end"} & set(probes):
            job["tokens"], job["y"] = self.tokens, self.y
            job["loop_init"], job["grader_init"] = self.loop_init, self.grader_init
            job["student_inits"], job["student_seeds"] = self.student_inits, self.student_seeds
        if {"loop", "training"} & set(probes):  # the model train() is given: its source, never a module it imports
            job["training_model"] = training_model.source()
        return job


def load_grading_data(paths: DataPaths) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Token ids (N, 30), labels (N,) as floats, vocabulary size and pad id, as the lesson encodes them."""
    from autograder import data

    frame, _ = data.read_fakenews_csv(paths.csv)
    sp = data.load_tokenizer(paths.tokenizer)
    tokens = data.encode_titles(sp, frame["title"], verbose=False)
    y = torch.tensor(frame["real"].to_numpy(), dtype=torch.float32)
    return tokens, y, sp.get_piece_size(), data.pad_id(sp)


def make_plan(recipe: Recipe, data: DataPaths, secret: int, loaded=None) -> GradingPlan:
    """The plan for one grading, from `secret` (grading_secret). `loaded`: load_grading_data(data), if at hand."""
    tokens, y, vocab_size, pad = loaded or load_grading_data(data)
    g = torch.Generator().manual_seed(secret)
    seeds = torch.randint(0, 2**62, (16,), generator=g).tolist()
    cases = []
    for index, case in enumerate(MODEL_CASES):
        weights = _weights(case.vocab_size, case.hidden_dim, case.embedding_dim, case.padding_idx, seeds[index])
        x, _, case_tokens = case_inputs(case, torch.Generator().manual_seed(seeds[4 + index]))
        cases.append(Case(case, weights, x, case_tokens))
    # The vocabulary (the pad id stays) and the rows, permuted: weights trained ahead of time do not fit.
    others = torch.tensor([t for t in range(vocab_size) if t != pad], dtype=torch.long)
    mapping = torch.arange(vocab_size)
    mapping[others] = others[torch.randperm(len(others), generator=g)]
    rows = torch.randperm(len(y), generator=g)
    permuted = mapping[tokens][rows].contiguous()
    labels = y[rows].contiguous()
    hidden, embedding = recipe.hidden_dim, recipe.embedding_dim
    return GradingPlan(
        recipe=recipe, cases=cases, tokens=permuted, y=labels, vocab_size=vocab_size, pad=pad,
        grader_init=_weights(vocab_size, hidden, embedding, pad, seeds[8]),
        loop_init=_weights(vocab_size, hidden, embedding, pad, seeds[9]),
        student_inits=[_weights(vocab_size, hidden, embedding, pad, seeds[10] + r) for r in range(recipe.restarts)],
        student_seeds=[(seeds[11] + r) % 2**62 for r in range(recipe.restarts)],
    )
