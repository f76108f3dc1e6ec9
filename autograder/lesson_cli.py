"""`fakenews-lesson`: the lesson's data tools, for students and instructors.

    fakenews-lesson train-tokenizer [CSV] [--vocab-size 5000]   a sentencepiece model with a <PAD> piece
    fakenews-lesson run [--notebook NB] [--data CSV] [--tokenizer MODEL] [--out DIR]
                                                                 executes a lesson notebook (default: the solved one,
                                                                 grader package only) and saves it with its figures
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder import data, resources

FIGURES_ENV = "FAKENEWS_FIGURES"  # the helper module saves every figure there (fakenews_lesson._finish)


def _cmd_train_tokenizer(args: argparse.Namespace) -> int:
    model = data.train_tokenizer(
        data.resolve_data(args.csv), args.model_prefix, vocab_size=args.vocab_size, model_type=args.model_type,
        balance=not args.no_balance, seed=args.seed,
    )
    sp = data.load_tokenizer(model)
    print(f"wrote {model}: {sp.get_piece_size()} pieces, {data.PAD_PIECE} id {data.pad_id(sp)}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    """Executes a lesson notebook and writes it, executed, with its figures into --out."""
    import nbclient
    import nbformat

    notebook = Path(args.notebook).resolve() if args.notebook else resources.lesson_file("rnn_embeddings.ipynb")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(notebook, as_version=4)
    os.environ.setdefault("MPLBACKEND", "agg")
    if args.data:
        os.environ[data.DATA_ENV] = str(args.data)
    if args.tokenizer:
        os.environ[data.TOKENIZER_ENV] = str(Path(args.tokenizer).resolve())
    os.environ[FIGURES_ENV] = str(out / "figures")
    print(f"running {notebook.name} on {data.resolve_data(args.data)} ...", flush=True)
    client = nbclient.NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    finally:
        nbformat.write(nb, out / notebook.name)
    print(f"wrote {out / notebook.name} and figures in {out / 'figures'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fakenews-lesson", description="The RNN embeddings lesson's data tools.")
    sub = parser.add_subparsers(dest="command", required=True)

    tok = sub.add_parser("train-tokenizer", help="train fakenews_tokenizer.model with sentencepiece on a CSV")
    tok.add_argument("csv", nargs="?", default=None,
                     help=f"a FakeNewsNet CSV, a folder holding one, 'kaggle' or 'fixture' (default: ${data.DATA_ENV})")
    tok.add_argument("--model-prefix", default="fakenews_tokenizer", help="writes PREFIX.model and PREFIX.vocab")
    tok.add_argument("--vocab-size", type=int, default=5000, help="pieces, <PAD> included (lesson: 5000)")
    tok.add_argument("--model-type", default="bpe", choices=["bpe", "unigram", "word", "char"])
    tok.add_argument("--no-balance", action="store_true", help="train on all titles, not a class-balanced sample")
    tok.add_argument("--seed", type=int, default=0)
    tok.set_defaults(func=_cmd_train_tokenizer)

    run = sub.add_parser("run", help="execute the lesson notebook and save it with its figures")
    run.add_argument("--notebook", default=None, help="a lesson notebook (default: the kit's solved one)")
    run.add_argument("--out", default="lesson-output", help="folder for the executed notebook and figures")
    run.add_argument("--data", default=None, help="'kaggle', a CSV or a folder (default: the fixture)")
    run.add_argument("--tokenizer", default=None, help="a sentencepiece model (default: beside the data, else the "
                                                       f"fixture's; also ${data.TOKENIZER_ENV})")
    run.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    run.set_defaults(func=_cmd_run)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (data.DataError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
