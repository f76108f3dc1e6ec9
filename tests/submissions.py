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
    # Cheating what the leniency above accepts: invented losses in an array, a wrong state squeezed.
    Submission("InventsLossesInAnArray", _replace("    return losses\n",
                                                  "    return np.array([1.0 / (1 + e) for e in range(epochs)])\n"),
               {"loss_decreases": "but train returned"}),
    Submission("SqueezesTheFirstState", summarize("        outputs, _ = self.rnn(x)\n        return outputs[:, 0].squeeze()\n"),
               {"summarize_is_last_state": "the state after the FIRST step"}),
    Submission("SummarizeSqueezesEveryAxis", summarize("        _, h_n = self.rnn(x)\n        return h_n.squeeze()\n"),
               {"shapes": "summarize returned shape (2,) for batch 1"}),  # right on the lesson's data, wrong on one row
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
    Submission("ReturnsLossTensors", _replace("losses.append(loss.item())", "losses.append(loss)"),
               {"train_returns_losses": "list of Tensor, not of Python floats"}),
    Submission("StacksTheLossTensors", {"train": TRAIN_HEAD + REFERENCE_LOOP.replace(
        "losses.append(loss.item())", "losses.append(loss)").replace("    return losses\n", "    return torch.stack(losses)\n")},
               {"train_returns_losses": "a Tensor of float32 that requires grad, not a list of Python floats"}),
    Submission("ReturnsOneLossPerMinibatch", loop(  # 64 rows in the spied 3-epoch run: one batch, the right count
        "    model.to(device)\n    tokens, y = tokens.to(device), y.to(device).float()\n"
        "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n    losses = []\n"
        "    for _ in progress(range(epochs), desc=\"training\"):\n"
        "        for start in range(0, len(y), 128):\n"
        "            optimizer.zero_grad()\n"
        "            loss = F.binary_cross_entropy_with_logits(model(tokens[start:start + 128]).squeeze(1), "
        "y[start:start + 128])\n"
        "            loss.backward()\n            optimizer.step()\n            losses.append(loss.item())\n"
        "    return losses\n"),
               {"train_returns_losses": "per epoch: one per minibatch?"}),
    Submission("InventsLosses", _replace("    return losses\n", "    return [1.0 / (1 + e) for e in range(epochs)]\n"),
               {"loss_decreases": "not other numbers"}),
    Submission("ShuffledLabels", _replace("    tokens, y = tokens.to(device), y.to(device).float()\n",
                                          "    tokens, y = tokens.to(device), y.to(device).float()\n"
                                          "    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]\n"),
               {"separability": "balanced accuracy"}),
    Submission("NoZeroGrad", _replace("        optimizer.zero_grad()\n", ""),
               {"optimizer_protocol": "on gradients ACCUMULATED across steps"}),
    Submission("HardCodedCuda", _replace("    model.to(device)\n    tokens, y = tokens.to(device), y.to(device).float()\n",
                                         "    model.cuda()\n    tokens, y = tokens.cuda(), y.cuda().float()\n"),
               {"device_placement": "GPU"}),
    Submission("MovesModelNotData", _replace("    tokens, y = tokens.to(device), y.to(device).float()\n", "    y = y.float()\n"),
               {"device_placement": "but its input was not"}),
    Submission("MovesDataNotModel", _replace("    model.to(device)\n", ""),
               {"device_placement": "but the model was not"}),
    # On a CPU, t.to("cpu") is t: these two pass there; on a GPU (and the pretend one) the forward or the loss raises.
    Submission("MovesWithoutKeepingTheResult", _replace("    tokens, y = tokens.to(device), y.to(device).float()\n",
                                                        "    tokens.to(device)\n    y.to(device)\n    y = y.float()\n"),
               {"device_placement": "but its input was not"}),
    Submission("LeavesTheLabelsBehind", _replace("    tokens, y = tokens.to(device), y.to(device).float()\n",
                                                 "    tokens = tokens.to(device)\n    y.to(device)\n    y = y.float()\n"),
               {"device_placement": "the model and the data were on different devices"}),
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

