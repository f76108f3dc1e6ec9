"""Benchmark: `nbgrader autograde` time per student beside `autograder grade` on the same notebook. Prints a
Markdown table.

    python benchmarks/nbgrader_speed.py [--students 4]

A temporary course (`autograder course`) gets the reference notebook as the submission of each of N students;
`nbgrader autograde` grades them all in one run (kernel start, the whole notebook with both experiments, the test
cells: the first grades the file through the engine). `autograder grade` runs N times on the same notebook. Both
on the offline fixture, on this machine's cores.
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nbgrader-bench-") as tmp:
        root = course.make_course(Path(tmp) / "course")
        assert course.nbgrader(root, "generate_assignment", course.ASSIGNMENT).returncode == 0
        for index in range(args.students):
            folder = root / "submitted" / f"student{index:02d}" / course.ASSIGNMENT
            folder.mkdir(parents=True)
            shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
        start = time.perf_counter()
        done = course.nbgrader(root, "autograde", course.ASSIGNMENT)
        autograde = (time.perf_counter() - start) / args.students
        if done.returncode != 0:
            raise SystemExit(f"nbgrader autograde failed:\n{done.stderr[-3000:]}")
        start = time.perf_counter()
        done = course.nbgrader(root, "generate_feedback", course.ASSIGNMENT)
        feedback = (time.perf_counter() - start) / args.students
        cli = []
        for _ in range(args.students):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "autograder", "grade", str(NOTEBOOK), "--out", str(Path(tmp) / "out")],
                           check=True, capture_output=True)
            cli.append(time.perf_counter() - start)
    print(f"Reference notebook, offline fixture, {args.students} students.\n")
    print("| how | seconds per student |")
    print("|---|---|")
    print(f"| `nbgrader autograde` (runs the notebook: kernel, both experiments, 9 test cells) | {autograde:.1f} |")
    print(f"| `nbgrader generate_feedback` | {feedback:.1f} |")
    print(f"| `autograder grade` (the engine alone, reports written) | {sum(cli) / len(cli):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
