"""The grader's settings as plain data, importable without torch: the training recipe and where the data lie."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path



@dataclass(frozen=True)
class Recipe:
    """How the grader trains. Calibrated in calibration/README.md; change it only with a new calibration."""

    seed: int = 0  # every seed below derives from this one
    epochs: int = 500  # the training run shared by loss_decreases and separability
    lr: float = 1e-2  # lesson: 1e-3 x 3000 epochs; 1e-2 x 500 reaches the same at a sixth of the cost
    hidden_dim: int = 2
    embedding_dim: int = 2
    restarts: int = 6  # end_to_end: the student's model may take this many seeds to leave the plateau
    restart_below: float = 0.72  # end_to_end: another seed only while the last run scored below this (worker's count)
    checkpoints: tuple[int, ...] = (10, 50, 150)  # loss_decreases: returned losses compared with the weights here
    # (and at the first and the last epoch), at up to `samples` points spread over that epoch's optimizer steps
    samples: int = 5
    loop_rows: int = 64  # the short, spied run that checks device placement and the optimizer protocol
    loop_epochs: int = 3

    def loss_epochs(self) -> tuple[int, ...]:
        """The epochs whose returned loss loss_decreases compares with the loss recomputed along that epoch."""
        return tuple(sorted({0, *(e for e in self.checkpoints if 0 < e < self.epochs), self.epochs - 1}))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Recipe":
        return cls(**{**data, "checkpoints": tuple(data["checkpoints"])})


@dataclass(frozen=True)
class DataPaths:
    csv: str
    tokenizer: str


def fixture_paths() -> DataPaths:
    """The offline fixture (or $FAKENEWS_FIXTURE_DIR), found without importing the lesson's heavy modules."""
    from autograder.resources import fixture_dir

    folder = Path(os.environ.get("FAKENEWS_FIXTURE_DIR") or fixture_dir())
    return DataPaths(str(folder / "FakeNewsNet.csv"), str(folder / "fakenews_tokenizer.model"))


def default_data_paths(data: str | None = None, tokenizer: str | None = None) -> DataPaths:
    """The grader's data: the fixture unless told otherwise (a CSV, a folder, or 'kaggle')."""
    if data is None and tokenizer is None:
        return fixture_paths()
    from autograder import data as lesson_data

    csv = lesson_data.resolve_data(data if data is not None else "fixture")
    if tokenizer is None:
        tokenizer = lesson_data.tokenizer_beside(csv)
        if lesson_data.borrows_fixture_tokenizer(csv, tokenizer):
            import sys

            print(f"autograder: warning: no {lesson_data.TOKENIZER_NAME} beside {csv}: grading with the offline "
                  f"fixture's small tokenizer; pass --tokenizer (fakenews-lesson train-tokenizer makes one)",
                  file=sys.stderr)
    return DataPaths(str(csv), str(tokenizer))
