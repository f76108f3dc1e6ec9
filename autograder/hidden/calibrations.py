"""Thresholds belong to a dataset: each calibration is stored with the fingerprint of the data it was measured on
(the CSV's and the tokenizer's bytes), and grading uses the thresholds calibrated for its data.

- The kit ships the fixture's calibration (calibrations.json, beside this file; measured in calibration/README.md).
- `autograder calibrate --data X` measures the corpus on X, derives the thresholds (derive(), below) and stores them
  in X's calibration folder and in the user's calibrations (~/.config/rnn-embeddings-kit/calibrations/, or
  $AUTOGRADER_CALIBRATIONS: set it to a shared folder for a cluster).
- Grading data that no calibration covers are graded with the fixture's thresholds and a loud warning, recorded in
  every report (`calibration` in results.json): the verdicts of the statistical checks (separability, end_to_end)
  then rest on thresholds measured on other data.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.hidden.judges import Thresholds

SHIPPED = Path(__file__).resolve().parent / "calibrations.json"
USER_ENV = "AUTOGRADER_CALIBRATIONS"
STATISTICAL = ("separable", "separable_gain", "end_to_end")  # the thresholds a dataset moves; the rest stay


def user_dir() -> Path:
    return Path(os.environ.get(USER_ENV) or Path.home() / ".config" / "rnn-embeddings-kit" / "calibrations")


def fingerprint(csv: str | os.PathLike, tokenizer: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    for path in (csv, tokenizer):
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@dataclass
class Calibration:
    fingerprint: str
    name: str
    thresholds: Thresholds
    rows: int | None = None
    measured: dict = field(default_factory=dict)  # per threshold: the statistics it was derived from, or why not
    source: str = ""  # where it was read from

    def to_json(self) -> dict:
        return {"fingerprint": self.fingerprint, "name": self.name, "rows": self.rows,
                "thresholds": asdict(self.thresholds), "measured": self.measured}

    @classmethod
    def from_json(cls, data: dict, source: str) -> "Calibration":
        return cls(data["fingerprint"], data["name"], Thresholds(**data["thresholds"]), data.get("rows"),
                   data.get("measured", {}), source)


def _entries() -> list[Calibration]:
    found = [Calibration.from_json(e, str(SHIPPED)) for e in json.loads(SHIPPED.read_text())["calibrations"]]
    folder = user_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                found.append(Calibration.from_json(json.loads(path.read_text()), str(path)))
            except (ValueError, KeyError, TypeError):
                continue  # a broken file is no calibration; grading then warns that the data are uncalibrated
    return found


def lookup(csv, tokenizer) -> Calibration | None:
    """The calibration measured on exactly these data (CSV and tokenizer), or None."""
    wanted = fingerprint(csv, tokenizer)
    matches = [c for c in _entries() if c.fingerprint == wanted]
    return matches[-1] if matches else None  # the user's own, measured last, over the shipped one


def save(calibration: Calibration, folder: Path) -> list[Path]:
    """Writes thresholds.json into `folder` and installs it among the user's calibrations; returns both paths."""
    written = []
    for target in (Path(folder) / "thresholds.json", user_dir() / f"{calibration.fingerprint}.json"):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(calibration.to_json(), indent=1) + "\n")
        written.append(target)
    return written


# How a threshold is derived from a calibration's records: the statistic of each correct run (the reference and the
# variants) and of each run of a mutant that targets the check. The line goes halfway between the worst correct run
# and the best targeted mutant; with no targeted mutant, SPARE below the worst correct run. Where the two overlap, no
# line separates right from wrong on these data: the fixture's threshold is kept, and the calibration says so.
SPARE = 0.05
RULES = {  # threshold -> (check, statistic of a record)
    "separable": ("separability", lambda r: r.get("score_after")),
    "separable_gain": ("separability", lambda r: None if r.get("score_after") is None
                       else r["score_after"] - r["score_before"]),
    "end_to_end": ("end_to_end", lambda r: max(r["scores"]) if r.get("scores") else None),
}


def derive(records: list[dict], base: Thresholds | None = None) -> tuple[Thresholds, dict]:
    base = base or Thresholds()
    values, measured = asdict(base), {}
    for name, (check, statistic) in RULES.items():
        correct = [statistic(r) for r in records if r["check"] == check and r["kind"] != "mutant"]
        wrong = [statistic(r) for r in records if r["check"] == check and r["kind"] == "mutant" and r["targeted"]]
        correct, wrong = [x for x in correct if x is not None], [x for x in wrong if x is not None]
        entry = {"correct_min": min(correct, default=None), "correct_runs": len(correct),
                 "mutant_max": max(wrong, default=None), "mutant_runs": len(wrong)}
        if not correct:
            entry["kept"] = "no correct run was judged: the fixture's threshold is kept"
        elif wrong and max(wrong) >= min(correct):
            entry["kept"] = (f"no line separates right from wrong here (a targeted mutant reached {max(wrong):.3f}, a "
                             f"correct run {min(correct):.3f}): the fixture's threshold is kept")
        else:
            line = (max(wrong) + min(correct)) / 2 if wrong else min(correct) - SPARE
            values[name] = round(max(line, 0.01), 3)
        measured[name] = entry
    return Thresholds(**values), measured
