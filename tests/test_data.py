"""Loading FakeNewsNet: the fixture default, overrides, kagglehub offline, and every kind of bad CSV."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder import data as lesson
from autograder.data import DataError, load_fakenews, read_fakenews_csv, resolve_data

HEADER = "title,news_url,source_domain,tweet_num,real\n"


def write(tmp_path: Path, text: str | bytes, name: str = "FakeNewsNet.csv") -> Path:
    path = tmp_path / name
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def test_fixture_is_the_default():
    """Does no argument and no environment give the fixture, about 75% real, in the Kaggle schema?"""
    frame = load_fakenews(verbose=False)
    assert resolve_data() == lesson.fixture_dir() / "FakeNewsNet.csv"
    assert list(frame.columns) == list(lesson.KAGGLE_COLUMNS)
    assert 300 <= len(frame) <= 600
    assert 0.7 <= frame["real"].mean() <= 0.8
    assert set(frame["real"]) == {0, 1}


def test_environment_variable_and_folder_override(tmp_path, monkeypatch):
    """Does $FAKENEWS_DATA pointing at a folder find FakeNewsNet.csv inside it?"""
    write(tmp_path, HEADER + "A headline,u,d,1,1\nAnother,u,d,2,0\n")
    monkeypatch.setenv("FAKENEWS_DATA", str(tmp_path))
    assert len(load_fakenews(verbose=False)) == 2
    assert resolve_data(tmp_path / "FakeNewsNet.csv") == tmp_path / "FakeNewsNet.csv"


def test_good_csv_keeps_every_row(tmp_path):
    path = write(tmp_path, HEADER + '"Quoted, with comma",u,d,3,1\nPlain,u,d,0,0\n')
    frame, report = read_fakenews_csv(path)
    assert frame["title"].tolist() == ["Quoted, with comma", "Plain"]
    assert frame["real"].tolist() == [1, 0] and report.kept == 2 and not report.dropped


def test_only_title_and_real_are_required(tmp_path):
    frame, _ = read_fakenews_csv(write(tmp_path, "title,real\nOne,1\nTwo,0\n"))
    assert len(frame) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("   \n\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
        (HEADER.encode() + b"Caf\xe9 news,u,d,1,1\n", "not UTF-8 text (byte 0xe9 on line 2)"),
        ("headline,label\nOne,1\n", "lacks the column(s) ['title', 'real']"),
        ("title,news_url\nOne,u\n", "lacks the column(s) ['real']"),
        ('title,real\n"unterminated,1\n', "could not be read as CSV"),
        (HEADER + ",u,d,1,1\n", "has no usable rows"),
    ],
    ids=["empty", "blank", "binary", "not-utf8", "no-columns", "no-label", "bad-quoting", "no-usable-rows"],
)
def test_bad_csv_gets_one_clear_error_naming_the_file(tmp_path, content, message):
    """Does each file-level problem raise one DataError that names the file and the problem?"""
    path = write(tmp_path, content)
    with pytest.raises(DataError) as caught:
        read_fakenews_csv(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_bad_rows_are_dropped_and_counted(tmp_path):
    """Are rows with an empty title or a label outside {0, 1} dropped, counted, and located by line?"""
    rows = ["Good one,u,d,1,1", ",u,d,1,1", "Bad label,u,d,1,2", "No label,u,d,1,", "Yes label,u,d,1,yes",
            "Float label,u,d,1,1.0", "   ,u,d,1,0", "Good two,u,d,1,0"]
    frame, report = read_fakenews_csv(write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert frame["title"].tolist() == ["Good one", "Float label", "Good two"]
    assert report.dropped == {"empty title": [3, 8], "label not 0 or 1": [4, 5, 6]}
    summary = report.summary()
    assert "3 headlines kept" in summary and "2 dropped (empty title: line 3, 8)" in summary
    with pytest.raises(DataError, match="label not 0 or 1"):
        read_fakenews_csv(tmp_path / "FakeNewsNet.csv", strict=True)


def test_load_prints_what_it_dropped(tmp_path, capsys):
    load_fakenews(write(tmp_path, HEADER + "Fine,u,d,1,1\nBad,u,d,1,7\n"))
    assert "1 headlines kept; 1 dropped (label not 0 or 1: line 3)" in capsys.readouterr().out


@pytest.mark.parametrize("make", [lambda p: p / "missing.csv", lambda p: p], ids=["no-such-file", "empty-folder"])
def test_missing_paths_are_named(tmp_path, make):
    with pytest.raises(DataError, match=str(tmp_path)):
        resolve_data(make(tmp_path))


def test_kagglehub_reads_a_prefilled_cache(tmp_path, monkeypatch):
    """Does the real kagglehub path work offline from a cache holding a versioned handle?"""
    version = tmp_path / "datasets" / "algord" / "fake-news" / "versions" / "3"
    version.mkdir(parents=True)
    shutil.copy(lesson.fixture_dir() / "FakeNewsNet.csv", version / "FakeNewsNet.csv")
    (tmp_path / "datasets" / "algord" / "fake-news" / "3.complete").touch()
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))
    monkeypatch.setenv("FAKENEWS_KAGGLE_HANDLE", "algord/fake-news/versions/3")
    assert resolve_data("kaggle") == version / "FakeNewsNet.csv"
    assert len(load_fakenews("kaggle", verbose=False)) == len(load_fakenews(verbose=False))


def test_unreachable_kaggle_names_the_override(tmp_path, monkeypatch):
    """Does an unreachable Kaggle give one message naming the override, not a stack of HTTP errors?"""
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")  # kagglehub then asks localhost:7777, where nothing listens
    with pytest.raises(DataError) as caught:
        resolve_data("kaggle")
    message = str(caught.value)
    assert "Could not get the Kaggle dataset 'algord/fake-news'" in message
    assert "FAKENEWS_DATA" in message and "KAGGLEHUB_CACHE" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_gzipped_csv_is_read_and_zip_is_named(tmp_path):
    """A .csv.gz is read as the CSV it holds (also found in a folder); a zip archive gets one message to unzip it."""
    import gzip
    import zipfile

    text = "title,news_url,source_domain,tweet_num,real\nfine,u,d,1,1\nalso fine,u,d,1,0\n"
    (tmp_path / "FakeNewsNet.csv.gz").write_bytes(gzip.compress(text.encode()))
    frame, report = read_fakenews_csv(resolve_data(tmp_path))
    assert report.kept == 2 and list(frame["real"]) == [1, 0]
    with zipfile.ZipFile(tmp_path / "archive.zip", "w") as archive:
        archive.writestr("FakeNewsNet.csv", text)
    with pytest.raises(DataError, match="is a zip archive. Unzip it"):
        read_fakenews_csv(tmp_path / "archive.zip")


def test_dropped_rows_name_their_line_when_titles_span_lines(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text('title,news_url,source_domain,tweet_num,real\n"A title\nover\nthree lines",u,d,1,1\n\n'
                    ',u,d,1,1\nok,u,d,1,7\nfine,u,d,1,0\n')
    frame, report = read_fakenews_csv(path)
    assert report.kept == 2
    assert report.dropped == {"empty title": [6], "label not 0 or 1": [7]}
