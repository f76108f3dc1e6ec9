"""The sentencepiece tokenizer: training command, <PAD> piece, padding."""

from __future__ import annotations

import pytest
import sentencepiece as spm
import torch

from autograder import data as lesson
from autograder.lesson_cli import main as lesson_main


def test_train_tokenizer_command(tmp_path, capsys):
    """Does `fakenews-lesson train-tokenizer` write a model whose size and <PAD> id are read from it?"""
    prefix = tmp_path / "tok" / "fakenews_tokenizer"
    code = lesson_main(["train-tokenizer", "fixture", "--model-prefix", str(prefix), "--vocab-size", "200"])
    assert code == 0
    sp = lesson.load_tokenizer(prefix.with_suffix(".model"))
    assert sp.get_piece_size() == 200
    assert sp.id_to_piece(lesson.pad_id(sp)) == "<PAD>"
    assert "200 pieces, <PAD> id 0" in capsys.readouterr().out


def test_train_tokenizer_reports_bad_data(tmp_path, capsys):
    assert lesson_main(["train-tokenizer", str(tmp_path / "nope.csv")]) == 2
    assert "error:" in capsys.readouterr().err


def test_tokenizer_without_pad_is_refused(tmp_path):
    titles = [f"headline number {i} about things" for i in range(50)]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(titles), model_prefix=str(tmp_path / "nopad"),
                                   vocab_size=30, minloglevel=2)
    with pytest.raises(lesson.DataError, match="no <PAD> piece"):
        lesson.load_tokenizer(tmp_path / "nopad.model")


def test_too_large_vocabulary_says_what_fits(tmp_path):
    with pytest.raises(lesson.DataError, match=r"vocabulary of 90000 pieces is too large .* --vocab-size \d+ at most"):
        lesson.train_tokenizer(lesson.fixture_dir() / "FakeNewsNet.csv", tmp_path / "t", vocab_size=90000)


def test_pad_to_len_cuts_and_pads():
    assert lesson.pad_to_len([5, 6, 7], 5, 0) == [5, 6, 7, 0, 0]
    assert lesson.pad_to_len(list(range(40)), 30, 0) == list(range(30))


def test_fixture_headlines_fit_in_30_tokens():
    """Is no fixture headline cut (its label lives in its last words), and does each get some padding?"""
    sp = lesson.load_tokenizer()
    frame = lesson.load_fakenews(verbose=False)
    tokens = lesson.encode_titles(sp, frame["title"])
    assert tokens.shape == (len(frame), 30) and tokens.dtype == torch.long
    lengths = (tokens != lesson.pad_id(sp)).sum(1)
    assert lengths.max() < 30 and lengths.min() > 10


def test_the_tokenizer_beside_the_data_is_chosen_and_a_missing_one_is_said(tmp_path, monkeypatch, capsys):
    """Other data: the tokenizer beside them, or $FAKENEWS_TOKENIZER; else the fixture's, with a warning."""
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(lesson.fixture_dir() / "FakeNewsNet.csv", data / "FakeNewsNet.csv")
    lesson.load_tokenizer(data=data)
    assert "warning: no fakenews_tokenizer.model beside" in capsys.readouterr().out
    assert lesson.tokenizer_path(data=data) == lesson.fixture_dir() / "fakenews_tokenizer.model"
    lesson.train_tokenizer(data / "FakeNewsNet.csv", data / "fakenews_tokenizer", vocab_size=200)
    assert lesson.tokenizer_path(data=data) == data / "fakenews_tokenizer.model"
    assert lesson.load_tokenizer(data=data).get_piece_size() == 200
    assert "warning" not in capsys.readouterr().out
    monkeypatch.setenv("FAKENEWS_TOKENIZER", str(lesson.fixture_dir() / "fakenews_tokenizer.model"))
    assert lesson.load_tokenizer(data=data).get_piece_size() == 600
    assert lesson.load_tokenizer().get_piece_size() == 600 and "warning" not in capsys.readouterr().out


def test_a_tokenizer_that_does_not_fit_the_titles_is_said(capsys):
    sp = lesson.load_tokenizer()
    lesson.encode_titles(sp, ["plain words the fixture knows"])
    assert "warning" not in capsys.readouterr().out
    lesson.encode_titles(sp, ["Ωμέγα 漢字 ✓✓✓ ψψψ"] * 3)
    assert "of the pieces are unknown to this tokenizer" in capsys.readouterr().out


def test_grading_other_data_without_their_tokenizer_warns(tmp_path, capsys):
    import shutil

    from autograder.recipe import default_data_paths

    shutil.copy(lesson.fixture_dir() / "FakeNewsNet.csv", tmp_path / "FakeNewsNet.csv")
    paths = default_data_paths(str(tmp_path))
    assert paths.tokenizer.endswith("fakenews_tokenizer.model") and "pass --tokenizer" in capsys.readouterr().err
