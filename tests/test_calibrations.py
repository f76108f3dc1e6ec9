"""Thresholds belong to a dataset (autograder/hidden/calibrations.py): the shipped fixture calibration, how new
thresholds are derived, what grading uncalibrated data does, and (CI only) calibrate --data then grade --data on
generated data, and a grading at full size with the calibration measured there."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from autograder import cli
from autograder.hidden import calibrations
from autograder.hidden.judges import Thresholds
from autograder.recipe import DataPaths, fixture_paths
from conftest import FIXTURE, REFERENCE_NOTEBOOK, REPO


@pytest.fixture(autouse=True)
def _own_calibrations(tmp_path, monkeypatch):
    """Each test starts with no calibrations of the user's: only the shipped ones."""
    monkeypatch.setenv(calibrations.USER_ENV, str(tmp_path / "user-calibrations"))


def test_the_fixture_calibration_is_shipped_and_is_the_default():
    paths = fixture_paths()
    found = calibrations.lookup(paths.csv, paths.tokenizer)
    assert found is not None and "fixture" in found.name and found.rows == 400
    assert asdict(found.thresholds) == asdict(Thresholds())  # one set of numbers: the shipped file, the defaults


def test_thresholds_are_derived_halfway_or_kept_when_nothing_separates():
    def record(kind, after, before=0.5, targeted=True, scores=None, check="separability"):
        return {"check": check, "kind": kind, "targeted": targeted, "score_after": after, "score_before": before,
                "scores": scores}

    records = [record("reference", 0.83), record("variant", 0.85), record("mutant", 0.55)]
    records += [record("reference", None, scores=[0.60, 0.70], check="end_to_end")]
    thresholds, measured = calibrations.derive(records)
    assert thresholds.separable == round((0.83 + 0.55) / 2, 3)  # halfway between worst right and best wrong
    assert thresholds.separable_gain == round((0.33 + 0.05) / 2, 3)
    assert thresholds.end_to_end == round(0.70 - calibrations.SPARE, 3)  # no targeted mutant: a spare below
    easy = [record("reference", None, scores=[0.999], check="end_to_end")]  # no mutant: never raised above
    thresholds, measured = calibrations.derive(easy)
    assert thresholds.end_to_end == Thresholds().end_to_end and "kept" in measured["end_to_end"]
    assert thresholds.loss_drop == Thresholds().loss_drop  # the loss thresholds are not a dataset's
    overlapping = [record("reference", 0.60), record("mutant", 0.70)]
    thresholds, measured = calibrations.derive(overlapping)
    assert thresholds.separable == Thresholds().separable and "no line separates" in measured["separable"]["kept"]


def test_uncalibrated_data_draw_separabilitys_line_below_the_graders_own_run():
    """Data no calibration covers: separability's bar MARGIN below the grader's own correct run on them (the real
    FakeNewsNet: about 0.83), its gain at most half of that run's, never above the fixture's; no line when that run
    does not separate either."""
    fixture = Thresholds()
    real_like, how = calibrations.from_grader_run(calibrations.GraderRun(0.52, 0.83, 30.0))
    assert real_like.separable == round(0.83 - calibrations.MARGIN, 3) and real_like.separable_gain == fixture.separable_gain
    assert real_like.end_to_end == fixture.end_to_end and real_like.loss_drop == fixture.loss_drop
    assert "0.52 -> 0.83" in how and "0.73" in how
    easy, _ = calibrations.from_grader_run(calibrations.GraderRun(0.55, 1.0, 1.0))
    assert easy.separable == fixture.separable  # never above the fixture's
    gains_little, _ = calibrations.from_grader_run(calibrations.GraderRun(0.60, 0.85, 1.0))
    assert gains_little.separable_gain == 0.125  # half of what the grader's own run gained
    stuck, how = calibrations.from_grader_run(calibrations.GraderRun(0.50, 0.55, 1.0))
    assert stuck == fixture and "no line between right and wrong" in how