def _loop_with(prelude: str, old: str = "", new: str = "", head: str = TRAIN_HEAD) -> dict[str, str]:
    """Top-level statements before `def train`, and the reference loop with `old` replaced by `new`."""
    body = REFERENCE_LOOP if not old else REFERENCE_LOOP.replace(old, new)
    assert not old or old in REFERENCE_LOOP, old
    return {"train": prelude + "\n\n" + head + body}


REFERENCE_LOSS = "F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y)"
RNN_BODY = "        outputs, _ = self.rnn(x)\n        return outputs[:, -1, :]\n"

# Correct notebooks written in everyday style: module-level objects that the graded code uses, a student's own
# quick test at top level, code that touches the lesson's data, a magic. Issue 10: the program the student ran.
MODULE_LEVEL_VARIANTS = (
    Submission("ModuleLevelLossModule", _loop_with("criterion = nn.BCEWithLogitsLoss()", REFERENCE_LOSS,
                                                   "criterion(model(tokens).squeeze(1), y)")),
    Submission("PartialLossFunction", _loop_with(
        "import functools\nloss_fn = functools.partial(F.binary_cross_entropy_with_logits, reduction='mean')",
        REFERENCE_LOSS, "loss_fn(model(tokens).squeeze(1), y)")),
    Submission("LambdaLoss", _loop_with(
        "bce = lambda logits, target: F.binary_cross_entropy_with_logits(logits.squeeze(-1), target)",
        REFERENCE_LOSS, "bce(model(tokens), y)")),
    Submission("DeviceConstantFromACall", _loop_with(
        "TRAIN_DEVICE = torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
        head="def train(model, tokens, y, *, epochs, lr, device=None):\n"
             "    device = torch.device(device) if device is not None else TRAIN_DEVICE\n")),
    Submission("MovesCopiesOfTheData", _loop_with(  # found grading from an installed wheel: the spy raised here
        "import torch.nn as nn\ncriterion = nn.BCEWithLogitsLoss()",
        "    tokens, y = tokens.to(device), y.to(device).float()\n",
        "    tokens, y = tokens.to(device, copy=True), y.to(device, torch.float32, False, True)\n")),
    Submission("OptimizerConfigDict", _loop_with(
        "ADAM = dict(betas=(0.9, 0.999), eps=1e-8)\nADAM['weight_decay'] = 0.0",
        "torch.optim.Adam(model.parameters(), lr=lr)", "torch.optim.Adam(model.parameters(), lr=lr, **ADAM)")),
    Submission("OptimizerFactoryPartial", _loop_with(
        "import functools\nmake_optimizer = functools.partial(torch.optim.Adam, betas=(0.9, 0.999))",
        "torch.optim.Adam(model.parameters(), lr=lr)", "make_optimizer(model.parameters(), lr=lr)")),
    Submission("HelperInstance", {"train":
        "class Trainer:\n"
        "    def __init__(self, loss):\n"
        "        self.loss = loss\n\n"
        "    def step(self, model, optimizer, tokens, y):\n"
        "        optimizer.zero_grad()\n"
        "        loss = self.loss(model(tokens).squeeze(1), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        "        return loss.item()\n\n\n"
        "trainer = Trainer(nn.BCEWithLogitsLoss())\n\n\n"
        + TRAIN_HEAD +
        "    model.to(device)\n"
        "    tokens, y = tokens.to(device), y.to(device).float()\n"
        "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
        "    return [trainer.step(model, optimizer, tokens, y) for _ in progress(range(epochs))]\n"}),
    Submission("DecoratedTrain", {"train":
        "import functools\n\n\n"
        "def logged(fn):\n"
        "    @functools.wraps(fn)\n"
        "    def inner(*args, **kwargs):\n"
        "        result = fn(*args, **kwargs)\n"
        "        print(f'{fn.__name__}: {len(result)} epochs')\n"
        "        return result\n"
        "    return inner\n\n\n"
        "@logged\n" + TRAIN_HEAD + REFERENCE_LOOP}),
    Submission("QuickTestCallAtTopLevel", {"ClassifierWithRNN": RNN_HEAD + RNN_BODY + (
        "\n\n_model = ClassifierWithRNN(10, 2, 2, 0)\n"
        "print(_model(torch.zeros(2, 5, dtype=torch.long)).shape)  # my own quick check\n"
        "assert _model.summarize(torch.zeros(3, 4, 2)).shape == (3, 2)\n")}),
    Submission("TouchesTheLessonData", _loop_with(
        "print(tokens.shape, f'{labels.mean():.0%} real', VOCAB_SIZE, PAD)\n"
        "n_real = int(labels.sum())\n"
        "print(headlines['title'].iloc[0])  # the raw titles: not there in grading, and not needed\n"
        "small = train(ClassifierWithRNN(VOCAB_SIZE, 2, 2, PAD), tokens[:20], labels[:20], epochs=2, lr=1e-2) "
        "if 'train' in dir() else None")),
    Submission("SummaryIndexFromACall", {"ClassifierWithRNN": "LAST = int('-1')  # the last time step\n\n\n"
                                         + RNN_HEAD + "        outputs, _ = self.rnn(x)\n        return outputs[:, LAST]\n"}),
    Submission("MaskFunctionAsLambda", {"ClassifierWithMean":
        "is_real = lambda x: (x.abs().sum(-1, keepdim=True) > 0).float()\n\n\n" + MEAN_HEAD +
        "        outputs, _ = self.rnn(x)\n"
        "        mask = is_real(x)\n"
        "        return (outputs * mask).sum(1) / mask.sum(1).clamp(min=1)\n"}),
    Submission("MagicsAndPlotsAtTopLevel", _loop_with(
        "%matplotlib inline\n"
        "import matplotlib.pyplot as plt\n"
        "plt.plot([0, 1], [1, 0])\n"
        "plt.show()\n"
        "EPS = 10 ** -8")),
)

