"""Where optimizer_protocol's replay draws its line (issue 19): for N secret plans on the fixture, the distance
between the judge's two replays of the lesson's short loop (with and without zero_grad()), and the distance from the
weights every train() of the corpus leaves to each replay. Prints a Markdown table; calibration/README.md records it.

    python calibration/replay_line.py [PLANS]      # about 30 s for 40 plans
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "reference")]

import submissions as corpus  # noqa: E402
from autograder.hidden.grading_model import GraderRNN  # noqa: E402
from autograder.hidden.judges import REPLAY_ATOL, Thresholds, _distance, replay_loop  # noqa: E402
from autograder.judging import Context  # noqa: E402
from autograder.notebook import load_definitions  # noqa: E402
from autograder.plan import make_plan  # noqa: E402
from autograder.recipe import Recipe, fixture_paths  # noqa: E402


def main(plans: int = 40) -> None:
    torch.set_num_threads(1)
    recipe, folder = Recipe(), Path(tempfile.mkdtemp())
    subjects = [corpus.Submission("reference", {})] + [s for s in corpus.VARIANTS + corpus.MUTANTS
                                                       if "train" in s.edits]
    correct = {"reference"} | {s.name for s in corpus.VARIANTS}
    spaces = {}
    for s in subjects:
        try:
            spaces[s.name] = load_definitions(corpus.build(s, folder) if s.edits else corpus.REFERENCE)
        except ValueError:  # a top-level statement needs the lesson's data cell (graded with the grader's data)
            continue
    gaps, to_clear, to_accumulate, kinds = [], {}, {}, {}
    for secret in range(plans):
        plan = make_plan(recipe, fixture_paths(), 1000 + secret)
        ctx = Context(recipe, plan, "cpu", Thresholds())
        clear, accumulate = replay_loop(ctx, True), replay_loop(ctx, False)
        gaps.append(_distance(clear, accumulate))
        tokens, y = plan.tokens[: recipe.loop_rows], plan.y[: recipe.loop_rows]
        for name, ns in spaces.items():
            ns.setdefault("progress", lambda it, **k: it)
            model = GraderRNN(plan.vocab_size, recipe.hidden_dim, recipe.embedding_dim, plan.pad)
            model.load_state_dict(plan.loop_init)
            torch.manual_seed(secret)
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    ns["train"](model, tokens.clone(), y.clone(), epochs=recipe.loop_epochs, lr=recipe.lr,
                                device="cpu")
            except Exception:  # noqa: BLE001 - a mutant's own error (HardCodedCuda without the grader's emulation)
                kinds.setdefault(name, set()).add("raised")
                continue
            got = {k: v.detach().clone() for k, v in model.state_dict().items()}
            dc, da = _distance(got, clear), _distance(got, accumulate)
            to_clear.setdefault(name, []).append(dc)
            to_accumulate.setdefault(name, []).append(da)
            kinds.setdefault(name, set()).add("clear" if dc <= REPLAY_ATOL else "accumulate" if da <= REPLAY_ATOL
                                              else "neither")
    print(f"{plans} plans on the fixture; the line: {REPLAY_ATOL:g}; the two replays end "
          f"{min(gaps):.1e} to {max(gaps):.1e} apart\n")
    print("| train() | kind | follows | farthest from the replay it follows |")
    print("|---|---|---|---|")
    for name in spaces:
        follows = sorted(kinds.get(name, ()))
        far = max(to_clear[name]) if follows == ["clear"] else max(to_accumulate[name]) \
            if follows == ["accumulate"] else None
        print(f"| {name} | {'correct' if name in correct else 'mutant'} | {', '.join(follows)} | "
              f"{'' if far is None else f'{far:.1e}'} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
