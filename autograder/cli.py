"""The kit's command line.

    autograder grade NOTEBOOK [--data PATH] [--out DIR]   every check; writes results.json, junit.xml, feedback.html
                          [--hidden-feedback POLICY]      (the students' reports) and instructor.txt (complete)
    autograder check NOTEBOOK                             the public checks only (fast, for students); also fails
                                                          while a question is unanswered
    autograder release                                    regenerate assignment/ from reference/ with nbgrader
    autograder course DIR                                 an nbgrader course folder holding the lesson
    autograder nbgrader-report COURSE [--out CSV]         after `nbgrader autograde`: each student graded, error
                                                          (with nbgrader's reason; not a zero), or missing
    autograder batch SUBMISSIONS --out DIR                a whole class on Dask (local cluster or --scheduler);
                                                          grades.csv, each student's reports; resumable
    autograder calibrate [--seeds 50]                     the corpus over many seeds: each check's error rates
    autograder build [--out dist]                         the grader and the student packages, as wheels (from the
                                                          kit's source tree)
    autograder gradescope [--out DIR]                     the autograder zip for Gradescope (setup.sh,
                                                          run_autograder, the grader package, the course's key)

The student package (rnn-embeddings-student) has `check` only: the hidden checks are not in it.
Exit status of grade and check: 0 all checks passed, 1 some did not, 2 the grader itself could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_grade(args: argparse.Namespace, public_only: bool) -> int:
    from autograder.grade import grade
    from autograder.recipe import Recipe, default_data_paths

    from autograder.disclosure import choose

    try:
        policy = choose(getattr(args, "hidden_feedback", None))
        data = default_data_paths(args.data, args.tokenizer)
        report = grade(args.notebook, public_only=public_only, names=args.only, data=data,
                       recipe=Recipe(seed=args.seed), device=args.device)
    except (ValueError, KeyError, OSError) as err:  # DataError is a ValueError: bad data, not a bad submission
        print(f"autograder: {err}", file=sys.stderr)
        return 2
    from autograder.report import table, write_all

    code = report.exit_code
    written = None
    if args.out:  # the reports first: whatever the terminal does with the table, they are on disk
        try:
            written = write_all(report, Path(args.out), policy)
        except OSError as err:
            print(f"autograder: could not write the reports in {args.out}: {err}", file=sys.stderr)
            code = 2
    from autograder.disclosure import for_students

    print(table(for_students(report, policy)))  # the terminal may be a student's (a Classroom run's log)
    if public_only:
        from autograder.checks import coverage_note

        print(f"\n{coverage_note()}")
    if written:
        print("wrote " + ", ".join(str(p) for p in written.values()))
    if public_only:  # the student's last look before submitting: the questions too
        from autograder.notebook import unanswered_questions

        missing = unanswered_questions(args.notebook)
        if missing:
            print(f"Not answered yet: {', '.join(missing)} (the answer cells still say \"YOUR ANSWER HERE\").")
            return max(code, 1)
    return code


def _cmd_release(args: argparse.Namespace) -> int:
    from autograder import course

    out = course.generate_release(Path(args.out))
    print(f"wrote the student release to {out}")
    return 0


def _cmd_course(args: argparse.Namespace) -> int:
    from autograder import course

    root = course.make_course(Path(args.dir))
    print(f"wrote an nbgrader course in {root}; next: cd {root} && nbgrader generate_assignment {course.ASSIGNMENT}")
    return 0


def _cmd_nbgrader_report(args: argparse.Namespace) -> int:
    from autograder import nbgrader_report

    try:
        rows = nbgrader_report.course_report(Path(args.course), args.assignment, args.db, args.course_id)
    except ValueError as err:
        print(f"autograder: {err}", file=sys.stderr)
        return 2
    print(nbgrader_report.table(rows))
    if args.out:
        print(f"wrote {nbgrader_report.write_csv(rows, Path(args.out))}")
    return 1 if any(row.status == "error" for row in rows) else 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from autograder import batch
    from autograder.recipe import default_data_paths

    from autograder.disclosure import choose

    try:
        policy = choose(args.hidden_feedback)
        data = default_data_paths(args.data, args.tokenizer) if (args.data or args.tokenizer) else None
        rows = batch.run_batch(Path(args.submissions), Path(args.out), workers=args.workers,
                               scheduler=args.scheduler, regrade=args.regrade, data=data, timeout=args.timeout,
                               policy=policy)
    except (ValueError, OSError) as err:
        print(f"autograder: {err}", file=sys.stderr)
        return 2
    counts = {s: sum(r.status == s for r in rows.values()) for s in (batch.STATUS_GRADED, batch.STATUS_ERROR)}
    print(f"{len(rows)} students: {counts[batch.STATUS_GRADED]} graded, {counts[batch.STATUS_ERROR]} error; "
          f"wrote {Path(args.out) / 'grades.csv'}")
    if args.gradebook:
        from autograder.gradebook import write_scores

        written = write_scores(list(rows.values()), args.gradebook, args.course_id)
        print(f"wrote {written} students into the gradebook {args.gradebook}")
    return 1 if counts[batch.STATUS_ERROR] else 0


def _cmd_build(args: argparse.Namespace) -> int:
    from autograder.build import build

    try:
        built = build(Path(args.out))
    except (FileNotFoundError, RuntimeError) as err:
        print(f"autograder: {err}", file=sys.stderr)
        return 2
    for kind, path in built.items():
        print(f"{kind}: {path}" if kind == "constraints" else f"{kind} package: {path}")
    return 0


def _cmd_gradescope(args: argparse.Namespace) -> int:
    from autograder.gradescope import make_zip

    try:
        key = Path(args.key_file).read_text().strip() if args.key_file else None
        path = make_zip(Path(args.out), kit=args.kit, constraints=Path(args.constraints) if args.constraints else None,
                        key=key, policy=args.hidden_feedback or "observed", data=args.data, tokenizer=args.tokenizer)
    except (FileNotFoundError, RuntimeError, ValueError, OSError) as err:
        print(f"autograder: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}: upload it as the assignment's autograder on Gradescope (docs/gradescope.md); it holds the "
          "course's grading key: keep it private")
    return 0


def _student_grade(args: argparse.Namespace) -> int:
    print("autograder: this is the student package (rnn-embeddings-student): it holds the public checks only. Run "
          "`autograder check NOTEBOOK`; the hidden checks run when your instructor grades your notebook.",
          file=sys.stderr)
    return 2


def _policy_option(cmd: argparse.ArgumentParser) -> None:
    from autograder.disclosure import DEFAULT, ENV, POLICIES

    cmd.add_argument("--hidden-feedback", choices=list(POLICIES), metavar="POLICY",
                     help="what the students' reports say of a hidden check: " +
                          "; ".join(f"{key}: {text}" for key, text in POLICIES.items()) +
                          f" (default: ${ENV}, else {DEFAULT}); instructor.txt is always complete")


def main(argv: list[str] | None = None) -> int:
    from autograder.checks import HIDDEN_INSTALLED

    parser = argparse.ArgumentParser(prog="autograder", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    if not HIDDEN_INSTALLED:  # the student package
        cmd = sub.add_parser("check", help="run the public checks (fast)")
        cmd.add_argument("notebook", help="your notebook: a .ipynb file")
        cmd.add_argument("--out", help="also write results.json, junit.xml and feedback.html here")
        cmd.set_defaults(func=lambda a: _cmd_grade(a, True), data=None, tokenizer=None, only=None, seed=0,
                         device=None)
        grade = sub.add_parser("grade", help="(grader package only)")
        grade.add_argument("rest", nargs=argparse.REMAINDER)
        grade.set_defaults(func=_student_grade)
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        return args.func(args)
    from autograder import course

    for name, helptext, default_out in (("grade", "run every check and write the reports", "grading-output"),
                                        ("check", "run the public checks only (fast)", None)):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("notebook", help="the submission: a .ipynb file")
        cmd.add_argument("--data", help="a FakeNewsNet CSV, a folder holding one, or 'kaggle' (default: the fixture)")
        cmd.add_argument("--tokenizer", help="a sentencepiece model (default: beside the data, else the fixture's)")
        cmd.add_argument("--out", default=default_out, help="folder for results.json, junit.xml, feedback.html")
        cmd.add_argument("--only", nargs="+", metavar="CHECK", help="run only these checks")
        cmd.add_argument("--seed", type=int, default=0, help="the grader's seed (same seed, same score)")
        cmd.add_argument("--device", help="device to grade on (default: cuda if present, else cpu)")
        if name == "grade":
            _policy_option(cmd)
        cmd.set_defaults(func=lambda a, public=(name == "check"): _cmd_grade(a, public))
    release = sub.add_parser("release", help="regenerate the student release (assignment/) from reference/")
    release.add_argument("--out", default=str(course.ASSIGNMENT_DIR))
    release.set_defaults(func=_cmd_release)
    make = sub.add_parser("course", help="create an nbgrader course folder holding the lesson as source")
    make.add_argument("dir")
    make.set_defaults(func=_cmd_course)
    many = sub.add_parser("batch", help="grade a folder of submissions in parallel (Dask); resumable")
    many.add_argument("submissions", help="nbgrader's submitted/ (or its course folder), or a folder of STUDENT.ipynb")
    many.add_argument("--out", required=True, help="grades.csv and students/<student>/ go here")
    many.add_argument("--workers", type=int, help="local Dask workers (default: one per core)")
    many.add_argument("--scheduler", help="address of an existing Dask scheduler (e.g. tcp://host:8786)")
    many.add_argument("--regrade", action="store_true", help="grade again the students already graded")
    many.add_argument("--timeout", type=float, help="seconds per submission (default: from the work and this "
                      "machine's measured pace, see autograder/limits.py)")
    many.add_argument("--gradebook", help="also write the scores into this nbgrader gradebook URL "
                                          "(sqlite:///path/gradebook.db or postgresql+psycopg2://...)")
    many.add_argument("--course-id", default=course.COURSE_ID)
    many.add_argument("--data", help="the grading data (default: the fixture); must exist on the workers")
    many.add_argument("--tokenizer")
    _policy_option(many)
    many.set_defaults(func=_cmd_batch)
    report = sub.add_parser("nbgrader-report", help="after nbgrader autograde: graded, error or missing, per student")
    report.add_argument("course", help="the nbgrader course folder")
    report.add_argument("--assignment", default=course.ASSIGNMENT)
    report.add_argument("--course-id", default=course.COURSE_ID)
    report.add_argument("--db", help="the gradebook's URL (default: sqlite:///COURSE/gradebook.db)")
    report.add_argument("--out", help="also write the rows to this CSV file")
    report.set_defaults(func=_cmd_nbgrader_report)
    scope = sub.add_parser("gradescope", help="write the autograder zip for Gradescope (setup.sh, run_autograder)")
    scope.add_argument("--out", default="gradescope", help="folder for autograder.zip (default: gradescope)")
    scope.add_argument("--kit", help="the grader package: its wheel file (put in the zip) or its pip address "
                                     "(default, in the kit's source tree: build the wheel and put it in the zip)")
    scope.add_argument("--constraints", help="the constraints.txt published beside that wheel (with --kit)")
    scope.add_argument("--key-file", help="a file holding the course's grading key (default: this machine's, "
                                          "$AUTOGRADER_KEY or the key file, which signed your calibrations)")
    scope.add_argument("--data", help="grading data for Gradescope (a FakeNewsNet CSV; default: the kit's fixture); "
                                      "it and its calibration go into the zip")
    scope.add_argument("--tokenizer", help="its sentencepiece model (default: beside the data)")
    _policy_option(scope)
    scope.set_defaults(func=_cmd_gradescope)
    build = sub.add_parser("build", help="build the grader and the student packages (wheels) from the source tree")
    build.add_argument("--out", default="dist", help="folder for the two wheels (default: dist)")
    build.set_defaults(func=_cmd_build)
    sub.add_parser("calibrate", help="grade the corpus over many seeds; print each check's rates (see --help)",
                   add_help=False)
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["calibrate"]:
        from autograder import calibrate

        return calibrate.main(argv[1:])
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
