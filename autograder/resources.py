"""Where the files the kit reads lie: the lesson (reference/: the notebook, its helper module, the students' README and
CI workflow) and the offline fixture (data_fixtures/: the CSV and its tokenizer).

An installed kit ships them as package data, `autograder.lesson` and `autograder.fixture` (pyproject.toml maps those
package names onto the two folders), read through importlib.resources; a checkout (or an editable install, which
maps only the top-level package) reads the two folders themselves. The student package ships the fixture and the
helper module only: not the solved notebook.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import importlib.util
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
_FOLDERS = {"lesson": CHECKOUT / "reference", "fixture": CHECKOUT / "data_fixtures"}
_extracted = contextlib.ExitStack()  # files extracted from a zipped install, removed when the process ends
atexit.register(_extracted.close)


def _folder(name: str) -> Path:
    """A real folder holding the package data autograder/<name>/ (extracted once from a zipped install)."""
    found = importlib.resources.files("autograder").joinpath(name)
    if found.is_dir():
        if isinstance(found, Path):
            return found
        return _extracted.enter_context(importlib.resources.as_file(found))
    checkout = _FOLDERS[name]
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"the kit's {name} files are missing: this installation of the kit holds no "
                            f"autograder/{name}/ package data and is not a checkout ({CHECKOUT})")


def fixture_dir() -> Path:
    """The folder of the offline fixture: FakeNewsNet.csv and fakenews_tokenizer.model."""
    return _folder("fixture")


def lesson_dir() -> Path:
    """The folder of the lesson: rnn_embeddings.ipynb (grader package only), fakenews_lesson.py, README.md and
    .github/workflows/grade.yml."""
    return _folder("lesson")


def lesson_file(name: str) -> Path:
    path = lesson_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not in this installation of the kit (the student package does not ship "
                                f"the solved lesson; install the grader package, rnn-embeddings-kit)")
    return path


def lesson_module():
    """The lesson's helper module (fakenews_lesson.py), imported from the kit's copy: the one every grading uses."""
    name = "fakenews_lesson"
    module = sys.modules.get(name)
    path = lesson_file("fakenews_lesson.py")
    if module is not None and Path(getattr(module, "__file__", "")).resolve() == path.resolve():
        return module
    spec = importlib.util.spec_from_file_location("autograder._fakenews_lesson", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
