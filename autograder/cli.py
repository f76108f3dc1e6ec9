"""The kit's command line: `autograder release` (and, as the engine grows, grading commands)."""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder import course


def _cmd_release(args: argparse.Namespace) -> int:
    out = course.generate_release(Path(args.out))
    print(f"wrote the student release to {out}")
    return 0


def _cmd_course(args: argparse.Namespace) -> int:
    root = course.make_course(Path(args.dir))
    print(f"wrote an nbgrader course in {root}; next: cd {root} && nbgrader generate_assignment {course.ASSIGNMENT}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description="Grading kit for the RNN embeddings lesson.")
    sub = parser.add_subparsers(dest="command", required=True)
    release = sub.add_parser("release", help="regenerate the student release (assignment/) from reference/")
    release.add_argument("--out", default=str(course.ASSIGNMENT_DIR))
    release.set_defaults(func=_cmd_release)
    make = sub.add_parser("course", help="create an nbgrader course folder holding the lesson as source")
    make.add_argument("dir")
    make.set_defaults(func=_cmd_course)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
