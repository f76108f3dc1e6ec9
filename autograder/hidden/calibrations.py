"""Thresholds belong to a dataset: each calibration is stored with the fingerprint of the data it was measured on
(the CSV's and the tokenizer's bytes), and grading uses the thresholds calibrated for its data.

- The kit ships the fixture's calibration (calibrations.json, beside this file; measured in calibration/README.md).
- `autograder calibrate --data X` measures the corpus on X, derives the thresholds (derive(), below) and stores them
  in X's calibration folder and in the user's calibrations (~/.config/rnn-embeddings-kit/calibrations/, or
  $AUTOGRADER_CALIBRATIONS: set it to a shared folder for a cluster), signed with the grading key: grading reads
  only those signed with the key it runs under (calibrate with the course's AUTOGRADER_KEY).
- Grading data that no calibration covers are graded with a loud warning, recorded in every report (`calibration`
  in results.json), and with thresholds that follow the data (`from_grader_run`, below): the grader trains its own
  model once on these data, from the same secret initial weights and with the same recipe as the student's train()
  gets, and separability's bar sits MARGIN below what that correct run reached (never above the fixture's). A
  correct loop lands where the grader's does; labels misaligned with the text do not. Where the grader's own run
  does not separate the classes either, no line can be drawn from it: the fixture's thresholds stay, and the warning
  says so. end_to_end keeps the fixture's bar (the student's own model, in a form the grader does not train).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
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


def signature(data: dict) -> str:
    """The grading key's HMAC of a calibration (its JSON without the signature). A calibration in the user's folder
    counts only when signed with the key grading runs under: code that could write that folder (a shared
    $AUTOGRADER_CALIBRATIONS, the weak rlimits level) cannot make one that moves a threshold, since it cannot read
    the key (docs/trust-boundary.md, rule 9)."""
    import hmac

    from autograder.plan import grading_key

    body = json.dumps({k: v for k, v in data.items() if k != "signature"}, sort_keys=True).encode()
    return hmac.new(grading_key(), b"calibration|" + body, hashlib.sha256).hexdigest()


def _entries() -> list[Calibration]:
    import hmac

    found = [Calibration.from_json(e, str(SHIPPED)) for e in json.loads(SHIPPED.read_text())["calibrations"]]
    folder = user_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text())
                if not hmac.compare_digest(str(data.get("signature", "")), signature(data)):
                    continue  # not signed with this key: no calibration (grading warns the data are uncalibrated)
                found.append(Calibration.from_json(data, str(path)))
            except (ValueError, KeyError, TypeError, AttributeError, OSError):
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
    data = calibration.to_json()
    data["signature"] = signature(data)
    for target in (Path(folder) / "thresholds.json", user_dir() / f"{calibration.fingerprint}.json"):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=1) + "\n")
        written.append(target)
    return written


# How a threshold is derived from a calibration's records: the statistic of each correct run (the reference and the
# variants) and of each run of a mutant that targets the check. The line goes halfway between the worst correct run
# and the best targeted mutant; with no targeted mutant, SPARE below the worst correct run, but never above the
# fixture's (a few correct runs that all scored 0.999 are no reason to demand 0.949 of the next one). Where the two
# overlap, no line separates right from wrong on these data: the fixture's threshold is kept, and the calibration
# says so.
SPARE = 0.05
RULES = {  # threshold -> (check, statistic of a record)
    "separable": ("separability", lambda r: r.get("score_after")),
    "separable_gain": ("separability", lambda r: None if r.get("score_after") is None
                       else r["score_after"] - r["score_before"]),
    "end_to_end": ("end_to_end", lambda r: max(r["scores"]) if r.get("scores") else None),
}


MARGIN = 0.10  # uncalibrated data: separability's bar this far below the grader's own correct run
MIN_GAIN = 0.10  # ... drawn only when that run gained this much over the untrained embeddings


@dataclass
class GraderRun:
    """The grader's own correct training run on the grading data (from_grader_run)."""

    score_before: float
    score_after: float
    seconds: float

    @property
    def separates(self) -> bool:
        return self.score_after - self.score_before >= MIN_GAIN


