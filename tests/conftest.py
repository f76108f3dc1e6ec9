"""Shared fixtures for the kit's own tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE_NOTEBOOK = REPO / "reference" / "rnn_embeddings.ipynb"
RELEASE_NOTEBOOK = REPO / "assignment" / "rnn_embeddings.ipynb"  # the untouched student release
FIXTURE = REPO / "data_fixtures"
sys.path.insert(0, str(REPO / "reference"))  # `import fakenews_lesson`, as the notebook beside it does


# The test tiers (DEVELOPING.md), one table: each module's tier marker. `make test` runs every tier but the tests
# marked ci_only (what mostly waits, builds, or repeats a path the default run already takes); CI runs everything.
TIERS = {
    "unit": ("test_judges", "test_integrity", "test_specs", "test_structure", "test_notebook", "test_reports", "test_border",
             "test_fuzz", "test_data", "test_tokenizer", "test_lesson_model", "test_fixture"),
    "corpus": ("test_corpus",),
    "sandbox": ("test_untrusted", "test_gradescope", "test_grading", "test_batch", "test_course", "test_nbgrader_course",
                "test_pytest_adapter", "test_calibrations", "test_install", "test_notebooks", "test_differential"),
}
# Modules whose tests share an expensive module fixture: kept on one xdist worker (--dist loadgroup), so that the
# fixture is made once.
# Not test_install: its three venvs are minutes each and would make one worker's chain the run's critical path;
# each worker builds the wheels it needs (seconds).
SHARED_FIXTURES = ("test_nbgrader_course", "test_batch", "test_grading")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the group marks to group the tests
def pytest_collection_modifyitems(config, items):
    tier_of = {module: tier for tier, modules in TIERS.items() for module in modules}
    for item in items:
        module = item.module.__name__.rpartition(".")[2]
        assert module in tier_of, f"{module}: give it a tier in tests/conftest.py, TIERS"
        item.add_marker(getattr(pytest.mark, tier_of[module]))
        if module in SHARED_FIXTURES:
            item.add_marker(pytest.mark.xdist_group(module))
    items.sort(key=_longest_first)


# The longest work first (longest-processing-time scheduling): xdist hands tests out in collection order, and a test
# of five minutes that starts last keeps one core busy while the other idles. Seconds from the CI runs' --durations
# (benchmarks/README.md, "Test times"); the rest keep their order, after these.
LONGEST_FIRST = (
    "tests/test_install.py::test_grader_package_in_a_fresh_venv",  # 160-220 s
    "tests/test_nbgrader_course.py",  # one fixture: 90-140 s
    "tests/test_calibrations.py::test_full_size_data_graded_with_their_measured_calibration",  # 23,000 rows
    "tests/test_batch.py",  # one fixture and a resumed batch: 200-250 s
    "tests/test_install.py",  # two more fresh venvs: 100-200 s each
    "tests/test_grading.py",  # one fixture and the long gradings: 150-250 s
    "tests/test_differential.py",  # a kernel and four gradings each: 20-50 s
)


def _longest_first(item) -> int:
    return next((rank for rank, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
                len(LONGEST_FIRST))


def pytest_runtest_setup(item):
    """Under `--dist loadgroup`, xdist suffixes each grouped test's id with its group. When it does not (pytest 9.2
    with xdist 3.8: the id is no longer the attribute xdist sets), every shared fixture is silently made on both
    workers, minutes of CI each: the grouped tests fail and say why."""
    if getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group") \
            and "@" not in item.nodeid:
        pytest.fail("--dist loadgroup did not group this test with its module's: this pytest and pytest-xdist do not "
                    "work together; install the versions in requirements/constraints.txt", pytrace=False)


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    """Every test starts from the defaults, whatever the developer's shell exports."""
    for name in ("FAKENEWS_DATA", "FAKENEWS_KAGGLE_HANDLE", "FAKENEWS_FIXTURE_DIR", "FAKENEWS_FIGURES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def reference():
    """The reference notebook's definitions (ClassifierWithRNN, ClassifierWithMean, train), executed."""
    from autograder.notebook import load_definitions

    return load_definitions(REFERENCE_NOTEBOOK)


def with_a_reachable_python(argv: list[str]) -> list[str]:
    """`argv`, where an unprivileged uid can run this Python, as in a container image (/usr). Where the Python lives
    under root's private home (pyenv in /root, mode 0700: this CI machine), the command runs in a mount namespace of
    its own whose /root is traversable and holds only that Python, made before the capability is dropped. Skips
    the test where the environment itself (the venv, the checkout) is not reachable by other users."""
    home = Path("/root")
    for folder in [Path(sys.prefix).resolve(), *Path(sys.prefix).resolve().parents]:
        if folder != home and not folder.is_relative_to(home) and not os.stat(folder).st_mode & 0o001:
            if folder.is_relative_to(REPO) and os.access(folder, os.W_OK):  # tox makes .tox/ 0700: let others pass
                folder.chmod(os.stat(folder).st_mode | 0o011)  # through (not list) it, as a container's /usr
                continue
            pytest.skip(f"{folder} (on the way to this Python's environment) is closed to other users")
    if not Path(sys.base_prefix).resolve().is_relative_to(home) or os.stat(home).st_mode & 0o001:
        return argv
    pyenv = next(p for p in [Path(sys.base_prefix).resolve(), *Path(sys.base_prefix).resolve().parents]
                 if p.parent == home)
    script = ('set -e; keep=$(mktemp -d); mount --bind "$1" "$keep"; mount -t tmpfs -o mode=0755 tmpfs /root; '
              'mkdir -p "$1"; mount --bind "$keep" "$1"; umount "$keep"; rmdir "$keep"; shift; exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", str(pyenv), *argv]


def still_sandboxed(pids) -> list[str]:
    """Those of `pids` (processes a submission left, by their own word) still alive as a sandbox uid. By pid, not
    by uid: other gradings on the machine run as sandbox uids too."""
    from autograder import sandbox

    def uid(pid) -> int:
        try:
            return Path(f"/proc/{pid}").stat().st_uid
        except OSError:
            return -1

    return [str(pid) for pid in pids if uid(pid) in sandbox.UID_RANGE]
