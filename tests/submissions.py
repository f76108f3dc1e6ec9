"""The corpus the graders are proven on: mutants (the reference with one bug, named after it) and correct variants
(the reference written another way). Each is a small edit of the reference notebook: new source for the cells with
the given nbgrader grade_ids. `build(submission, folder)` writes the notebook."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REFERENCE = Path(__file__).resolve().parent.parent / "reference" / "rnn_embeddings.ipynb"

RNN_HEAD = '''class ClassifierWithRNN(nn.Module):
    def __init__(self, vocab_size, hidden_dim, embedding_dim, padding_idx):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.rnn = nn.RNN(embedding_dim, hidden_dim, batch_first=True)
        self.linear = nn.Linear(hidden_dim, 1)

    def forward(self, tokens):
        return self.linear(self.summarize(self.embedding(tokens)))

    def summarize(self, x):
'''
MEAN_HEAD = '''class ClassifierWithMean(ClassifierWithRNN):
    def summarize(self, x):
'''
TRAIN_HEAD = '''def train(model, tokens, y, *, epochs, lr, device=None):
    device = torch.device(device) if device is not None else default_device()
'''
REFERENCE_LOOP = '''    model.to(device)
    tokens, y = tokens.to(device), y.to(device).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in progress(range(epochs), desc="training"):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''


def summarize(body: str) -> dict[str, str]:
    return {"ClassifierWithRNN": RNN_HEAD + body}


def mean(body: str) -> dict[str, str]:
    return {"ClassifierWithMean": MEAN_HEAD + body}


def loop(body: str) -> dict[str, str]:
    return {"train": TRAIN_HEAD + body}


@dataclass(frozen=True)
class Submission:
    name: str
    edits: dict[str, str]
    fails: dict[str, str] = field(default_factory=dict)  # check -> a fragment of its message; empty: passes all


def _replace(old: str, new: str) -> dict[str, str]:
    body = REFERENCE_LOOP
    assert old in body, old
    return {"train": TRAIN_HEAD + body.replace(old, new)}


MUTANTS = (
    Submission("SummarizeReturnsFirstStep", summarize("        outputs, _ = self.rnn(x)\n        return outputs[:, 0, :]\n"),
               {"summarize_is_last_state": "the state after the FIRST step"}),
    Submission("SummarizeReturnsMeanOverTime", summarize("        outputs, _ = self.rnn(x)\n        return outputs.mean(1)\n"),
               {"summarize_is_last_state": "the MEAN of the states"}),
    Submission("SummarizeSumsOverTime", summarize("        outputs, _ = self.rnn(x)\n        return outputs.sum(dim=1)\n"),
               {"summarize_is_last_state": "the SUM of the states"}),
    Submission("SummarizeMixesBatchAndTime", summarize("        outputs, _ = self.rnn(x)\n        return outputs[-1]\n"),
               {"shapes": "the time axis where the batch axis belongs"}),
    Submission("SummarizeUsesAFreshRNN",
               summarize("        rnn = nn.RNN(x.shape[-1], self.rnn.hidden_size, batch_first=True)\n"
                         "        outputs, _ = rnn(x)\n        return outputs[:, -1]\n"),
               {"summarize_is_last_state": "matches none of the RNN's states"}),
    Submission("SummarizeReturnsLastEmbedding", summarize("        return x[:, -1, :]\n"),
               {"summarize_is_last_state": "the last embedded token: the RNN is not used"}),
    Submission("MeanSummaryReturnsLastState", mean("        outputs, _ = self.rnn(x)\n        return outputs[:, -1]\n"),
               {"mean_summary": "matches none of the RNN's states"}),
    Submission("MeanOverTheBatchAxis", mean("        outputs, _ = self.rnn(x)\n        return outputs.mean(dim=0)\n"),
               {"mean_summary": "summarize returned shape"}),
    Submission("NeverCallsOptimizerStep", _replace("        optimizer.step()\n", ""),
               {"loss_decreases": "The weights barely changed", "optimizer_protocol": "never called"}),
    Submission("IgnoresTheLearningRate", _replace("lr=lr)", "lr=0.0)"),
               {"loss_decreases": "The weights barely changed"}),
    Submission("DetachesTheLogits", _replace("model(tokens).squeeze(1), y)", "model(tokens).squeeze(1).detach().requires_grad_(), y)"),
               {"loss_decreases": "The weights barely changed"}),
    Submission("OptimisesFlippedLabels", _replace("model(tokens).squeeze(1), y)", "model(tokens).squeeze(1), 1 - y)"),
               {"loss_decreases": "loss"}),
    Submission("OptimisesMeanSquaredError",
               _replace("F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y)",
                        "F.mse_loss(torch.sigmoid(model(tokens).squeeze(1)), y)"),
               {"loss_decreases": "train returned"}),
    Submission("InventsLosses", _replace("    return losses\n", "    return [1.0 / (1 + e) for e in range(epochs)]\n"),
               {"loss_decreases": "not other numbers"}),
    Submission("ShuffledLabels", _replace("    tokens, y = tokens.to(device), y.to(device).float()\n",
                                          "    tokens, y = tokens.to(device), y.to(device).float()\n"
                                          "    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]\n"),
               {"separability": "balanced accuracy"}),
    Submission("NoZeroGrad", _replace("        optimizer.zero_grad()\n", ""),
               {"optimizer_protocol": "left over from the previous step"}),
    Submission("HardCodedCuda", _replace("    model.to(device)\n    tokens, y = tokens.to(device), y.to(device).float()\n",
                                         "    model.cuda()\n    tokens, y = tokens.cuda(), y.cuda().float()\n"),
               {"device_placement": "GPU"}),
    Submission("MovesModelNotData", _replace("    tokens, y = tokens.to(device), y.to(device).float()\n", "    y = y.float()\n"),
               {"device_placement": "but its input was not"}),
    Submission("MovesDataNotModel", _replace("    model.to(device)\n", ""),
               {"device_placement": "but the model was not"}),
)

VARIANTS = (
    Submission("SummarizeWithHn", summarize("        _, h_n = self.rnn(x)  # (layers, batch, hidden)\n        return h_n[-1]\n")),
    Submission("SummarizeWithHnSqueeze", summarize("        return self.rnn(x)[1].squeeze(0)\n")),
    Submission("SummarizePackedSequences", summarize(
        "        lengths = (x.abs().sum(-1) > 0).sum(1).clamp(min=1).cpu()\n"
        "        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)\n"
        "        _, h_n = self.rnn(packed)\n        return h_n[-1]\n")),
    Submission("SummarizeGathersLastRealToken", summarize(
        "        outputs, _ = self.rnn(x)\n"
        "        last = (x != 0).any(-1).sum(1).clamp(min=1) - 1\n"
        "        return outputs[torch.arange(x.shape[0]), last]\n")),
    Submission("MaskedMean", mean(
        "        outputs, _ = self.rnn(x)\n"
        "        mask = (x != 0).any(-1, keepdim=True).float()\n"
        "        return (outputs * mask).sum(1) / mask.sum(1).clamp(min=1)\n")),
    Submission("MinibatchLoop", loop(
        "    model = model.to(device)\n"
        "    data = torch.utils.data.TensorDataset(tokens, y.float())\n"
        "    batches = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True,\n"
        "                                          generator=torch.Generator().manual_seed(0))\n"
        "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
        "    losses = []\n"
        "    for _ in range(epochs):\n"
        "        total, count = 0.0, 0\n"
        "        for batch, labels in batches:\n"
        "            batch, labels = batch.to(device), labels.to(device)\n"
        "            optimizer.zero_grad()\n"
        "            loss = F.binary_cross_entropy_with_logits(model(batch)[:, 0], labels)\n"
        "            loss.backward()\n"
        "            optimizer.step()\n"
        "            total, count = total + loss.item() * len(batch), count + len(batch)\n"
        "        losses.append(total / count)\n"
        "    return losses\n")),
    Submission("DifferentlyWrittenLoop", loop(
        "    model = model.to(device=device)\n"
        "    inputs = torch.as_tensor(tokens, device=device)\n"
        "    targets = y.to(device=device, dtype=torch.float32).view(-1, 1)\n"
        "    opt = torch.optim.Adam(params=list(model.parameters()), lr=lr)\n"
        "    history = []\n"
        "    epoch = 0\n"
        "    while epoch < epochs:\n"
        "        logits = model.forward(inputs)\n"
        "        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction='mean')\n"
        "        loss.backward()\n"
        "        opt.step()\n"
        "        opt.zero_grad(set_to_none=False)\n"
        "        history.append(float(loss))\n"
        "        epoch += 1\n"
        "    return history\n")),
    Submission("LoopWithoutProgressBar", loop(REFERENCE_LOOP.replace('progress(range(epochs), desc="training")',
                                                                     "range(epochs)"))),
)

ALL = MUTANTS + VARIANTS


def build(submission: Submission, folder: Path, base: Path = REFERENCE) -> Path:
    """Writes the `base` notebook (the reference) with the submission's cells replaced; returns its path."""
    nb = nbformat.read(base, as_version=4)
    nb = copy.deepcopy(nb)
    found = set()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in submission.edits:
            cell.source = submission.edits[grade_id]
            found.add(grade_id)
    assert found == set(submission.edits), f"{submission.name}: no cell {set(submission.edits) - found}"
    path = Path(folder) / f"{submission.name}.ipynb"
    nbformat.write(nb, path)
    return path
