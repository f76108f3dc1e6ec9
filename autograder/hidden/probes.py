"""The probes only hidden checks read, run in the grading worker like autograder/probes.py: the training run shared
by loss_decreases and separability, the student's own model trained end to end, and ClassifierWithMean on the
grader's inputs. Grader package only."""

from __future__ import annotations

import torch

from autograder.probes import _grader_model, _load_weights, _losses, _model_class, _state, _train, describe, probe_model
from autograder.recipe import Recipe


def probe_training(ns: dict, job: dict, recipe: Recipe, device: str) -> dict:
    """The shared training run: the student's train() on the grader's model (the grader's secret initial weights),
    on the grader's data. The weights are kept after every optimizer step, and sent back at the start of each
    checkpoint epoch, so that the judge can compare the returned losses with the real ones along the way."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    train = _train(ns)
    model = _grader_model(job, recipe, job["grader_init"])
    snapshots: list[dict] = []
    handle = register_optimizer_step_post_hook(lambda optimizer, args, kwargs: snapshots.append(_state(model)))
    result: dict = {"error": None, "epochs": recipe.epochs}
    try:
        losses = train(model, job["tokens"].clone(), job["y"].clone(), epochs=recipe.epochs, lr=recipe.lr,
                       device=device)
        result["losses"] = _losses(losses)
    except Exception as err:
        result["error"] = describe(err)
    finally:
        handle.remove()
    result["final_state"] = _state(model)
    result["steps"] = len(snapshots)
    per_epoch, remainder = divmod(len(snapshots), recipe.epochs)
    result["checkpoints"] = {str(e): snapshots[e * per_epoch - 1] for e in recipe.checkpoints
                             if per_epoch and not remainder and e < recipe.epochs}
    return result


def probe_end_to_end(ns: dict, job: dict, recipe: Recipe, device: str) -> dict:
    """The student's own ClassifierWithRNN, from the grader's initial weights, trained by the student's train(),
    up to `restarts` times: a new start only while the last run's embeddings, scored here, stayed below
    `restart_below`. The judge recomputes every score from the weights; a wrong count here can only cost chances."""
    from autograder.metrics import separability_score

    train = _train(ns)
    cls = _model_class(ns, "ClassifierWithRNN")
    tokens, y = job["tokens"], job["y"]
    runs = []
    for seed, weights in zip(job["student_seeds"], job["student_inits"]):
        run: dict = {"error": None, "seed": int(seed)}
        score = 0.0
        try:
            torch.manual_seed(seed)
            model = cls(job["vocab_size"], recipe.hidden_dim, recipe.embedding_dim, job["pad"])
            _load_weights(model, weights)
            run["losses"] = _losses(train(model, tokens.clone(), y.clone(), epochs=recipe.epochs, lr=recipe.lr,
                                          device=device))
            run["final_state"] = _state(model)
            with torch.no_grad():
                model.to("cpu")
                score = separability_score(model.summarize(model.embedding(tokens)).numpy(), y.numpy())
        except Exception as err:
            run = {"error": describe(err), "seed": int(seed)}
        runs.append(run)
        if score >= recipe.restart_below:
            break
    return {"runs": runs}


HIDDEN_PROBES = {
    "mean_model": lambda ns, job, recipe, device: probe_model(ns, "ClassifierWithMean", job, recipe),
    "training": probe_training,
    "end_to_end": probe_end_to_end,
}
