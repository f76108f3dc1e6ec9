#!/usr/bin/env bash
# The checks that need a GPU, as one script for a lent GPU machine (see benchmarks/README.md for the results):
# the CUDA tests, grading on cuda (device placement for real, and the device mutants and variants), verdict parity
# of the whole corpus with and without the GPU (benchmarks/verdict_parity.py), the reference
# notebook's code cells run top to bottom on cuda, and the training benchmark at full size on cuda.
# Usage: OUT=/some/folder bash benchmarks/gpu_check.sh [all|grading]
set -uo pipefail
SECTIONS=${1:-all}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/reference:$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=agg PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"

if [ "$SECTIONS" = all ]; then
echo "== CUDA tests"
python3 -m pytest -q -p no:cacheprovider tests/test_lesson_model.py -k "cuda or train" 2>&1 | tail -5

fi
echo "== grading on cuda: the reference, the device mutants, two loop variants"
python3 -m autograder grade reference/rnn_embeddings.ipynb --out "$OUT/grade-reference" | tail -14
python3 - <<'PY'
import sys, tempfile
sys.path.insert(0, "tests")
from submissions import ALL, build
from autograder.grade import grade
names = ["HardCodedCuda", "MovesModelNotData", "MovesDataNotModel", "MinibatchLoop", "DifferentlyWrittenLoop",
         "SummarizePackedSequences"]
with tempfile.TemporaryDirectory() as tmp:
    for sub in ALL:
        if sub.name in names:
            r = grade(build(sub, tmp))
            dev = next(v for v in r.verdicts if v.check == "device_placement")
            failed = [v.check for v in r.verdicts if not v.passed]
            print(f"{sub.name:28s} {r.score:g}/{r.max_score:g} on {r.device} in {r.seconds:.1f} s; failed {failed}; "
                  f"device_placement: {dev.observed[:200]}")
PY

echo "== verdict parity: the whole corpus on the GPU, then with the GPU hidden (the pretend accelerator decides)"
python3 benchmarks/verdict_parity.py "$OUT/parity-gpu.json" > "$OUT/parity-gpu.log" 2>&1
CUDA_VISIBLE_DEVICES= python3 benchmarks/verdict_parity.py "$OUT/parity-cpu.json" > "$OUT/parity-cpu.log" 2>&1
python3 benchmarks/verdict_parity.py --compare "$OUT/parity-gpu.json" "$OUT/parity-cpu.json"

[ "$SECTIONS" = all ] || exit 0
echo "== the reference notebook's code cells, top to bottom, on cuda"
python3 - <<'PY'
import json, time, os
cells = [c for c in json.load(open("reference/rnn_embeddings.ipynb"))["cells"] if c["cell_type"] == "code"]
os.environ["FAKENEWS_FIGURES"] = os.path.join(os.environ.get("OUT", "gpu-out"), "figures")
ns, start = {}, time.time()
for cell in cells:
    exec(compile("".join(cell["source"]), "cell", "exec"), ns)
print("notebook cells ran in", round(time.time() - start, 1), "s on", ns["DEVICE"],
      "| rnn params on", next(ns["rnn_model"].parameters()).device,
      "| losses", round(ns["rnn_losses"][0], 3), "->", round(ns["rnn_losses"][-1], 3),
      "| mean", round(ns["mean_losses"][0], 3), "->", round(ns["mean_losses"][-1], 3))
PY

echo "== training benchmark on cuda (and 16 CPU threads for comparison)"
python3 benchmarks/train_speed.py --devices cuda --threads 1
python3 benchmarks/train_speed.py --devices cpu --threads 16
