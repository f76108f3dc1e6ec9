"""Benchmark: what the sandbox costs `autograder grade`. The same submission (the reference notebook) graded with
each sandbox level that works here and with none at all (the worker started as a plain process), interleaved,
`--repeat` times each. Prints a Markdown table of median wall times and the overhead against no sandbox.

    python benchmarks/sandbox_overhead.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import sandbox  # noqa: E402
from autograder.grade import grade  # noqa: E402
from autograder.runner import run_worker  # noqa: E402

NOTEBOOK = REPO / "reference" / "rnn_embeddings.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    levels = ["none"] + [level for level in sandbox.LEVELS if sandbox._works(level)]
    times: dict[str, list[float]] = {level: [] for level in levels}
    grade(NOTEBOOK)  # warm the file cache
    for _ in range(args.repeat):
        for level in levels:
            runner = functools.partial(run_worker, sandbox=sandbox.Sandbox(level))
            start = time.perf_counter()
            report = grade(NOTEBOOK, runner=runner)
            times[level].append(time.perf_counter() - start)
            assert report.score == report.max_score and report.isolation == level, (level, report.score)
    base = statistics.median(times["none"])
    print(f"`autograder grade` on the reference notebook, {args.repeat} runs each, interleaved.\n")
    print("| sandbox | median s | min s | max s | overhead |")
    print("|---|---|---|---|---|")
    for level in levels:
        median = statistics.median(times[level])
        print(f"| {level} | {median:.2f} | {min(times[level]):.2f} | {max(times[level]):.2f} | "
              f"{(median / base - 1) * 100:+.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
