"""The lesson's data: finding FakeNewsNet (the offline fixture, a CSV, or Kaggle through kagglehub), reading and
checking the CSV, training and loading the sentencepiece tokenizer, and turning titles into padded token ids.

The notebook reaches these through its helper module (`fakenews_lesson.py`, beside it); the grader reads its data
through the same functions, so a student's run and a grading run see the same rows and tokens.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import sentencepiece as spm
import torch

from autograder import resources

if TYPE_CHECKING:
    import pandas as pd

KAGGLE_HANDLE = "algord/fake-news"  # the dataset on Kaggle; a versioned handle is "algord/fake-news/versions/N"
CSV_NAME = "FakeNewsNet.csv"
TOKENIZER_NAME = "fakenews_tokenizer.model"
PAD_PIECE = "<PAD>"
MAX_LEN = 30  # every headline is cut or right-padded to this many tokens
REQUIRED_COLUMNS = ("title", "real")  # what the lesson uses
KAGGLE_COLUMNS = ("title", "news_url", "source_domain", "tweet_num", "real")

DATA_ENV = "FAKENEWS_DATA"  # "kaggle", a CSV file or a folder holding FakeNewsNet.csv; unset: the fixture
HANDLE_ENV = "FAKENEWS_KAGGLE_HANDLE"  # another handle, e.g. a pinned version
FIXTURE_ENV = "FAKENEWS_FIXTURE_DIR"  # another folder holding the offline fixture (default: the kit's)
TOKENIZER_ENV = "FAKENEWS_TOKENIZER"  # a sentencepiece model; unset: the one beside the data, else the fixture's
UNKNOWN_WARNING = 0.01  # encode_titles warns when more than this share of the pieces is unknown to the tokenizer


class DataError(ValueError):
    """The data could not be found or read; the message names the file and what to do."""


# ----------------------------------------------------------------------------------------------- finding the data

def fixture_dir() -> Path:
    """The folder of the small offline fixture (FakeNewsNet.csv and its tokenizer): $FAKENEWS_FIXTURE_DIR, else the
    copy the kit ships."""
    if os.environ.get(FIXTURE_ENV):
        folder = Path(os.environ[FIXTURE_ENV])
        if not (folder / CSV_NAME).is_file():
            raise DataError(f"{FIXTURE_ENV}={folder} holds no {CSV_NAME}. Point it at the folder that holds the "
                            f"fixture, or unset it to use the kit's own copy.")
        return folder
    return resources.fixture_dir()


def download_kaggle(handle: str | None = None) -> Path:
    """Downloads (or finds in kagglehub's cache) the FakeNewsNet CSV; returns its path."""
    import kagglehub  # imported here: the offline path never needs it

    handle = handle or os.environ.get(HANDLE_ENV) or KAGGLE_HANDLE
    try:
        folder = Path(kagglehub.dataset_download(handle))
    except Exception as err:  # kagglehub raises requests' and its own errors; all mean "not available here"
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise DataError(
            f"Could not get the Kaggle dataset {handle!r} ({type(err).__name__}: {reason}). "
            f"Kaggle may be unreachable from this machine. Download {CSV_NAME} by hand and pass its path "
            f"(argument `source`, or the environment variable {DATA_ENV}=/path/to/{CSV_NAME}), "
            f"or pre-fill kagglehub's cache (KAGGLEHUB_CACHE) and use a versioned handle such as "
            f"'{KAGGLE_HANDLE}/versions/1' ({HANDLE_ENV}). Unset {DATA_ENV} to use the small offline fixture."
        ) from None
    return _csv_in(folder)


def _csv_in(path: Path) -> Path:
    if path.is_dir():
        for name in (CSV_NAME, CSV_NAME + ".gz"):
            if (path / name).is_file():
                return path / name
        csvs = sorted(path.glob("*.csv")) or sorted(path.glob("*.csv.gz"))
        if len(csvs) == 1:
            return csvs[0]
        raise DataError(f"{path} is a folder without {CSV_NAME} (found {[c.name for c in csvs] or 'no CSV files'}).")
    if not path.exists():
        raise DataError(f"{path} does not exist. Pass a path to {CSV_NAME} or to the folder that holds it.")
    return path


def resolve_data(source: str | os.PathLike | None = None) -> Path:
    """Where the headlines come from: `source`, else $FAKENEWS_DATA, else the fixture.

    `source` may be "kaggle" (kagglehub download, or its cache), "fixture", a CSV file, or a folder holding one.
    """
    source = source if source is not None else os.environ.get(DATA_ENV) or "fixture"
    if str(source) == "fixture":
        return fixture_dir() / CSV_NAME
    if str(source) == "kaggle":
        return download_kaggle()
    return _csv_in(Path(source).expanduser())


# ------------------------------------------------------------------------------------------------ reading the CSV

@dataclass
class LoadReport:
    """What `read_fakenews_csv` kept and what it dropped, and why (reason -> 1-based CSV line numbers)."""

    path: Path
    kept: int = 0
    dropped: dict[str, list[int]] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"{self.path}: {self.kept} headlines kept"
        for reason, lines in self.dropped.items():
            shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
            text += f"; {len(lines)} dropped ({reason}: line {shown})"
        return text


def _record_lines(text: str, rows: int) -> np.ndarray:
    """The 1-based line on which each data row starts (a quoted title may span several lines), as the csv module
    reads the file; pandas, like it, skips blank lines. Falls back to one line per row if the two disagree."""
    starts, previous = [], 0
    reader = csv.reader(io.StringIO(text))
    try:
        for record in reader:
            if record:
                starts.append(previous + 1)
            previous = reader.line_num
    except csv.Error:
        starts = []
    if len(starts) - 1 != rows:
        return np.arange(rows) + 2
    return np.array(starts[1:])


def read_fakenews_csv(path: str | os.PathLike, *, strict: bool = False) -> tuple[pd.DataFrame, LoadReport]:
    """Reads and checks a CSV in the Kaggle FakeNewsNet schema.

    File-level problems (missing, empty, not UTF-8, not a CSV, missing columns) raise DataError naming the file.
    Rows with an empty title or a label outside {0, 1} are dropped and counted in the report (strict: DataError).
    Returns the kept rows (index reset; `real` as int) and the report.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is not a file.")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip (FakeNewsNet.csv.gz): read as the CSV it holds
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{path} looks gzipped but could not be decompressed ({err}). Decompress it by hand "
                            f"(gunzip) and pass the CSV.") from None
    if raw[:4] == b"PK\x03\x04":
        raise DataError(f"{path} is a zip archive. Unzip it (Kaggle's download holds {CSV_NAME}) and pass the CSV "
                        f"or the folder it is in.")
    if not raw.strip():
        raise DataError(f"{path} is empty: expected a CSV with a header row ({', '.join(KAGGLE_COLUMNS)}).")
    if b"\x00" in raw[:4096]:
        raise DataError(f"{path} is not a CSV file (it holds binary data). Expected {CSV_NAME} from Kaggle (or a "
                        f"gzipped copy of it).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8 text (byte 0x{raw[err.start]:02x} on line {line}). Re-save it as UTF-8."
        ) from None
    import pandas as pd  # here: a third of a second to import, and the grader's workers never read a CSV

    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{path} could not be read as CSV: {str(err).strip()}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path} lacks the column(s) {missing}; found {list(frame.columns)}. "
            f"Expected the Kaggle FakeNewsNet schema: {', '.join(KAGGLE_COLUMNS)}."
        )

    report = LoadReport(path)
    line_numbers = _record_lines(text, len(frame))
    title = frame["title"].str.strip()
    label = pd.to_numeric(frame["real"].str.strip(), errors="coerce")
    empty_title = title == ""
    bad_label = ~label.isin([0, 1])
    for reason, mask in (("empty title", empty_title), ("label not 0 or 1", bad_label & ~empty_title)):
        if mask.any():
            report.dropped[reason] = line_numbers[mask.to_numpy()].tolist()
    keep = ~(empty_title | bad_label)
    if strict and report.dropped:
        raise DataError(report.summary())
    frame = frame[keep].assign(title=title[keep], real=label[keep].astype(int)).reset_index(drop=True)
    report.kept = len(frame)
    if report.kept == 0:
        raise DataError(f"{path} has no usable rows. {report.summary()}")
    return frame, report


def load_fakenews(source: str | os.PathLike | None = None, *, verbose: bool = True) -> pd.DataFrame:
    """The headlines as a DataFrame (title, real, ...), from `source` (see resolve_data). Prints what was dropped."""
    frame, report = read_fakenews_csv(resolve_data(source))
    if verbose:
        print(report.summary())
    return frame


# ---------------------------------------------------------------------------------------------------- tokenizing

def train_tokenizer(
    csv_path: str | os.PathLike,
    model_prefix: str | os.PathLike,
    *,
    vocab_size: int = 5000,
    model_type: str = "bpe",
    balance: bool = True,
    seed: int = 0,
) -> Path:
    """Trains a sentencepiece model on the titles of a FakeNewsNet CSV; returns the path of the .model file.

    The piece <PAD> gets id 0. With `balance`, the tokenizer sees as many fake as real titles: trained on the 75/25
    corpus itself it splits minority-class words into more pieces, and headline length alone then leaks the label.
    """
    frame, report = read_fakenews_csv(csv_path)
    titles = frame["title"]
    if balance:
        per_class = frame["real"].value_counts().min()
        titles = frame.groupby("real", group_keys=False)["title"].apply(
            lambda t: t.sample(n=per_class, random_state=seed)
        )
    model_prefix = Path(model_prefix)
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()  # written here, not by the trainer, so the file does not record the folder it was made in
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sorted(titles)),  # sorted: the same input order on every run
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            pad_id=0, pad_piece=PAD_PIECE, unk_id=1, bos_id=-1, eos_id=-1,
            character_coverage=1.0,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as err:
        fits = re.search(r"value <= (\d+)", str(err))
        if not fits:
            raise
        raise DataError(f"A vocabulary of {vocab_size} pieces is too large for the {len(titles)} titles of "
                        f"{report.path}: use --vocab-size {fits.group(1)} at most.") from None
    model_path = model_prefix.with_suffix(".model")
    model_path.write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    vocab = "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.get_piece_size()))
    model_prefix.with_suffix(".vocab").write_text(vocab, encoding="utf-8")
    return model_path


def tokenizer_path(path: str | os.PathLike | None = None, data: str | os.PathLike | None = None) -> Path:
    """Which tokenizer goes with the data: `path`, else $FAKENEWS_TOKENIZER, else fakenews_tokenizer.model beside the
    data's CSV (`data` as for resolve_data), else the fixture's."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(TOKENIZER_ENV):
        return Path(os.environ[TOKENIZER_ENV]).expanduser()
    return tokenizer_beside(resolve_data(data))


def tokenizer_beside(csv_path: str | os.PathLike) -> Path:
    """fakenews_tokenizer.model in the CSV's folder, else the fixture's."""
    beside = Path(csv_path).parent / TOKENIZER_NAME
    return beside if beside.is_file() else fixture_dir() / TOKENIZER_NAME


def borrows_fixture_tokenizer(csv_path: str | os.PathLike, tokenizer: str | os.PathLike) -> bool:
    """Data other than the fixture, tokenized with the fixture's small tokenizer: worth a warning."""
    return Path(tokenizer) == fixture_dir() / TOKENIZER_NAME and Path(csv_path) != fixture_dir() / CSV_NAME


def load_tokenizer(path: str | os.PathLike | None = None, *, data: str | os.PathLike | None = None,
                   verbose: bool = True) -> spm.SentencePieceProcessor:
    """Loads a sentencepiece model (see tokenizer_path: default, the one beside the data) and checks that it has a
    <PAD> piece. Says so when data other than the fixture get the fixture's tokenizer."""
    chosen = tokenizer_path(path, data)
    if verbose and path is None and not os.environ.get(TOKENIZER_ENV) and \
            borrows_fixture_tokenizer(resolve_data(data), chosen):
        print(f"warning: no {TOKENIZER_NAME} beside {resolve_data(data)}: using the offline sample's small tokenizer "
              f"({chosen}). Train one for these data: fakenews-lesson train-tokenizer {resolve_data(data)} "
              f"--vocab-size 5000 --model-prefix {resolve_data(data).parent / 'fakenews_tokenizer'}")
    path = chosen
    if not path.is_file():
        raise DataError(f"Tokenizer {path} not found. Train one with: fakenews-lesson train-tokenizer CSV")
    sp = spm.SentencePieceProcessor(model_file=str(path))
    pad_id(sp)
    return sp


def pad_id(sp: spm.SentencePieceProcessor) -> int:
    """The id of the <PAD> piece, read from the model."""
    pid = sp.piece_to_id(PAD_PIECE)
    if pid == sp.unk_id() or sp.id_to_piece(pid) != PAD_PIECE:
        raise DataError(f"The tokenizer has no {PAD_PIECE} piece; train it with fakenews-lesson train-tokenizer.")
    return pid


def pad_to_len(ids: Sequence[int], length: int, pad: int) -> list[int]:
    """Cuts a token list to `length`, or right-pads it with `pad`."""
    return list(ids[:length]) + [pad] * max(0, length - len(ids))


def unknown_share(sp: spm.SentencePieceProcessor, encoded: Sequence[Sequence[int]]) -> float:
    """The share of pieces the tokenizer does not know (<unk>): near 0 for a tokenizer trained on these data."""
    pieces = sum(len(ids) for ids in encoded)
    unknown = sum(ids.count(sp.unk_id()) for ids in encoded)
    return unknown / pieces if pieces else 0.0


def encode_titles(sp: spm.SentencePieceProcessor, titles: Iterable[str], length: int = MAX_LEN, *,
                  verbose: bool = True) -> torch.Tensor:
    """Token ids of each title, right-padded to `length`: a LongTensor (len(titles), length). Warns when the
    tokenizer does not fit the titles (more than 1% unknown pieces)."""
    pad = pad_id(sp)
    encoded = sp.encode(list(titles))
    share = unknown_share(sp, encoded)
    if verbose and share > UNKNOWN_WARNING:
        print(f"warning: {share:.1%} of the pieces are unknown to this tokenizer ({sp.get_piece_size()} pieces): it "
              f"was trained on other data. Train one on these: fakenews-lesson train-tokenizer CSV --vocab-size 5000")
    return torch.tensor([pad_to_len(ids, length, pad) for ids in encoded], dtype=torch.long)