VARIANTS = VARIANTS + MODULE_LEVEL_VARIANTS + (
    # Everything starts on the CPU: moving only when the device is another is right on every device.
    Submission("MovesOnlyOffTheCpu", _replace("    model.to(device)\n    tokens, y = tokens.to(device), y.to(device).float()\n",
                                              "    if device.type != \"cpu\":\n        model.to(device)\n"
                                              "        tokens, y = tokens.to(device), y.to(device)\n    y = y.float()\n")),
    Submission("DeviceFromTheParameters", _replace("    tokens, y = tokens.to(device), y.to(device).float()\n",
                                                   "    where = next(model.parameters()).device\n"
                                                   "    tokens, y = tokens.to(where), y.to(where).float()\n")),
    # The losses as a notebook uses them (printed, plotted, indexed) in another container, or as NumPy numbers.
    Submission("ReturnsANumpyArray", _replace("    return losses\n", "    return np.array(losses)\n")),
    Submission("ReturnsATensorOfFloats", _replace("    return losses\n", "    return torch.tensor(losses)\n")),
    Submission("AppendsNumpyLosses", _replace("losses.append(loss.item())", "losses.append(loss.detach().cpu().numpy())")),
    # Jupyter runs a cell under %%time or %%capture in the notebook's namespace: its definitions count.
    Submission("TrainCellUnderTime", {"train": "%%time\n" + TRAIN_HEAD + REFERENCE_LOOP}),
    Submission("ModelCellUnderCapture", {"ClassifierWithRNN": "%%capture captured\n" + RNN_HEAD +
                                         "        outputs, _ = self.rnn(x)\n        return outputs[:, -1, :]\n"}),
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
