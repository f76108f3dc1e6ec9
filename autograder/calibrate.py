"""Calibration: grades the reference, the correct variants and the mutants (tests/submissions.py) over many grader
seeds and reports, for each check, its threshold, the distribution of the judged statistic, the margins, and the
observed false-fail rate (correct submissions failing) and false-pass rate (mutants passing the check they target).

    autograder calibrate --seeds 50 --jobs 2 --out calibration
    autograder calibrate --data FakeNewsNet.csv --tokenizer fakenews_tokenizer.model --seeds 5
        # other data: also derives the thresholds for them and stores them with the data's fingerprint
        # (autograder/hidden/calibrations.py), so that `autograder grade --data` uses them
    autograder calibrate --data hard.csv --uncalibrated --seeds 3
        # each grading judged as data no calibration covers are (separability against the grader's own run on
        # its plan): that rule's rates on these data; nothing is stored

Runs the kit's own corpus in-process (trusted code): no sandbox, no time limits. Needs a checkout of the kit.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _corpus():
    sys.path.insert(0, str(REPO / "tests"))
    import submissions

    reference = submissions.Submission("reference", {})
    return [(reference, "reference")] + [(s, "variant") for s in submissions.VARIANTS] + \
        [(s, "mutant") for s in submissions.MUTANTS]


def _grade_one(task: tuple) -> list[dict]:
    """Grades one subject at one seed, in this process; returns one record per check judged."""
    import torch

    torch.set_num_threads(1)
    from autograder.grade import grade
    from autograder.hidden.judges import Thresholds
    from autograder.recipe import DataPaths, Recipe
    from autograder.runner import run_in_process

    name, seed, csv, tokenizer, uncalibrated = task
    submission, kind = next((s, k) for s, k in _corpus() if s.name == name)
    import os

    import submissions

    from autograder.hidden import calibrations

    with tempfile.TemporaryDirectory() as tmp:
        path = submissions.build(submission, Path(tmp))
        if uncalibrated:  # judged as data no calibration covers: no user calibration is found in an empty folder
            os.environ[calibrations.USER_ENV] = str(Path(tmp) / "no-calibrations")
        report = grade(path, names=list(submission.fails) or None, recipe=Recipe(seed=seed),
                       runner=run_in_process, parallel=1, device="cpu",
                       thresholds=None if uncalibrated else Thresholds(),
                       data=DataPaths(csv, tokenizer) if csv else None)
    records = []
    for v in report.verdicts:
        numbers = {k: x for k, x in v.details.items() if isinstance(x, (int, float, str, dict)) or
                   (isinstance(x, list) and len(x) <= 10)}  # the judged statistics, not the embeddings
        if v.check == "separability" and report.grader_run:
            numbers["grader_run"] = report.grader_run
        records.append({"subject": name, "kind": kind, "seed": seed, "check": v.check, "passed": v.passed,
                        "targeted": v.check in submission.fails, "margin": None, "deviation": None,
                        "margins": None, **numbers, "observed": v.observed[:200]})
    return records


def run(seeds: int, jobs: int, only: list[str] | None = None, data=None, uncalibrated: bool = False) -> list[dict]:
    csv, tokenizer = (data.csv, data.tokenizer) if data is not None else (None, None)
    tasks = [(s.name, seed, csv, tokenizer, uncalibrated) for s, _ in _corpus() if not only or s.name in only
             for seed in range(seeds)]
    tasks.sort(key=lambda t: t[1])  # seed-major, so an interrupted run covers every subject
    records: list[dict] = []
    start = time.perf_counter()
    with get_context("spawn").Pool(jobs) as pool:
        for done, result in enumerate(pool.imap_unordered(_grade_one, tasks), start=1):
            records.extend(result)
            if done % 25 == 0 or done == len(tasks):
                print(f"  {done}/{len(tasks)} gradings, {time.perf_counter() - start:.0f} s", flush=True)
    return records


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def summarize(records: list[dict], seeds: int, uncalibrated: bool = False) -> str:
    from autograder.checks import REGISTRY
    from autograder.hidden.judges import Thresholds

    thresholds = Thresholds()
    lines = [f"Grader seeds 0..{seeds - 1}; correct = the reference and every variant; mutants = those that target "
             "the check. Margins are signed distances from the threshold (positive: the pass side); for the exact "
             "checks, the deviation is the largest |summary - accepted form| over the inputs.", "",
             "| check | correct runs | false fails | correct: margin min / median / max | mutant runs | false passes "
             "| mutants: margin min / median / max |", "|---|---|---|---|---|---|---|"]
    for check in REGISTRY:
        correct = [r for r in records if r["check"] == check.name and r["kind"] != "mutant"]
        mutants = [r for r in records if r["check"] == check.name and r["kind"] == "mutant" and r["targeted"]]
        key = check.statistic

        def values(rs):
            return [r[key] for r in rs if r[key] is not None]

        lines.append(
            f"| {check.name} | {len(correct)} | {sum(not r['passed'] for r in correct)} | "
            f"{_fmt(values(correct))}{' (deviation)' if key == 'deviation' else ''} | {len(mutants)} | "
            f"{sum(r['passed'] for r in mutants)} | {_fmt(values(mutants))} |")
    lines += ["", "Per subject (seeds passed / run, for the checks it is graded on):", "",
              "| subject | kind | checks | runs | all passed | any targeted check passed |", "|---|---|---|---|---|---|"]
    subjects = dict.fromkeys(r["subject"] for r in records)
    for subject in subjects:
        rs = [r for r in records if r["subject"] == subject]
        by_seed: dict[int, list[dict]] = {}
        for r in rs:
            by_seed.setdefault(r["seed"], []).append(r)
        kind = rs[0]["kind"]
        all_passed = sum(all(r["passed"] for r in seed_rs) for seed_rs in by_seed.values())
        targeted = sum(any(r["passed"] for r in seed_rs if r["targeted"]) for seed_rs in by_seed.values())
        checks = sorted({r["check"] for r in rs})
        lines.append(f"| {subject} | {kind} | {', '.join(checks) if kind == 'mutant' else 'all'} | {len(by_seed)} | "
                     f"{all_passed} | {targeted if kind == 'mutant' else '-'} |")
    lines += ["", "Loss components for correct submissions (loss_decreases):", ""]
    comps: dict[str, list[float]] = {}
    for r in records:
        if r["check"] == "loss_decreases" and r["kind"] != "mutant" and r["margins"]:
            for k, v in r["margins"].items():
                comps.setdefault(k, []).append(v)
    for k, v in comps.items():
        lines.append(f"- {k}: margin min / median / max {_fmt(v)}")
    if uncalibrated:
        lines += ["", "Thresholds in force: those of data no calibration covers (autograder/hidden/calibrations.py, "
                  "from_grader_run): separability's bar below the grader's own run on the same plan, each grading its "
                  f"own; the rest {json.dumps(asdict(thresholds))}", "",
                  "Separability against the grader's own run (student's score after training - the grader's):", ""]
        for kind in ("correct", "mutant"):
            rs = [r for r in records if r["check"] == "separability" and r.get("grader_run")
                  and (r["kind"] != "mutant") == (kind == "correct") and (kind == "correct" or r["targeted"])]
            gaps = [r["score_after"] - r["grader_run"]["score_after"] for r in rs if r.get("score_after") is not None]
            runs = [r["grader_run"]["score_after"] for r in rs]
            lines.append(f"- {kind} ({len(rs)} gradings): gap min / median / max {_fmt(gaps)}; the grader's run "
                         f"{_fmt(runs)}; its seconds {_fmt([r['grader_run']['seconds'] for r in rs])}")
    else:
        lines += ["", f"Thresholds in force: {json.dumps(asdict(thresholds))}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="autograder calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="+", metavar="SUBJECT", help="only these subjects (reference, mutant names)")
    parser.add_argument("--out", help="folder for results.json and summary.md (default: calibration/, or "
                                      "calibration/<fingerprint>/ with --data)")
    parser.add_argument("--data", help="calibrate on these data (a CSV or its folder; default: the fixture)")
    parser.add_argument("--tokenizer", help="their tokenizer (default: beside the data)")
    parser.add_argument("--from-results", metavar="JSON", help="summarize an earlier run's results.json again")
    parser.add_argument("--uncalibrated", action="store_true",
                        help="judge as grading judges data no calibration covers (separability against the grader's "
                             "own run on each plan), to measure that rule's rates; stores no thresholds")
    args = parser.parse_args(argv)
    if not args.from_results and not (REPO / "tests" / "submissions.py").is_file():
        print(f"autograder calibrate: the corpus (tests/submissions.py: the reference's variants and mutants) lives in "
              f"the kit's source tree, and {REPO} is not one. Run it in a checkout of the kit "
              f"(pip install -e . there).", file=sys.stderr)
        return 2
    data = None
    if args.data or args.tokenizer:
        from autograder.hidden import calibrations
        from autograder.recipe import default_data_paths

        data = default_data_paths(args.data, args.tokenizer)
        fingerprint = calibrations.fingerprint(data.csv, data.tokenizer)
    out = Path(args.out or (REPO / "calibration" / (fingerprint if data else "")))
    if args.from_results:
        records = json.loads(Path(args.from_results).read_text())
        args.seeds = 1 + max(r["seed"] for r in records)
    else:
        records = run(args.seeds, args.jobs, args.only, data, args.uncalibrated)
    summary = summarize(records, args.seeds, args.uncalibrated)
    out.mkdir(parents=True, exist_ok=True)
    if data is not None and not args.uncalibrated:
        summary += "\n\n" + _store(records, data, fingerprint, out)
    print(summary)
    (out / "results.json").write_text(json.dumps(records, indent=0))
    (out / "summary.md").write_text(summary + "\n")
    print(f"wrote {out / 'results.json'} and {out / 'summary.md'}")
    return 0


def _store(records: list[dict], data, fingerprint: str, out: Path) -> str:
    """Derives the thresholds for `data` from the records, stores them with the fingerprint; returns what it did."""
    from autograder.data import read_fakenews_csv
    from autograder.hidden import calibrations

    thresholds, measured = calibrations.derive(records)
    rows = read_fakenews_csv(data.csv)[1].kept
    calibration = calibrations.Calibration(fingerprint, f"{data.csv} (tokenizer {data.tokenizer})", thresholds,
                                           rows, measured)
    written = calibrations.save(calibration, out)
    lines = [f"Thresholds derived for {data.csv} ({rows} rows, fingerprint {fingerprint}):", "",
             "| threshold | value | correct runs: worst | targeted mutants: best | how |", "|---|---|---|---|---|"]
    for name, entry in measured.items():
        worst, best = entry["correct_min"], entry["mutant_max"]
        lines.append(f"| {name} | {getattr(thresholds, name)} | {'-' if worst is None else f'{worst:.3f}'} "
                     f"({entry['correct_runs']} runs) | {'-' if best is None else f'{best:.3f}'} "
                     f"({entry['mutant_runs']} runs) | {entry.get('kept', 'derived')} |")
    lines += ["", "Stored in " + " and ".join(str(p) for p in written) + "; `autograder grade --data` uses them."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
