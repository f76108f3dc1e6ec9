"""`autograder gradescope --out DIR`: the autograder zip Gradescope asks for (docs/gradescope.md).

The zip holds, at its root:

    setup.sh          run once by Gradescope, as root, when it builds the autograder's image: the system packages
                      (Python's venv, util-linux for setpriv and prlimit, bubblewrap), a venv in /autograder/venv
                      with the CPU torch 2.13.0 and the grader package under the kit's pinned constraints; then
                      the source folder (the key) made root's alone
    run_autograder    run as root for every submission: grades the notebook found in $GRADESCOPE_ROOT/submission
                      (default /autograder) and writes $GRADESCOPE_ROOT/results/results.json
    rnn_embeddings_kit-*.whl, constraints.txt   the grader package and its versions (or `kit.txt`, a pip address)
    key               the course's grading key (the same grade for the same notebook on every run; by default the
                      instructor's own, which signed their calibrations); keep the zip private
    data/, calibrations/   with --data: the instructor's grading data and its calibration (else: the kit's fixture)
    hidden_feedback   what the students' results say of a hidden check (autograder.disclosure)

Gradescope runs the autograder as root in a Docker container, where bubblewrap cannot start: grading then picks the
container level by itself (autograder.sandbox): the student's code runs as a uid of its own, cannot read the key nor
write the results, and every process it leaves is ended before run_autograder copies the results into place.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (autograder/gradescope.py).
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${GRADESCOPE_ROOT:-/autograder}"
mkdir -p "$ROOT" && cd "$ROOT"  # nothing of the caller's folder on Python's path (pip would take it for installed)
export DEBIAN_FRONTEND=noninteractive
have() { command -v bwrap && command -v setpriv && command -v prlimit && python3 -c "import ensurepip, venv"; }
if ! have >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv python3-pip util-linux bubblewrap >/dev/null
fi
python3 -m venv "$ROOT/venv"
# The CPU build of torch (any other is several GB); TORCH_INDEX_URL= (empty) takes pip's own index instead.
torch_index="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
"$ROOT/venv/bin/python" -m pip install --quiet torch==2.13.0 ${torch_index:+--index-url "$torch_index"}
if [ -f "$SOURCE/kit.txt" ]; then kit="$(cat "$SOURCE/kit.txt")"; else kit="$(ls "$SOURCE"/rnn_embeddings_kit-*.whl)"; fi
"$ROOT/venv/bin/python" -m pip install --quiet -c "$SOURCE/constraints.txt" "$kit"
# The venv is read by the sandbox's unprivileged uid (it runs the student's code with this Python); the source
# folder (the key) is root's alone.
chmod -R go+rX "$ROOT/venv"
# The solved notebook ships in the grader package (autograder/lesson/): the grader reads it as root; the student's
# code, as its own uid, must not (where bubblewrap runs, the sandbox hides it anyway).
kit_dir="$("$ROOT/venv/bin/python" -I -c 'import autograder, os; print(os.path.dirname(autograder.__file__))')"
chmod 600 "$kit_dir/lesson/rnn_embeddings.ipynb"
chmod 700 "$SOURCE"
chmod 600 "$SOURCE/key"
"$ROOT/venv/bin/autograder" --help >/dev/null
echo "autograder installed in $ROOT/venv"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this as root for every submission (autograder/gradescope.py): grades the notebook in
# $GRADESCOPE_ROOT/submission and writes $GRADESCOPE_ROOT/results/results.json.
set -uo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
SOURCE="$ROOT/source"
if [ -x "$ROOT/venv/bin/autograder" ]; then export PATH="$ROOT/venv/bin:$PATH"; fi
mkdir -p "$ROOT/results"
results="$ROOT/results/results.json"

fail() {  # a results.json that says what went wrong, with no score to argue about
  python3 - "$results" "$1" <<'PY'
import json, sys
json.dump({"score": 0, "output": sys.argv[2], "tests": []}, open(sys.argv[1], "w"), indent=2)
PY
  echo "$1"
  exit 0
}

export AUTOGRADER_KEY="$(cat "$SOURCE/key")"
export AUTOGRADER_HIDDEN_FEEDBACK="$(cat "$SOURCE/hidden_feedback" 2>/dev/null || echo observed)"
# Regular files only (find -type f does not follow a symlink), the lesson's name first.
notebook="$(find "$ROOT/submission" -maxdepth 3 -type f -name 'rnn_embeddings.ipynb' | sort | head -n 1)"
[ -n "$notebook" ] || notebook="$(find "$ROOT/submission" -maxdepth 3 -type f -name '*.ipynb' | sort | head -n 1)"
[ -n "$notebook" ] || fail "No notebook (.ipynb) in the submission: upload your rnn_embeddings.ipynb."

data=()  # the instructor's grading data and its calibration, when the zip carries them (else: the kit's fixture)
if [ -f "$SOURCE/data/FakeNewsNet.csv" ]; then
  data=(--data "$SOURCE/data/FakeNewsNet.csv" --tokenizer "$SOURCE/data/fakenews_tokenizer.model")
  export AUTOGRADER_CALIBRATIONS="$SOURCE/calibrations"
fi
work="$(mktemp -d)"  # root's, 0700: the reports are written here, then moved into place
autograder grade "$notebook" "${data[@]}" --out "$work/out" > "$work/table.txt" 2>&1
status=$?
cat "$work/table.txt"
if [ -f "$work/out/results.json" ]; then
  cp "$work/out/results.json" "$results.tmp" && mv "$results.tmp" "$results"
else
  fail "The grader could not run (exit status $status): $(tail -n 5 "$work/table.txt" | tr '\n' ' ')"
fi
rm -rf "$work"
"""


