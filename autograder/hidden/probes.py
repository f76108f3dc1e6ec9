"""The probes only hidden checks read, run in the grading worker like autograder/probes.py: the training run shared
by loss_decreases and separability, the student's own model trained end to end, and ClassifierWithMean on the
grader's inputs. Grader package only."""

from __future__ import annotations

import torch

from autograder.probe_kit import describe, grader_model, load_weights, model_class, probe_model, returned_losses, state_copy, \
    train_function
from autograder.recipe import Recipe
from autograder.spy import steps_model


class _Snapshots:
    """The weights after optimizer steps, at most `budget` of them, evenly spaced: every step while they fit, then
    every second, fourth, ... one (a minibatch loop on 23k rows takes 180,000 steps in 500 epochs)."""

    def __init__(self, model: torch.nn.Module, budget: int = 2048):
        self.model, self.budget, self.stride, self.steps, self.kept = model, budget, 1, 0, {}

    def __call__(self, optimizer, args, kwargs) -> None:
        if not steps_model(optimizer, self.model):  # another optimizer in this process (hooks are global)
            return
        if self.steps % self.stride == 0:
            self.kept[self.steps] = state_copy(self.model)
            if len(self.kept) > self.budget:
                self.stride *= 2
                self.kept = {i: s for i, s in self.kept.items() if i % self.stride == 0}
        self.steps += 1

    def along_epochs(self, recipe: Recipe) -> dict:
        """For each of the recipe's loss epochs, the kept weights from its start (after the previous epoch's last
        step) to its end, at most `recipe.samples` + 1 of them spread evenly; where the kept ones are sparser than
        an epoch, the nearest on either side. A loop that returns the mean of its minibatch losses returns a value
        the losses at these weights span (the first epoch's start is the initial weights, which the judge holds).
        Nothing when the steps do not divide evenly into epochs."""
        per_epoch, remainder = divmod(self.steps, recipe.epochs)
        if not per_epoch or remainder:
            return {}
        kept = sorted(self.kept)
        picked = {}
        for epoch in recipe.loss_epochs():
            first, last = epoch * per_epoch - 1, (epoch + 1) * per_epoch - 1
            inside = [i for i in kept if first <= i <= last]
            before = [i for i in kept if i < first][-1:] if first not in inside and first >= 0 else []
            after = [i for i in kept if i > last][:1] if last not in inside else []
            span = before + inside + after
            n = min(recipe.samples, len(span) - 1)
            chosen = sorted({span[round((len(span) - 1) * j / n)] for j in range(n + 1)}) if n > 0 else span
            picked[str(epoch)] = [self.kept[i] for i in chosen]
        return picked


def probe_training(ns: dict, job: dict, recipe: Recipe, device: str) -> dict:
    """The shared training run: the student's train() on the grader's model (the grader's secret initial weights),
    on the grader's data. The weights are kept after optimizer steps (_Snapshots), and those along each of the
    recipe's loss epochs are sent back, so that the judge can compare the returned losses with the real ones along
    the way."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    train = train_function(ns)
    model = grader_model(job, recipe, job["grader_init"])
    snapshots = _Snapshots(model)
    handle = register_optimizer_step_post_hook(snapshots)
    result: dict = {"error": None, "epochs": recipe.epochs}
    try:
        losses = train(model, job["tokens"].clone(), job["y"].clone(), epochs=recipe.epochs, lr=recipe.lr,
                       device=device)
        result["losses"] = returned_losses(losses)
    except Exception as err:
        result["error"] = describe(err)
    finally:
        handle.remove()
    result["final_state"] = state_copy(model)
    result["steps"] = snapshots.steps
    result["checkpoints"] = snapshots.along_epochs(recipe)
    return result


def probe_end_to_end(ns: dict, job: dict, recipe: Recipe, device: str) -> dict:
    """The student's own ClassifierWithRNN, from the grader's initial weights, trained by the student's train(),
    up to `restarts` times: a new start only while the last run's embeddings, scored here, stayed below
    `restart_below`. The judge recomputes every score from the weights; a wrong count here can only cost chances."""
    from autograder.metrics import separability_score

    train = train_function(ns)
    cls = model_class(ns, "ClassifierWithRNN")
    tokens, y = job["tokens"], job["y"]
    runs = []
    for seed, weights in zip(job["student_seeds"], job["student_inits"]):
        run: dict = {"error": None, "seed": int(seed)}
        score = 0.0
        try:
            torch.manual_seed(seed)
            model = cls(job["vocab_size"], recipe.hidden_dim, recipe.embedding_dim, job["pad"])
            load_weights(model, weights)
            run["losses"] = returned_losses(train(model, tokens.clone(), y.clone(), epochs=recipe.epochs, lr=recipe.lr,
                                          device=device))
            run["final_state"] = state_copy(model)
            with torch.no_grad():
                model.to("cpu")
                score = separability_score(model.summarize(model.embedding(tokens)).numpy(), y.numpy())
        except Exception as err:
            run = {"error": describe(err), "seed": int(seed)}
        runs.append(run)
        if score >= recipe.restart_below:
            break
    return {"runs": runs}


def probe_mean_model(ns: dict, job: dict, recipe: Recipe, device: str) -> dict:
    """ClassifierWithMean at each grader-chosen size, with the grader's weights, on the grader's inputs."""
    return probe_model(ns, "ClassifierWithMean", job, recipe)
