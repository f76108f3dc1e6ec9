"""The committed fixture is exactly what its script makes."""

from __future__ import annotations

import subprocess
import sys

from conftest import FIXTURE


def test_make_fixture_reproduces_the_committed_files(tmp_path):
    """Does data_fixtures/make_fixture.py rebuild the committed CSV and tokenizer byte for byte?"""
    subprocess.run([sys.executable, str(FIXTURE / "make_fixture.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("FakeNewsNet.csv", "fakenews_tokenizer.model", "fakenews_tokenizer.vocab"):
        assert (tmp_path / name).read_bytes() == (FIXTURE / name).read_bytes(), f"{name} differs; rerun the script"