def make_zip(out: Path, *, kit: str | None = None, constraints: Path | None = None, key: str | None = None,
             policy: str = "observed", data: str | None = None, tokenizer: str | None = None) -> Path:
    """Writes out/autograder.zip; returns its path. `kit`: the grader package's wheel on this machine (put in the
    zip) or its pip address (else, from the kit's source tree, the wheel is built and put in the zip);
    `constraints`: its versions (default: beside the wheel, or the checkout's)."""
    from autograder import resources
    from autograder.disclosure import choose
    from autograder.plan import grading_key

    policy = choose(policy)
    # The instructor's own key by default: the calibrations they made are signed with it, and the same notebook
    # then gets the same grade on Gradescope as on their machine.
    key = key or grading_key().decode("utf-8", "replace").strip()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        folder = Path(tmp)
        files: dict[str, Path] = {}
        if kit is None:
            from autograder.build import build

            built = build(folder / "dist")
            files[built["grader"].name] = built["grader"]
            files["constraints.txt"] = built["constraints"]
        elif kit.endswith(".whl") and Path(kit).is_file():  # a wheel on this machine: it travels in the zip
            constraints = Path(constraints) if constraints else Path(kit).parent / "constraints.txt"
            if not constraints.is_file():
                raise FileNotFoundError(f"--constraints: no constraints.txt beside {kit}; give the one "
                                        "`autograder build` wrote with it")
            files[Path(kit).name] = Path(kit)
            files["constraints.txt"] = constraints
        else:
            (folder / "kit.txt").write_text(kit + "\n")
            files["kit.txt"] = folder / "kit.txt"
            constraints = constraints or resources.CHECKOUT / "requirements" / "constraints.txt"
            if not Path(constraints).is_file():
                raise FileNotFoundError("--constraints: give the constraints.txt published beside the grader wheel "
                                        "(`autograder build` writes it)")
            files["constraints.txt"] = Path(constraints)
        if data is not None or tokenizer is not None:  # grading data of the instructor's: they travel in the zip,
            from autograder.hidden import calibrations  # with their calibration (signed with the same key)
            from autograder.recipe import default_data_paths

            paths = default_data_paths(data, tokenizer)
            files["data/FakeNewsNet.csv"] = Path(paths.csv)
            files["data/fakenews_tokenizer.model"] = Path(paths.tokenizer)
            found = calibrations.lookup(paths.csv, paths.tokenizer)
            if found is not None and found.source != str(calibrations.SHIPPED):
                files[f"calibrations/{found.fingerprint}.json"] = Path(found.source)
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER),
                           ("key", key + "\n"), ("hidden_feedback", policy + "\n")):
            (folder / name).write_text(text)
            files[name] = folder / name
        target = out / "autograder.zip"
        partial = out / ".autograder.zip.tmp"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, path in sorted(files.items()):
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                executable = name in ("setup.sh", "run_autograder")
                info.external_attr = ((0o755 if executable else 0o600) | stat.S_IFREG) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        partial.replace(target)
    return target


def unpack(archive: Path, root: Path) -> Path:
    """Lays the zip out as Gradescope does: its files in root/source, run_autograder copied to root; returns root.
    (For the kit's tests and for trying the zip on a machine of one's own.)"""
    source = root / "source"
    source.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            target = source / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zipped.read(info))
            target.chmod((info.external_attr >> 16) & 0o777 or 0o644)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    for name in ("submission", "results"):
        (root / name).mkdir(exist_ok=True)
    return root
