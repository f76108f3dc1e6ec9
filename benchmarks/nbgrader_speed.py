"""Benchmark: `nbgrader autograde` time per student beside `autograder grade` on the same notebook. Prints a
Markdown table.

    python benchmarks/nbgrader_speed.py [--students 4] [--mix]

A temporary course (`autograder course`) gets the reference notebook as the submission of each of N students;
`nbgrader autograde` grades them all in one run (kernel start, the whole notebook with both experiments, the test
cells: the first grades the file through the engine). `autograder grade` runs N times on the same notebook. Both
on the offline fixture, on this machine's cores. With --mix the students submit, in turn, the reference, the
untouched release and two mutants (SummarizeReturnsFirstStep, NoZeroGrad): what a class hands in, where a wrong
summary makes end_to_end try all its seeds.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import course  # noqa: E402

NOTEBOOK = REPO / "reference" / "rnn_embeddings.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--mix", action="store_true", help="reference, release and two mutants in turn")
    args = parser.parse_args(argv)
    notebooks = [NOTEBOOK]
    with tempfile.TemporaryDirectory(prefix="nbgrader-bench-") as tmp:
        root = course.make_course(Path(tmp) / "course")
        assert course.nbgrader(root, "generate_assignment", course.ASSIGNMENT).returncode == 0
        if args.mix:
            sys.path.insert(0, str(REPO / "tests"))
            import submissions

            built = Path(tmp) / "built"
            built.mkdir()
            mutants = [m for m in submissions.MUTANTS if m.name in ("SummarizeReturnsFirstStep", "NoZeroGrad")]
            notebooks = [NOTEBOOK, course.ASSIGNMENT_DIR / NOTEBOOK.name] + [submissions.build(m, built)
                                                                             for m in mutants]
        for index in range(args.students):
            folder = root / "submitted" / f"student{index:02d}" / course.ASSIGNMENT
            folder.mkdir(parents=True)
            shutil.copy(notebooks[index % len(notebooks)], folder / NOTEBOOK.name)
        start = time.perf_counter()
        done = course.nbgrader(root, "autograde", course.ASSIGNMENT)
        autograde = (time.perf_counter() - start) / args.students
        if done.returncode != 0:
            raise SystemExit(f"nbgrader autograde failed:\n{done.stderr[-3000:]}")
        start = time.perf_counter()
        done = course.nbgrader(root, "generate_feedback", course.ASSIGNMENT)
        feedback = (time.perf_counter() - start) / args.students
        cli = []
        for index in range(args.students):  # exit 1 for a submission that fails a check: not the benchmark's failure
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "autograder", "grade", str(notebooks[index % len(notebooks)]),
                            "--out", str(Path(tmp) / "out")], check=False, capture_output=True)
            cli.append(time.perf_counter() - start)
    what = "reference, release and two mutants in turn" if args.mix else "the reference notebook"
    print(f"{args.students} students ({what}), offline fixture.\n")
    print("| how | seconds per student |")
    print("|---|---|")
    print(f"| `nbgrader autograde` (runs the notebook: kernel, both experiments, 9 test cells) | {autograde:.1f} |")
    print(f"| `nbgrader generate_feedback` | {feedback:.1f} |")
    print(f"| `autograder grade` (the engine alone, reports written) | {sum(cli) / len(cli):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
