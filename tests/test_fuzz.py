"""Properties of the entry points that read what a submission controls, for every input Hypothesis can find: the
notebook reader, the worker's result frames and the border. Each is total (it returns or refuses in its own words,
never raises anything else) and bounded. The end-to-end property (any notebook: three reports, exit 0 or 1) is in
tests/test_untrusted.py; this file is the fast tier."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder import border
from autograder.checks import PROBES
from autograder.notebook import Definitions, extract_definitions, read_definitions
from autograder.runner import MAX_FRAME_BYTES, load_json, read_frames

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30)
python_like = st.sampled_from([
    "def train(model, tokens, y, *, epochs, lr, device=None):\n    return []\n", "import torch\n", "x = 1; y = 2\n",
    "%matplotlib inline\n", "%%time\nx = 1\n", "%%bash\nls\n", "!pip install x\n", "class A:\n  pass\n", "def (:\n",
    "\n\n\n", "x = (" * 300, "a" + "+a" * 2500, "@decorator\ndef f():\n    pass\n", "\x00\ud800", "é = 'ü'; f(é)\n",
    "async def f():\n    await g()\n", "if True:\n\tx = 1\n        y = 2\n", "lambda: (yield)\n"])
sources = python_like | st.text(max_size=200) | st.lists(st.text(max_size=20), max_size=5) | json_values
cells = st.fixed_dictionaries(
    {"cell_type": st.sampled_from(["code", "markdown", "raw", 7, None]), "source": sources},
    optional={"metadata": st.fixed_dictionaries({}, optional={"nbgrader": json_values | st.fixed_dictionaries(
        {"grade_id": st.sampled_from(["train", "exp1", "load-data", "check-shapes", 3]),
         "grade": st.booleans(), "solution": st.booleans()})}), "outputs": json_values})
notebooks = st.fixed_dictionaries({"cells": st.lists(cells | json_values, max_size=8)},
                                  optional={"nbformat": st.integers(0, 9), "metadata": json_values}) | json_values


def _well_formed(found: Definitions) -> None:
    assert isinstance(found, Definitions)
    assert all(isinstance(p, str) and p for p in found.problems)
    for block in found.blocks:
        assert isinstance(block.source, str) and block.cell >= 1 and block.line >= 1
        assert block.kind in ("definition", "statement")
    assert found.names == {n for b in found.blocks for n in b.names}
    json.dumps(found.to_json())  # it can be sent to the worker


@FUZZ
@given(notebooks)
def test_the_reader_returns_for_any_notebook(nb):
    """Does extraction return well-formed definitions and problems for any structure a notebook file can hold?"""
    start = time.perf_counter()
    _well_formed(extract_definitions(nb))
    assert time.perf_counter() - start < 10


@FUZZ
@given(st.binary(max_size=2000) | notebooks.map(lambda nb: json.dumps(nb, default=str).encode()))
def test_reading_any_file_gives_definitions_or_a_problem(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("nb") / "submission.ipynb"
    path.write_bytes(content)
    _well_formed(read_definitions(path))


def test_a_huge_cell_is_read_in_linear_time():
    """16,000 one-line statements (about 190 KB) in one cell: read in seconds, not minutes (issue 19)."""
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell("".join(f"value_{i} = {i}\n" for i in range(16_000)))])
    start = time.perf_counter()
    assert len(extract_definitions(nb).blocks) == 16_000
    assert time.perf_counter() - start < 30


@FUZZ
@given(st.binary(max_size=3000) | st.lists(st.tuples(json_values, st.binary(max_size=40)), max_size=4).map(
    lambda parts: b"".join(json.dumps(h, default=str).encode()[:1000] + b"\n" + p for h, p in parts)))
def test_any_bytes_on_the_result_channel_give_frames_or_problems(data):
    frames, problems = read_frames(data, {"load", "rnn_model", "loop"})
    assert set(frames) <= {"load", "rnn_model", "loop"} and all(isinstance(p, str) for p in problems)


@FUZZ
@given(st.binary(max_size=500) | st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n) |
       st.integers(1, 5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n))
def test_json_from_a_worker_is_parsed_or_refused_never_recursed_into(data):
    try:
        load_json(data, "report", MAX_FRAME_BYTES)
    except ValueError as err:
        assert str(err).startswith("report:")


@pytest.fixture(scope="module")
def plan():
    import canned

    return canned.plan()


def _shaped_like(probe: str):
    """Structures with the keys a probe's validator asks for, and anything as values: deep enough to get past the
    first checks."""
    keys = {"rnn_model": ["cases", "error", "summary", "logits"], "mean_model": ["cases", "error", "summary"],
            "loop": ["runs", "error", "epochs", "device", "spy", "losses"],
            "training": ["error", "epochs", "final_state", "steps", "checkpoints", "losses"],
            "end_to_end": ["runs", "error", "seed", "losses", "final_state"]}[probe]
    return st.recursive(json_values, lambda inner: st.dictionaries(st.sampled_from(keys), inner, max_size=6) |
                        st.lists(inner, max_size=3), max_leaves=25)


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_the_border_accepts_or_refuses_whatever_a_probe_sends(probe, plan):
    """Whatever came back as a probe's result, does validation return its data or raise BorderError, and nothing
    else (no KeyError, no TypeError, no RecursionError)?"""

    @FUZZ
    @given(_shaped_like(probe))
    def check(data):
        try:
            border.validate(probe, data, plan)
        except border.BorderError:
            pass

    check()
