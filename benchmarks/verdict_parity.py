"""Verdict parity between a grader with a GPU and one without (issue 20): grades every corpus notebook (the
reference, variants, mutants) in this process on every check, and writes {subject: {check: passed}} as JSON.

    python benchmarks/verdict_parity.py OUT.json                       # with the GPU, if there is one
    CUDA_VISIBLE_DEVICES= python benchmarks/verdict_parity.py OUT.json # as a grader without one (pretend accelerator)
    python benchmarks/verdict_parity.py --compare A.json B.json        # the subjects and checks that differ

benchmarks/gpu_check.sh runs the first two on a lent GPU machine and compares them."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def grade_corpus(out: Path) -> None:
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    import submissions

    from autograder.grade import grade
    from autograder.runner import run_in_process

    subjects = [submissions.Submission("reference", {})] + list(submissions.ALL)
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        for subject in subjects:
            report = grade(submissions.build(subject, Path(tmp)), runner=run_in_process, parallel=1)
            found[subject.name] = {v.check: v.passed for v in report.verdicts}
            print(f"{subject.name:34s} {report.score:g}/{report.max_score:g} on {report.device}", flush=True)
    out.write_text(json.dumps({"cuda": torch.cuda.is_available(), "verdicts": found}, indent=1, sort_keys=True))


def compare(a: Path, b: Path) -> int:
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    differ = [(s, c) for s, checks in left["verdicts"].items() for c, passed in checks.items()
              if right["verdicts"].get(s, {}).get(c) != passed]
    print(f"| subjects | verdicts | differ ({a.name}: cuda={left['cuda']}, {b.name}: cuda={right['cuda']}) |")
    print("|---|---|---|")
    print(f"| {len(left['verdicts'])} | {sum(len(c) for c in left['verdicts'].values())} | {len(differ)} |")
    for subject, check in differ:
        print(f"- {subject}: {check} {left['verdicts'][subject][check]} vs {right['verdicts'].get(subject, {}).get(check)}")
    return 1 if differ else 0


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    grade_corpus(Path(sys.argv[1]))
