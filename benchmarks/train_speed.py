"""Benchmark: time per full-batch epoch, and time to a separable embedding, for the lesson's recipe.

The recipe: ClassifierWithRNN from the reference notebook (hidden 2, embedding 2), the reference train() (Adam,
lr 1e-3, full batch), at most 3000 epochs. Inputs: the fixture (400 rows) and a full-sized set of 23,000 rows made by
the fixture's generator (the real dataset's size; Kaggle is not reachable here). "Separable" means the 5-fold
balanced accuracy of the document embeddings (autograder.metrics.separability_score) reaches --separable; scoring is
done every --every epochs from a forward hook and its time is left out.

    python benchmarks/train_speed.py               # prints a Markdown table
    python benchmarks/train_speed.py --quick       # a smoke run in seconds
    python benchmarks/train_speed.py --inputs full-sized --epochs 40 --every 100000 --load 0,2
                                                   # epoch time with 1 and 2 threads, quiet and beside 2 busy processes
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "data_fixtures"), str(REPO / "reference")]  # make_fixture; fakenews_lesson, as the notebook

from autograder.resources import lesson_module  # noqa: E402
from autograder.metrics import separability_score  # noqa: E402
from autograder.notebook import load_definitions  # noqa: E402


lesson = lesson_module()  # the lesson's helpers, as the notebook imports them


class Separable(Exception):
    """Raised from the hook to end training once the embedding is separable."""


def inputs(rows: int | None, sp):
    if rows is None:
        frame = lesson.load_fakenews(verbose=False)
        titles, labels = frame["title"].tolist(), frame["real"].tolist()
    else:
        from make_fixture import make_rows

        made = make_rows(rows, 0.75, seed=7)
        titles, labels = [r["title"] for r in made], [r["real"] for r in made]
    return lesson.encode_titles(sp, titles), torch.tensor(labels, dtype=torch.float32)


def run_one(ref, sp, tokens, y, *, device, epochs, every, separable):
    """Returns the median epoch time (s), seconds and epochs to separable (or None), and the final score."""
    lesson.seed_everything(0)
    model = ref["ClassifierWithRNN"](sp.get_piece_size(), 2, 2, lesson.pad_id(sp))
    stamps, reached, scoring = [], [None, None], [0.0]
    start = time.perf_counter()
    labels = y.numpy()

    def hook(module, args, output):
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        epoch = len(stamps)
        if epoch % every == 0:
            training_time = stamps[-1] - start - scoring[0]
            scored_at = time.perf_counter()
            score = separability_score(lesson.document_embeddings(module, tokens), labels)
            scoring[0] += time.perf_counter() - scored_at
            if score >= separable:
                reached[:] = [epoch, training_time]
                raise Separable

    model.register_forward_hook(hook)
    try:
        ref["train"](model, tokens, y, epochs=epochs, lr=1e-3, device=device)
    except Separable:
        pass
    total = time.perf_counter() - start - scoring[0]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    median = statistics.median(gaps) if gaps else total
    final = separability_score(lesson.document_embeddings(model, tokens), labels)
    return median, reached[1], reached[0], final, total


def _busy() -> None:
    while True:
        pass


class Load:
    """`n` CPU-bound processes running beside the measurement (a busy grader or laptop)."""

    def __init__(self, n: int):
        self.n, self.processes = n, []

    def __enter__(self):
        import multiprocessing

        self.processes = [multiprocessing.get_context("spawn").Process(target=_busy, daemon=True) for _ in range(self.n)]
        for process in self.processes:
            process.start()
        time.sleep(1.0 if self.n else 0.0)
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.terminate()
            process.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--every", type=int, default=50, help="score the embedding every N epochs")
    parser.add_argument("--separable", type=float, default=0.75, help="balanced accuracy that counts as separable")
    parser.add_argument("--full-rows", type=int, default=23000)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--inputs", default="fixture,full-sized")
    parser.add_argument("--load", default="0", help="busy processes beside the run, e.g. 0,2")
    parser.add_argument("--quick", action="store_true", help="200 epochs, 2,000 full rows: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.full_rows, args.every = 200, 2000, 50

    ref = load_definitions(REPO / "reference" / "rnn_embeddings.ipynb")
    ref["progress"] = lambda iterable, **kwargs: iterable  # no progress bar in a timing loop
    sp = lesson.load_tokenizer()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"recipe: hidden 2, embedding 2, Adam lr 1e-3, up to {args.epochs} full-batch epochs, "
          f"separable = balanced accuracy >= {args.separable}\n")
    print(f"| input | rows | busy processes | device | threads | epoch, median | {args.epochs} epochs (median x "
          "epochs) | to separable | epochs to separable | score then |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in (("fixture", None), ("full-sized", args.full_rows)):
        if name not in args.inputs.split(","):
            continue
        tokens, y = inputs(rows, sp)
        for load in map(int, args.load.split(",")):
            for device_name in args.devices.split(","):
                device = torch.device(device_name)
                for threads in map(int, args.threads.split(",")):
                    torch.set_num_threads(threads)
                    with Load(load):
                        median, seconds, epochs, final, total = run_one(
                            ref, sp, tokens, y, device=device, epochs=args.epochs, every=args.every,
                            separable=args.separable)
                    to_sep = f"{seconds:.1f} s" if seconds is not None else f"not in {args.epochs}"
                    print(f"| {name} | {len(y)} | {load} | {device_name} | {threads} | {median * 1e3:.1f} ms | "
                          f"{median * args.epochs:.1f} s | {to_sep} | {epochs or '-'} | {final:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
