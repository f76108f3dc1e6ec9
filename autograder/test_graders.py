"""The hidden graders as pytest tests, one per check (ids are the check names). See autograder/pytest_plugin.py."""

from __future__ import annotations

import pytest

from autograder.checks import REGISTRY


@pytest.mark.parametrize("check", REGISTRY, ids=lambda check: check.name)
def test_check(check, graded, record_property):
    if check.name not in graded:
        pytest.skip("not a public check")
    verdict = graded[check.name]
    record_property("points", f"{verdict.score:g}/{verdict.max_score:g}")
    if not verdict.passed:
        pytest.fail(f"{check.name}: 0 / {verdict.max_score:g} points\n{verdict.message}", pytrace=False)
