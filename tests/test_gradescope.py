"""The kit on Gradescope (issue 21): `autograder gradescope` writes the autograder zip; its run_autograder, run as
Gradescope runs it (root, a root folder laid out as /autograder) on a temporary root, grades the submission and
writes results/results.json. The grading ones run at the container level (CAP_SYS_ADMIN dropped: Docker's
defaults), the checkout's `autograder` on PATH; setup.sh is checked for syntax (it installs from the network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

import submissions as corpus
from autograder.gradescope import make_zip, unpack
from conftest import REFERENCE_NOTEBOOK, RELEASE_NOTEBOOK, still_sandboxed, with_a_reachable_python


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return make_zip(tmp_path_factory.mktemp("zip"), kit="https://example.org/rnn_embeddings_kit-0.1.0-py3-none-any.whl",
                    key="the-course-key-for-the-tests")


def test_the_zip_holds_the_two_scripts_at_its_root_and_the_key_private(archive):
    with zipfile.ZipFile(archive) as zipped:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zipped.infolist()}
        assert zipped.read("key").decode().strip() == "the-course-key-for-the-tests"
        assert zipped.read("hidden_feedback").decode().strip() == "observed"  # not the fix, before the deadline
    assert set(modes) == {"setup.sh", "run_autograder", "key", "hidden_feedback", "kit.txt", "constraints.txt"}
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755 and modes["key"] == 0o600
    root = unpack(archive, archive.parent / "root")
    for script in ("setup.sh", "run_autograder"):
        done = subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_no_notebook_is_a_result_that_says_so(archive, tmp_path):
    root = unpack(archive, tmp_path / "autograder")
    (root / "submission" / "notes.txt").write_text("my answers")
    os.symlink(REFERENCE_NOTEBOOK, root / "submission" / "rnn_embeddings.ipynb")  # a symlink is not a submission
    done = _run(root)
    results = json.loads((root / "results" / "results.json").read_text())
    assert done.returncode == 0 and results["score"] == 0 and "No notebook" in results["output"], results


def _run(root: Path, wrap=lambda argv: argv) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOGRADER_SANDBOX", "AUTOGRADER_KEY")}
    env["GRADESCOPE_ROOT"] = str(root)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]  # the checkout's autograder
    return subprocess.run(wrap(["bash", str(root / "run_autograder")]), env=env, capture_output=True, text=True,
                          timeout=900)


LEAVES_A_REWRITER = '''    import os, time
    if os.fork() == 0:  # left behind to rewrite the results once grading is done
        os.setsid()
        try:  # one file per process: each probe's worker runs as a uid of its own
            with open(f"{spot}/{{os.getpid()}}.pid", "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            os._exit(0)
        for _ in range(240):
            time.sleep(0.25)
            for path in {paths!r}:
                try:
                    open(path, "w").write('{{"score": 100}}')
                except OSError:
                    pass
        os._exit(0)
'''


@pytest.mark.slow
@pytest.mark.ci_only  # two gradings and 15 s waited
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="Gradescope runs it as root")
def test_run_autograder_in_a_container_grades_and_nothing_rewrites_the_results(archive, tmp_path):
    """The reference, with a train() that leaves a process to rewrite results.json, gets 12 with its results intact
    a quarter of a minute later (the process is gone); the untouched release gets 0; the key is in neither."""
    drop = lambda argv: with_a_reachable_python(["setpriv", "--bounding-set", "-sys_admin", "--", *argv])  # noqa: E731
    root = unpack(archive, tmp_path / "autograder")
    results = root / "results" / "results.json"
    spot = Path(tempfile.mkdtemp(prefix="gradescope-left-"))  # under /tmp: reachable by the sandbox's uid
    spot.chmod(0o777)
    attack = corpus.Submission("LeavesARewriter", corpus.loop(
        LEAVES_A_REWRITER.format(paths=[str(results), str(root / "results" / "results.json.tmp")], spot=str(spot))
        + corpus.REFERENCE_LOOP))
    shutil.copy(corpus.build(attack, tmp_path), root / "submission" / "rnn_embeddings.ipynb")
    done = _run(root, drop)
    written = results.read_bytes()
    graded = json.loads(written)
    assert graded["score"] == 12, done.stdout[-3000:] + done.stderr[-3000:]
    assert graded["extra_data"]["isolation"] == "container"
    assert all(t["visibility"] == "visible" for t in graded["tests"])
    time.sleep(15)
    assert results.read_bytes() == written
    left = [p.stem for p in spot.glob("*.pid")]  # the processes it left, by their own word (other gradings may
    assert left  # run beside this one)
    assert not still_sandboxed(left), left
    shutil.rmtree(spot)
    assert "the-course-key-for-the-tests" not in done.stdout + done.stderr + written.decode()

    (root / "submission" / "rnn_embeddings.ipynb").unlink()
    shutil.copy(RELEASE_NOTEBOOK, root / "submission" / "rnn_embeddings.ipynb")
    done = _run(root, drop)
    assert json.loads(results.read_text())["score"] == 0, done.stdout[-3000:]



def test_the_instructors_key_data_and_calibration_travel_in_the_zip(tmp_path, monkeypatch):
    """By default the zip carries the instructor's own key (the one that signed their calibrations); with --data,
    the data and the calibration made for them, which run_autograder then grades with."""
    from autograder.hidden import calibrations
    from autograder.hidden.judges import Thresholds
    from autograder.recipe import fixture_paths

    monkeypatch.setenv("AUTOGRADER_KEY", "the instructor's key")
    monkeypatch.setenv(calibrations.USER_ENV, str(tmp_path / "calibrations"))
    data = fixture_paths()
    made = calibrations.Calibration(calibrations.fingerprint(data.csv, data.tokenizer), "mine", Thresholds(), 400)
    calibrations.save(made, tmp_path / "measured")
    archive = make_zip(tmp_path / "zip", kit="https://example.org/kit.whl", data=data.csv, tokenizer=data.tokenizer)
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        assert zipped.read("key").decode().strip() == "the instructor's key"
    assert {"data/FakeNewsNet.csv", "data/fakenews_tokenizer.model", f"calibrations/{made.fingerprint}.json"} <= names
    root = unpack(archive, tmp_path / "autograder")
    assert (root / "source" / "calibrations" / f"{made.fingerprint}.json").is_file()
    assert '--data "$SOURCE/data/FakeNewsNet.csv"' in (root / "run_autograder").read_text()
