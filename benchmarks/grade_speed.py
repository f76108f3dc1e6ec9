"""Benchmark: wall time and peak memory of `autograder grade` and `autograder check` on the reference notebook,
beside the bare computation they need (an interpreter that imports torch, loads the data and runs the same training
runs and scores, in one process, with nothing else). Prints a Markdown table.

    python benchmarks/grade_speed.py [--repeat 3]

`autograder check` is timed twice: in the kit's checkout (the grader package: the public checks, confirmed by the
hidden training run) and as a student runs it, from the student package (staged from the checkout as its wheel
would install it, run from its folder: no hidden checks, so no training run).

Peak memory is the largest resident set of any one process of the run (the CLI or one of its workers), from
getrusage(RUSAGE_CHILDREN); the bare computation is one process.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "reference" / "rnn_embeddings.ipynb"

BARE = r'''
import sys, time
sys.path.insert(0, sys.argv[2].rsplit("/", 1)[0])  # the notebook's folder: its helper module, as in Jupyter
import torch
torch.set_num_threads(1)
import torch.nn.functional as F
from autograder.hidden.grading_model import GraderRNN
from autograder.notebook import load_definitions
from autograder.plan import load_grading_data
from autograder.recipe import Recipe, fixture_paths
from autograder.recompute import document_summaries
mode = sys.argv[1]
recipe = Recipe()
tokens, y, vocab, pad = load_grading_data(fixture_paths())
ns = load_definitions(sys.argv[2])
ns["progress"] = lambda it, **k: it
def seeded_grader_model(vocab, pad, recipe, seed):
    torch.manual_seed(seed)
    return GraderRNN(vocab, recipe.hidden_dim, recipe.embedding_dim, pad)
def train(model, epochs, rows=None):
    t, labels = (tokens, y) if rows is None else (tokens[:rows], y[:rows])
    ns["train"](model, t, labels, epochs=epochs, lr=recipe.lr, device="cpu")
train(seeded_grader_model(vocab, pad, recipe, 101), recipe.loop_epochs, recipe.loop_rows)   # the loop check
model = ns["ClassifierWithRNN"](vocab, 2, 2, pad); model.summarize(model.embedding(tokens[:8]))  # the model checks
from autograder.metrics import separability_score
grader_model = seeded_grader_model(vocab, pad, recipe, recipe.seed)
train(grader_model, recipe.epochs)          # the shared training run (the loop checks are confirmed by it too)
if mode == "grade":
    torch.manual_seed(7); student_model = ns["ClassifierWithRNN"](vocab, 2, 2, pad)
    train(student_model, recipe.epochs)                                           # end to end (one seed)
state = {k: v.detach() for k, v in grader_model.state_dict().items()}
separability_score(document_summaries(state, tokens, "grader"), y.numpy())
'''


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and the largest child's peak RSS in MiB (fresh interpreter per measurement)."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True)
    wall, rss = map(float, out.stdout.split())
    return wall, rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    cli = [sys.executable, "-m", "autograder"]
    sys.path.insert(0, str(REPO))
    from autograder.build import stage_student_package

    student = Path(tempfile.mkdtemp(prefix="student-package-"))
    stage_student_package(student)
    as_student = ["env", "-C", str(student), f"PYTHONPATH={student}", sys.executable, "-m", "autograder", "check", str(NOTEBOOK)]
    rows = [
        ("autograder grade", cli + ["grade", str(NOTEBOOK), "--out", "/tmp/grade-speed"]),
        ("bare computation for grade", [sys.executable, "-c", BARE, "grade", str(NOTEBOOK)]),
        ("autograder check (grader package)", cli + ["check", str(NOTEBOOK)]),
        ("autograder check (student package)", as_student),
        ("bare computation for check", [sys.executable, "-c", BARE, "check", str(NOTEBOOK)]),
        ("python -c 'import torch'", [sys.executable, "-c", "import torch"]),
    ]
    results = {}
    print("| command | wall, median of %d | peak RSS (largest process) |" % args.repeat)
    print("|---|---|---|")
    for name, command in rows:
        runs = [timed(command) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        results[name] = wall
        print(f"| {name} | {wall:.2f} s | {max(r[1] for r in runs):.0f} MiB |", flush=True)
    for what, command in (("grade", "autograder grade"), ("check", "autograder check (grader package)")):
        bare = results[f"bare computation for {what}"]
        print(f"\n{what}: {results[command]:.2f} s against {bare:.2f} s bare: overhead "
              f"{100 * (results[command] - bare) / bare:+.0f}%")
    shutil.rmtree(student, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
