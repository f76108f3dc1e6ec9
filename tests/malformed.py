"""The malformed corpus: broken files and broken notebooks. Each gets a verdict for every check with a message, and
the checks that can still run are scored: `scored` names the checks each one must still pass."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

import submissions as corpus
from autograder.checks import REGISTRY

REFERENCE = corpus.REFERENCE
ALL = frozenset(c.name for c in REGISTRY)  # every check
MODEL_CHECKS = frozenset({"shapes", "summarize_is_last_state", "mean_summary"})


@dataclass(frozen=True)
class Malformed:
    name: str
    write: Callable[[Path], None]  # writes the file at the given path
    scored: frozenset[str] = frozenset()  # checks that must still pass
    message: str = ""  # a fragment every failing check's message (or the notebook problems) must show


def _reference() -> nbformat.NotebookNode:
    return nbformat.read(REFERENCE, as_version=4)


def _edited(edit) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        nb = _reference()
        edit(nb)
        nbformat.write(nb, path)
    return write


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _set(grade_id: str, source: str):
    return _edited(lambda nb: setattr(_cell(nb, grade_id), "source", source))


def _drop(*grade_ids: str):
    def edit(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]
    return _edited(edit)


def _reorder(nb):
    """train() moved up to just after the imports, the questions to the top: the definitions still load."""
    train, questions = _cell(nb, "train"), [c for c in nb.cells if c.cell_type == "markdown"][-4:]
    rest = [c for c in nb.cells if c is not train and all(c is not q for q in questions)]
    imports = rest.index(_cell(nb, "imports"))
    nb.cells = questions + rest[: imports + 1] + [train] + rest[imports + 1:]


def _rename(nb):
    cell = _cell(nb, "ClassifierWithRNN")
    cell.source = cell.source.replace("class ClassifierWithRNN", "class RNNClassifier")
    mean = _cell(nb, "ClassifierWithMean")
    mean.source = mean.source.replace("(ClassifierWithRNN)", "(RNNClassifier)")


def _huge(path: Path) -> None:
    nb = _reference()
    blob = nbformat.v4.new_output("stream", name="stdout", text="y" * (50 * 2**20))
    _cell(nb, "exp1").outputs = [blob]
    nbformat.write(nb, path)


def _nbformat_3(path: Path) -> None:
    from nbformat.converter import convert

    nbformat.write(convert(_reference(), 3), path, version=3)


def _latin1(path: Path) -> None:
    raw = nbformat.writes(_reference()).encode("utf-8")
    path.write_bytes(raw.replace(b"Modelling sequences", "Mod\xe9lling sequences".encode("latin-1")))


TRAIN = "def train(model, tokens, y, *, epochs, lr, device=None):\n"

MALFORMED = (
    Malformed("NotJson", lambda p: p.write_text("this is not a notebook\n"), message="could not be read"),
    Malformed("EmptyFile", lambda p: p.write_bytes(b""), message="could not be read"),
    Malformed("JsonButNotANotebook", lambda p: p.write_text('{"title": "my homework", "cells": 3}'),
              message="could not be read"),
    Malformed("NotebookWithoutCells", lambda p: nbformat.write(nbformat.v4.new_notebook(), p), message="not found"),
    Malformed("FutureNbformatVersion", lambda p: p.write_text(json.dumps(
        {"nbformat": 9, "nbformat_minor": 0, "metadata": {}, "cells": []})), message="could not be read"),
    Malformed("Nbformat3Notebook", _nbformat_3, scored=ALL),  # upgraded on reading: graded like any other
    Malformed("TrainCellDeleted", _drop("train"), scored=MODEL_CHECKS, message="`train` not found"),
    Malformed("CellsReordered", _edited(_reorder), scored=ALL),  # definitions only: order does not matter
    Malformed("GradedNamesRenamed", _edited(_rename), scored=frozenset({"train_returns_losses", "device_placement",
                                                                         "optimizer_protocol", "loss_decreases",
                                                                         "separability"}),
              message="not found"),
    Malformed("SyntaxErrorInTrain", _set("train", TRAIN + "    for epoch in range(epochs)\n        pass\n"),
              scored=MODEL_CHECKS, message="syntax error"),
    Malformed("ExceptionAtImport", _set("imports", "import numpy as np\nimport torch\nimport torch.nn as nn\n"
                                                   "import torch.nn.functional as F\nimport module_that_does_not_exist\n"
                                                   "from fakenews_lesson import default_device, progress\n"),
              scored=MODEL_CHECKS, message="ModuleNotFoundError"),
    Malformed("NaNLosses", _set("train", TRAIN + "    return [float('nan')] * epochs\n"), scored=MODEL_CHECKS),
    Malformed("InfiniteLosses", _set("train", TRAIN + "    return [float('inf')] * epochs\n"), scored=MODEL_CHECKS),
    Malformed("WrongReturnTypes", _set("ClassifierWithRNN", _cell(_reference(), "ClassifierWithRNN").source.replace(
        "return outputs[:, -1, :]", "return outputs[:, -1, :].tolist()")), scored=frozenset({"mean_summary"})),
    Malformed("TrainReturnsATensor", _set("train", TRAIN + "    return torch.ones(epochs)\n"), scored=MODEL_CHECKS),
    Malformed("FiftyMegabyteNotebook", _huge, scored=ALL),
    Malformed("NotUtf8", _latin1, message="not UTF-8"),
)