def grader_run(plan, recipe) -> GraderRun:
    """The lesson's loop (full-batch Adam on binary cross-entropy, recipe.epochs at recipe.lr), run by the grader on
    its own model from the plan's secret initial weights, on the plan's data, on one thread: what a correct train()
    does in the training probe. Scored like the student's run (autograder.metrics.separability_score)."""
    import time

    import torch

    from autograder.hidden.grading_model import GraderRNN
    from autograder.training_model import full_batch_step
    from autograder.limits import one_thread
    from autograder.metrics import separability_score
    from autograder.recompute import document_summaries

    start = time.perf_counter()
    model = GraderRNN(plan.vocab_size, recipe.hidden_dim, recipe.embedding_dim, plan.pad)
    model.load_state_dict(plan.grader_init)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)

    def train() -> None:
        for _ in range(recipe.epochs):
            full_batch_step(model, optimizer, plan.tokens, plan.y)

    one_thread(train)
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    labels = plan.y.numpy()
    before = separability_score(document_summaries(plan.grader_init, plan.tokens, "grader"), labels)
    after = separability_score(document_summaries(final, plan.tokens, "grader"), labels)
    return GraderRun(before, after, time.perf_counter() - start)


def from_grader_run(run: GraderRun, base: Thresholds | None = None) -> tuple[Thresholds, str]:
    """Thresholds for data no calibration covers: separability's bar MARGIN below the grader's own correct run (never
    above `base`, the fixture's), its gain at most half of that run's; and a sentence that says what was done."""
    base = base or Thresholds()
    seen = f"the grader's own run on these data went {run.score_before:.2f} -> {run.score_after:.2f}"
    if not run.separates:
        return base, (f"{seen}, so no line between right and wrong can be drawn from it: separability is judged "
                      f"with the fixture's thresholds, which may not fit these data")
    separable = round(min(base.separable, run.score_after - MARGIN), 3)
    gain = round(min(base.separable_gain, 0.5 * (run.score_after - run.score_before)), 3)
    return replace(base, separable=separable, separable_gain=gain), (
        f"{seen}; separability's bar set {MARGIN:g} below it: balanced accuracy >= {separable} and a gain of "
        f"{gain} (end_to_end keeps the fixture's {base.end_to_end})")


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
        elif wrong:
            values[name] = round(max((max(wrong) + min(correct)) / 2, 0.01), 3)
        else:  # nothing wrong was measured near it: the line may come down to make room, never go up
            values[name] = round(max(min(min(correct) - SPARE, getattr(base, name)), 0.01), 3)
            if values[name] == getattr(base, name):
                entry["kept"] = ("no targeted mutant was measured, and the correct runs leave the fixture's threshold "
                                 "room: it is kept (a line is raised only where a mutant shows the need)")
        measured[name] = entry
    return Thresholds(**values), measured


@dataclass
class Choice:
    """The thresholds a grading judges with, and what every report says about where they came from."""

    thresholds: Thresholds
    calibration: str  # "calibrated on <data> (<fingerprint>)", or "uncalibrated: ..."
    warnings: list[str] = field(default_factory=list)
    grader_run: dict | None = None  # uncalibrated data: the grader's own run the thresholds came from


def choose(data, plan, recipe, judged=()) -> Choice:
    """The thresholds calibrated for these data; on data no calibration covers, thresholds from the grader's own run
    on them (when separability is judged), with a warning for every report."""
    found = lookup(data.csv, data.tokenizer)
    if found is not None:
        return Choice(found.thresholds, f"calibrated on {found.name} ({found.fingerprint})")
    seen = fingerprint(data.csv, data.tokenizer)
    choice = Choice(Thresholds(), f"uncalibrated: {data.csv} ({seen})")
    how = "graded with the offline fixture's thresholds, which separability may not fit here"
    if "separability" in judged:
        run = grader_run(plan, recipe)
        choice.grader_run = asdict(run)
        choice.thresholds, how = from_grader_run(run)
        choice.calibration += f"; {how}"
    choice.warnings.append(
        f"UNCALIBRATED DATA: no calibration covers {data.csv} with tokenizer {data.tokenizer} (fingerprint "
        f"{seen}); {how}. Calibrate once for thresholds measured on these data: "
        f"autograder calibrate --data {data.csv} --tokenizer {data.tokenizer}")
    return choice
