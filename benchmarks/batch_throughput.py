"""Benchmark: throughput of `autograder batch` (submissions per minute) on a 40-submission class, with 1 and with
2 local Dask workers, and the scaling efficiency. Prints a Markdown table.

    python benchmarks/batch_throughput.py [--submissions 40]

The class: the reference notebook, the untouched release and the engine's mutants, in turn (a realistic mix:
most submissions train fully). Each run grades everything from scratch into a fresh folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import submissions as corpus  # noqa: E402

from autograder import batch  # noqa: E402


def make_class(folder: Path, size: int) -> None:
    sources = [corpus.REFERENCE, REPO / "assignment" / "rnn_embeddings.ipynb"]
    built = folder.parent / "built"
    built.mkdir()
    sources += [corpus.build(m, built) for m in corpus.MUTANTS]
    for index in range(size):
        shutil.copy(sources[index % len(sources)], folder / f"student{index:03d}.ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        make_class(folder, args.submissions)
        for workers in args.workers:
            start = time.perf_counter()
            rows = batch.run_batch(folder, Path(tmp) / f"out-{workers}", workers=workers, progress=False)
            seconds = time.perf_counter() - start
            assert len(rows) == args.submissions and all(r.status == "graded" for r in rows.values())
            results[workers] = seconds
    base = results[args.workers[0]]
    print(f"`autograder batch`, {args.submissions} submissions (reference, release, mutants), local cluster.\n")
    print("| workers | seconds | submissions per minute | speed-up | scaling efficiency |")
    print("|---|---|---|---|---|")
    for workers, seconds in results.items():
        speedup = base / seconds
        print(f"| {workers} | {seconds:.0f} | {args.submissions / seconds * 60:.1f} | {speedup:.2f}x | "
              f"{speedup / workers * args.workers[0]:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