def _generated(folder: Path, rows: int, seed: int, noise: float = 0.0) -> DataPaths:
    """`rows` headlines from the fixture's generator, in the Kaggle schema, with a tokenizer trained on them; with
    `noise`, that share worded as the other class would word it (0.15: about as hard as the real FakeNewsNet)."""
    sys.path.insert(0, str(REPO / "data_fixtures"))
    from make_fixture import make_rows

    from autograder.data import KAGGLE_COLUMNS, train_tokenizer

    folder.mkdir(parents=True)
    with open(folder / "FakeNewsNet.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(KAGGLE_COLUMNS))
        writer.writeheader()
        writer.writerows(make_rows(rows, 0.75, seed=seed, noise=noise))
    train_tokenizer(folder / "FakeNewsNet.csv", folder / "fakenews_tokenizer", vocab_size=600)
    return DataPaths(str(folder / "FakeNewsNet.csv"), str(folder / "fakenews_tokenizer.model"))


@pytest.mark.slow
@pytest.mark.ci_only  # 2,000 hard rows, the grader's own run beside
def test_the_reference_gets_full_marks_on_hard_uncalibrated_data(tmp_path, capsys, monkeypatch):
    """The issue's 10/12: on data as hard as the real FakeNewsNet (15% of the headlines worded as the other class),
    never calibrated, the fixture's 0.90 failed a correct run at 0.83. With the bar below the grader's own run, the
    reference gets full marks, and labels misaligned with the text still fail separability."""
    monkeypatch.setenv(calibrations.USER_ENV, str(tmp_path / "no-calibrations"))
    data = _generated(tmp_path / "hard", 2000, seed=7, noise=0.15)
    code = cli.main(["grade", str(REFERENCE_NOTEBOOK), "--data", data.csv, "--out", str(tmp_path / "graded")])
    results = json.loads((tmp_path / "graded" / "results.json").read_text())
    printed = capsys.readouterr().out
    assert code == 0 and results["score"] == 12, printed
    assert "UNCALIBRATED DATA" in printed and "the grader's own run on these data went" in printed
    run = results["extra_data"]["grader_run"]
    assert 0.75 < run["score_after"] < 0.95 and run["score_after"] - run["score_before"] > calibrations.MIN_GAIN

    import submissions

    from autograder.grade import grade

    mutant = next(s for s in submissions.MUTANTS if s.name == "ShuffledLabels")
    report = grade(submissions.build(mutant, tmp_path), names=["separability"], data=data)
    assert not report.verdicts[0].passed and report.grader_run is not None, report.verdicts[0].observed


def _other_data(folder: Path, extra_rows: int = 1) -> DataPaths:
    """The fixture with a few more rows: other data, with another fingerprint."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE / "fakenews_tokenizer.model", folder / "fakenews_tokenizer.model")
    text = (FIXTURE / "FakeNewsNet.csv").read_text()
    extra = "".join(f"Extra headline number {i} about a star,u,d,1,1\n" for i in range(extra_rows))
    (folder / "FakeNewsNet.csv").write_text(text + extra)
    return DataPaths(str(folder / "FakeNewsNet.csv"), str(folder / "fakenews_tokenizer.model"))


def test_grading_uncalibrated_data_warns_in_every_report(tmp_path, capsys):
    data = _other_data(tmp_path / "data")
    code = cli.main(["grade", str(REFERENCE_NOTEBOOK), "--data", data.csv, "--only", "shapes",
                     "--out", str(tmp_path / "out")])
    assert code == 0  # the verdicts stand; the warning says on what thresholds
    printed = capsys.readouterr().out
    assert "grader warning: UNCALIBRATED DATA" in printed and "autograder calibrate --data" in printed
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["extra_data"]["calibration"].startswith("uncalibrated")
    assert "UNCALIBRATED DATA" in results["extra_data"]["warnings"][0]
    assert "Grader warning: UNCALIBRATED DATA" in (tmp_path / "out" / "feedback.html").read_text()
    code = cli.main(["grade", str(REFERENCE_NOTEBOOK), "--only", "shapes", "--out", str(tmp_path / "fixture")])
    results = json.loads((tmp_path / "fixture" / "results.json").read_text())
    assert code == 0 and results["extra_data"]["calibration"].startswith("calibrated on the offline fixture")
    assert results["extra_data"]["warnings"] == []


def _full_size(folder: Path, rows: int) -> DataPaths:
    """A generated dataset of `rows` headlines in the Kaggle schema (the fixture's generator), with its tokenizer."""
    return _generated(folder, rows, seed=11)


@pytest.mark.slow
@pytest.mark.ci_only
def test_calibrate_then_grade_on_other_data(tmp_path, capsys):
    """2,000 generated headlines: `calibrate --data` stores thresholds under the data's fingerprint, the mutant's
    statistic below the line and the reference's above; `grade --data` then uses them (its report says so): the
    reference gets full marks. (The mutant's own grading at the same seed is the calibration's run of it.) Nothing
    of this chain depends on the data's size: the full size is graded below, with the calibration measured there."""
    data = _generated(tmp_path / "data", 2000, seed=11)
    code = cli.main(["calibrate", "--data", data.csv, "--seeds", "1", "--jobs", "2",
                     "--only", "reference", "ShuffledLabels", "--out", str(tmp_path / "calibration")])
    assert code == 0
    stored = json.loads((tmp_path / "calibration" / "thresholds.json").read_text())
    assert stored["fingerprint"] == calibrations.fingerprint(data.csv, data.tokenizer) and stored["rows"] == 2000
    measured = stored["measured"]["separable"]
    assert measured["correct_runs"] == 1 and measured["mutant_runs"] == 1 and "kept" not in measured, measured
    assert measured["mutant_max"] < stored["thresholds"]["separable"] < measured["correct_min"]
    capsys.readouterr()
    code = cli.main(["grade", str(REFERENCE_NOTEBOOK), "--data", data.csv, "--out", str(tmp_path / "graded")])
    results = json.loads((tmp_path / "graded" / "results.json").read_text())
    assert code == 0 and results["score"] == 12, capsys.readouterr().out
    assert results["extra_data"]["calibration"].startswith("calibrated on " + data.csv)
    assert results["extra_data"]["warnings"] == []


@pytest.mark.slow
@pytest.mark.ci_only
def test_full_size_data_graded_with_their_measured_calibration(tmp_path, capsys):
    """23,000 generated headlines, the real FakeNewsNet's size: the calibration measured on exactly these data
    (calibration/full-size/, 7 gradings: calibration/README.md) installed as `calibrate` installs one, then
    `grade --data` in the sandbox: the reference gets full marks with those thresholds (its report says so)."""
    data = _full_size(tmp_path / "full", 23000)
    measured = json.loads((REPO / "calibration" / "full-size" / "thresholds.json").read_text())
    assert measured["fingerprint"] == calibrations.fingerprint(data.csv, data.tokenizer), \
        "the generator's 23,000 rows changed: measure calibration/full-size again (calibration/README.md)"
    calibrations.save(calibrations.Calibration.from_json(measured, "calibration/full-size"), tmp_path / "installed")
    code = cli.main(["grade", str(REFERENCE_NOTEBOOK), "--data", data.csv, "--out", str(tmp_path / "graded")])
    results = json.loads((tmp_path / "graded" / "results.json").read_text())
    assert code == 0 and results["score"] == 12, capsys.readouterr().out
    assert results["extra_data"]["calibration"].startswith(f"calibrated on {measured['name']} (851177da4a265419)")
    assert results["extra_data"]["warnings"] == []


def test_only_calibrations_signed_with_the_grading_key_count(tmp_path, monkeypatch):
    """Issue 19: a calibration file written by anyone who cannot read the key (code at the weak level, a user of
    a shared calibrations folder) moves no threshold; one that `calibrate` saved under the same key does."""
    from autograder.hidden.judges import Thresholds

    monkeypatch.setenv(calibrations.USER_ENV, str(tmp_path / "user"))
    monkeypatch.setenv("AUTOGRADER_KEY", "the course's key")
    made = calibrations.Calibration("f" * 16, "data.csv", Thresholds(separable=0.01), 23000)
    calibrations.save(made, tmp_path / "out")
    assert [c.thresholds.separable for c in calibrations._entries() if c.fingerprint == "f" * 16] == [0.01]
    forged = json.loads((tmp_path / "out" / "thresholds.json").read_text())
    forged["thresholds"]["separable"] = 0.0
    (tmp_path / "user" / ("f" * 16 + ".json")).write_text(json.dumps(forged))
    assert [c for c in calibrations._entries() if c.fingerprint == "f" * 16] == []
    unsigned = dict(forged)
    unsigned.pop("signature")
    (tmp_path / "user" / ("f" * 16 + ".json")).write_text(json.dumps(unsigned))
    assert [c for c in calibrations._entries() if c.fingerprint == "f" * 16] == []
    monkeypatch.setenv("AUTOGRADER_KEY", "another course's key")
    calibrations.save(made, tmp_path / "out")  # re-signed under the other key: valid there only
    assert len([c for c in calibrations._entries() if c.fingerprint == "f" * 16]) == 1
    monkeypatch.setenv("AUTOGRADER_KEY", "the course's key")
    assert [c for c in calibrations._entries() if c.fingerprint == "f" * 16] == []
