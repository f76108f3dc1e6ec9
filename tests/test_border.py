"""The border between the worker and the judges (autograder/border.py), on canned probe data: hostile shapes,
lying lengths, forged strings, in milliseconds. And the helpers that keep the grader healthy around it."""

from __future__ import annotations

import threading

import pytest
import torch

from autograder import border, sandbox
from autograder.plan import make_plan
from autograder.recipe import Recipe, fixture_paths


@pytest.fixture(scope="module")
def plan():
    return make_plan(Recipe(), fixture_paths(), secret=1234)


def test_clean_text_removes_escapes_and_controls():
    """Are ANSI escapes (colour, clear screen, window title), NUL, bidi overrides and C1 controls removed, newlines
    and tabs kept, and the length capped?"""
    dirty = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[32mtotal 12 / 12\x1b[0m\x00\u202e\x85ok\n\tnext"
    assert border.clean_text(dirty) == "total 12 / 12ok\n\tnext"
    assert len(border.clean_text("x" * 10_000, 50)) == 50


def test_stride_zero_tensor_is_refused(plan):
    huge = torch.zeros(1).expand(10**6, 10**6)
    with pytest.raises(border.BorderError, match="larger than anything"):
        border.tensor(huge, "summary")
    view = torch.zeros(10, 10)[:, :5]
    with pytest.raises(border.BorderError, match="storage"):
        border.tensor(view, "summary")


def test_losses_whose_length_lies_are_refused():
    with pytest.raises(border.BorderError, match="length 3 but 7 values"):
        border.losses({"type": "list", "kinds": ["float"], "length": 3, "values": [0.5] * 7, "plain": True}, "losses", 3)
    with pytest.raises(border.BorderError, match="whole number"):
        border.losses({"type": "list", "kinds": ["float"], "length": 10**6, "values": None, "plain": True}, "losses", 3)
    good = border.losses({"type": "list", "kinds": ["float"], "length": 3, "values": [0.7, 0.6, float("nan")],
                          "plain": True}, "losses", 3)
    assert good["values"][:2] == [0.7, 0.6] and not good["finite"]


def test_too_many_runs_and_unknown_keys_are_refused(plan):
    run = {"error": None, "seed": 1, "losses": {"type": "list", "kinds": [], "length": 0, "values": [], "plain": True},
           "final_state": {k: v.clone() for k, v in plan.grader_init.items()}}
    with pytest.raises(border.BorderError, match="at most"):
        border.validate("end_to_end", {"runs": [run] * 400}, plan)
    with pytest.raises(border.BorderError, match="keys"):
        border.validate("end_to_end", {"runs": [run], "score": 12}, plan)
    assert len(border.validate("end_to_end", {"runs": [run]}, plan)["runs"]) == 1


def test_a_state_dict_of_other_shapes_is_refused(plan):
    state = {k: torch.zeros(3, 3) for k in plan.grader_init}
    with pytest.raises(border.BorderError, match="shape"):
        border.state(state, "final_state", plan.grader_shapes)


def test_forged_device_names_are_refused():
    with pytest.raises(border.BorderError, match="not a device name"):
        border.load_report({"failures": [], "device": "\x1b[2Jcuda"})
    with pytest.raises(border.BorderError, match="keys"):
        border.load_report({"cell": 1})
    assert border.load_report({"failures": [], "device": "cuda:0"})["device"] == "cuda:0"


def test_errors_are_cleaned_and_capped():
    error = border.error({"type": "\x1b[31mBoom", "message": "x\x00" * 5000, "where": ["w"] * 3}, "error")
    assert error["type"] == "Boom" and len(error["message"]) <= border.MAX_TEXT and "\x00" not in error["message"]
    with pytest.raises(border.BorderError):
        border.error({"type": "A", "message": "b", "where": ["w"] * 400}, "error")


def test_plan_is_secret_and_fixed_for_a_notebook(tmp_path, monkeypatch):
    """The same notebook and key give the same plan; another key, or another notebook, another one."""
    from autograder.plan import grading_secret

    monkeypatch.setenv("AUTOGRADER_KEY", "course-key")
    one = grading_secret(b"notebook", Recipe())
    assert grading_secret(b"notebook", Recipe()) == one
    assert grading_secret(b"other notebook", Recipe()) != one
    monkeypatch.setenv("AUTOGRADER_KEY", "another key")
    assert grading_secret(b"notebook", Recipe()) != one
    a, b = make_plan(Recipe(), fixture_paths(), 1), make_plan(Recipe(), fixture_paths(), 2)
    assert not torch.equal(a.tokens, b.tokens) and not torch.equal(a.grader_init["rnn.weight_hh_l0"],
                                                                    b.grader_init["rnn.weight_hh_l0"])
    assert sorted(a.y.tolist()) == sorted(b.y.tolist())  # the same data, in another order, ids permuted
    assert (a.tokens == a.pad).sum() == (b.tokens == b.pad).sum()


def test_concurrent_workers_lease_distinct_uids(tmp_path, monkeypatch):
    """Issue 12: at the uid level, workers started at once never share a uid (a lock per uid)."""
    monkeypatch.setattr(sandbox, "UID_LOCKS", tmp_path / "locks")
    box = sandbox.Sandbox("uid")
    held, barrier, lock = [], threading.Barrier(24), threading.Lock()

    def lease():
        with box.lease_uid() as uid:
            with lock:
                held.append(uid)
            barrier.wait(timeout=30)  # all 24 hold theirs at the same time

    threads = [threading.Thread(target=lease) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(held) == 24 and len(set(held)) == 24 and all(u in sandbox.UID_RANGE for u in held)


def test_the_plan_permutes_the_vocabulary_but_keeps_the_pad_id(plan):
    """Does the permuted data keep its padding where it was (the pad id is public) and change the token ids?"""
    from autograder.plan import load_grading_data

    tokens, y, vocab_size, pad = load_grading_data(fixture_paths())
    assert plan.pad == pad and plan.vocab_size == vocab_size
    assert sorted((plan.tokens == pad).sum(1).tolist()) == sorted((tokens == pad).sum(1).tolist())
    assert sorted(plan.y.tolist()) == sorted(y.tolist()) and not torch.equal(plan.tokens, tokens)


def test_a_worker_gets_only_what_its_probes_need(plan):
    """The model probes' worker gets the model cases and no training data; the training probes' the data."""
    assert set(plan.to_worker(["rnn_model"])) == {"vocab_size", "pad", "cases"}
    assert "cases" not in plan.to_worker(["training"]) and "tokens" in plan.to_worker(["training"])


def test_the_weak_level_is_never_chosen_silently(monkeypatch):
    """Issue 19: where only the rlimits level works, grading refuses and says what to install; an instructor who
    names the level gets it."""
    monkeypatch.setattr(sandbox, "_works", lambda level: level == "rlimits")
    monkeypatch.delenv("AUTOGRADER_SANDBOX", raising=False)
    choose = sandbox.best.__wrapped__  # best() is cached per process: ask afresh
    with pytest.raises(RuntimeError, match="grading refused.*read the grading key.*apt-get install bubblewrap"):
        choose()
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "rlimits")
    assert choose().level == "rlimits"
