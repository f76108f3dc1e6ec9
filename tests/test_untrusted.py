"""Untrusted and broken submissions (issue: grade untrusted code safely). The adversarial corpus must gain nothing
and leave the grader working; the malformed corpus must get a verdict for every check, with a message, and keep the
points of what still works. Both run at the best sandbox level this machine has (bwrap where bubblewrap works)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import adversarial
import malformed
import submissions as corpus
from autograder import sandbox
from autograder.checks import REGISTRY
from autograder.grade import grade
from autograder.report import write_all
from autograder.runner import run_in_process
from conftest import FIXTURE, REFERENCE_NOTEBOOK, RELEASE_NOTEBOOK, REPO, still_sandboxed, with_a_reachable_python

LEVEL = sandbox.best().level


class Listener:
    """A loopback TCP listener outside the sandbox that records whatever reaches it."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.5)
        self.port = self.server.getsockname()[1]
        self.received, self.stopping = [], False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(1024))
                except OSError:
                    self.received.append(b"(connected)")

    def close(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.server.close()


def left_behind(before: set[int], host_tmp: Path) -> list[int]:
    """Processes of the sandbox's uid that this grading left: new since it began, and either inside its own sandbox
    (their mount table names this test's private temp folder, where the grader staged the worker) or outside any
    sandbox. Another grading on the same machine (a concurrent test, an nbgrader kernel) runs as the same uid in a
    sandbox of its own, and is none of this test's business."""
    own_namespace = os.readlink("/proc/self/ns/mnt")
    found = []
    for pid in set(sandbox._pids_of(sandbox.SANDBOX_UID)) - before:
        try:
            namespace = os.readlink(f"/proc/{pid}/ns/mnt")
            mounts = Path(f"/proc/{pid}/mountinfo").read_text()
        except OSError:  # ended meanwhile
            continue
        if namespace == own_namespace or str(host_tmp) in mounts:
            found.append(pid)
    return found


# The attacks `make test` runs, one of each kind (the files, the probes, the frames, the processes, the network);
# CI runs them all.
SMOKE = {"ReadsReferenceAndGraders", "ForgesEveryProbe", "HostileResultFrames", "ForkLoop", "OpensASocket"}
WAITS_OUT_ITS_LIMIT = {"EndlessLoopIgnoringSIGINT"}  # timing is what it tests: run alone (serial)


@pytest.fixture(scope="module")
def pretrained():
    return adversarial.pretrained_weights()


@pytest.mark.slow
@pytest.mark.parametrize("attack", [a if a.name in SMOKE else pytest.param(a, marks=[pytest.mark.ci_only] + (
    [pytest.mark.serial] if a.name in WAITS_OUT_ITS_LIMIT else [])) for a in adversarial.ATTACKS], ids=lambda a: a.name)
def test_attack_gains_nothing_and_grading_goes_on(attack, tmp_path, pretrained, monkeypatch):
    """Does the attack gain nothing beyond its honest content, leave the grader healthy (all three reports
    written and well formed, no control characters in them, the right exit status, bounded time and memory) and
    leave nothing behind?"""
    attack_gains_nothing(attack, tmp_path, pretrained, monkeypatch)


@pytest.mark.slow
@pytest.mark.ci_only
def test_an_attack_beside_another_grading_is_judged_alone(tmp_path, pretrained, monkeypatch):
    """On a shared grading server: while another grading runs beside it (its workers run as the same sandbox uid),
    does an attack that leaves processes still gain nothing and leave nothing of its own, without counting the
    neighbour's processes as its own, and does the neighbour still get full marks?"""
    import subprocess
    import sys

    neighbour_out = tmp_path / "neighbour"
    neighbour = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(REFERENCE_NOTEBOOK), "--out",
                                  str(neighbour_out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # its workers are starting
        attack = next(a for a in adversarial.ATTACKS if a.name == "ForkLoop")
        (tmp_path / "attack").mkdir()
        attack_gains_nothing(attack, tmp_path / "attack", pretrained, monkeypatch)
    finally:
        assert neighbour.wait(timeout=600) == 0
    assert json.loads((neighbour_out / "results.json").read_text())["score"] == 12


def attack_gains_nothing(attack, tmp_path, pretrained, monkeypatch) -> None:
    import resource
    import xml.etree.ElementTree as ET

    from autograder.report import table

    if sandbox.LEVELS.index(LEVEL) > sandbox.LEVELS.index(attack.needs):
        pytest.skip(f"needs sandbox level {attack.needs}; this machine has {LEVEL} (install bubblewrap)")
    listener = Listener()
    out, marker = tmp_path / "out", tmp_path / "pwned"
    out.mkdir()
    values = dict(reference=REFERENCE_NOTEBOOK, judges=Path(REPO / "autograder" / "hidden" / "judges.py"), out=out,
                  port=listener.port, marker=marker, **pretrained)
    cells = {k: adversarial.fill(v, **values) for k, v in attack.cells.items()}
    notebook = corpus.build(corpus.Submission(attack.name, cells), tmp_path, base=RELEASE_NOTEBOOK)
    host_tmp = tmp_path / "host-tmp"  # where the grader makes its worker folders, for this test alone
    host_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(host_tmp))
    before = set(sandbox._pids_of(sandbox.SANDBOX_UID))
    try:
        report = grade(notebook, timeouts=attack.timeouts)
    finally:
        listener.close()
    assert report.isolation == LEVEL
    assert not report.internal_error, [v.observed for v in report.verdicts if v.internal_error]
    gained = {v.check for v in report.verdicts if v.passed} - attack.may_pass
    assert not gained, f"{attack.name} gained points on {gained}: " + str([v.observed for v in report.verdicts
                                                                          if v.check in gained])
    assert len(report.verdicts) == len(REGISTRY) and all(v.observed for v in report.verdicts)
    assert report.exit_code == 1
    assert report.seconds < max(attack.timeouts.values(), default=300) + 90
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 4 * 2**20, "the grading process grew past 4 GB"
    assert not list(out.iterdir()), "the submission wrote into the grader's output folder"
    assert not marker.exists(), "a pickle payload ran in the grader"
    assert listener.received == [], "the submission reached the network"
    assert not list(host_tmp.iterdir()), "the worker left files on the host"
    if LEVEL == "bwrap":
        assert left_behind(before, host_tmp) == [], "the submission left processes behind"
    paths = write_all(report, out)  # and the grader still writes its own reports, with its own score
    assert json.loads(paths["results"].read_text())["score"] == report.score
    ET.parse(paths["junit"])  # valid XML
    shown = table(report) + paths["results"].read_text() + paths["feedback"].read_text()
    assert not [c for c in shown if ord(c) < 32 and c not in "\n\t"], "control characters reached a report"


@pytest.mark.slow
@pytest.mark.parametrize("case", malformed.MALFORMED, ids=lambda m: m.name)
def test_malformed_submission_gets_a_verdict_for_every_check(case, tmp_path):
    notebook = tmp_path / f"{case.name}.ipynb"
    case.write(notebook)
    report = grade(notebook, runner=run_in_process, parallel=1)  # the reader and the border: no sandbox needed
    assert not report.internal_error, [v.observed for v in report.verdicts if v.internal_error]
    assert [v.check for v in report.verdicts] == [c.name for c in REGISTRY]
    passed = {v.check for v in report.verdicts if v.passed}
    assert case.scored <= passed, f"lost {case.scored - passed}"
    for verdict in report.verdicts:
        assert verdict.expected and verdict.observed, verdict.check
    if case.message:
        shown = " ".join(report.problems + [v.observed for v in report.verdicts if not v.passed])
        assert case.message in shown, shown[:800]
    assert report.exit_code == (0 if passed == malformed.ALL else 1)


@pytest.mark.slow
@pytest.mark.skipif(LEVEL == "rlimits", reason="the control needs a stronger level to compare with")
def test_the_corpus_would_catch_a_missing_sandbox(tmp_path, monkeypatch):
    """The control: at the weakest level, the attack that reads the reference does gain points, so the attack
    tests above are not passing for want of a working attack."""
    attack = next(a for a in adversarial.ATTACKS if a.name == "ReadsReferenceAndGraders")
    cells = {k: adversarial.fill(v, reference=REFERENCE_NOTEBOOK, judges="", out="", port=0, marker="")
             for k, v in attack.cells.items()}
    notebook = corpus.build(corpus.Submission(attack.name, cells), tmp_path, base=RELEASE_NOTEBOOK)
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "rlimits")
    sandbox.best.cache_clear()
    try:
        report = grade(notebook, names=["loss_decreases"])
    finally:
        monkeypatch.delenv("AUTOGRADER_SANDBOX")
        sandbox.best.cache_clear()
    assert report.isolation == "rlimits" and report.score == 2


def test_every_result_says_which_sandbox_ran(tmp_path):
    from autograder.report import results_json

    report = grade(REFERENCE_NOTEBOOK, names=["shapes"])
    assert report.isolation == LEVEL and results_json(report)["extra_data"]["isolation"] == LEVEL


@pytest.mark.skipif(LEVEL != "bwrap", reason="bubblewrap is not usable here")
def test_sandbox_hides_the_kit_and_drops_privileges(tmp_path):
    """Inside: an unprivileged uid without capabilities; no judges, recomputation, plan, reference, tests or data;
    /tmp private; /job and /tmp capped; no way to unmount what hides things."""
    import subprocess

    box = sandbox.best()
    job = tmp_path / "job"
    job.mkdir()
    tmp_path.chmod(0o755)
    kit = sandbox.stage_kit(tmp_path / "kit")
    outside = Path("/tmp") / f"outside-{os.getpid()}"
    outside.write_text("the grader's")
    script = ("import os, sys\n"
              "print(os.getuid(), os.getgid())\n"
              "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
              f"print(os.path.exists({str(REPO / 'autograder' / 'hidden' / 'judges.py')!r}),"
              f" os.path.exists({str(REFERENCE_NOTEBOOK)!r}), os.path.exists('/kit/autograder/hidden/judges.py'),"
              " os.path.exists('/kit/autograder/recompute.py'), os.path.exists('/kit/autograder/plan.py'),"
              f" os.path.exists({str(FIXTURE / 'FakeNewsNet.csv')!r}))\n"
              f"print(os.path.exists({str(outside)!r}))\n"
              "print(os.system('umount /tmp 2>/dev/null') != 0)\n"
              "s = os.statvfs('/job'); t = os.statvfs('/tmp')\n"
              "print(s.f_blocks * s.f_frsize, t.f_blocks * t.f_frsize)\n")
    with box.lease_uid() as uid:
        argv = box.command(job, kit, ["-c", script], uid=uid)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=box.environment(kit, job), timeout=60)
        finally:
            outside.unlink()
    assert done.returncode == 0, done.stderr
    uid, caps, hidden, tmp, cannot_unmount, sizes = done.stdout.splitlines()
    assert uid == f"{sandbox.SANDBOX_UID} {sandbox.SANDBOX_UID}" and int(caps, 16) == 0
    assert hidden == "False False False False False False" and tmp == "False" and cannot_unmount == "True"
    assert sizes == f"{sandbox.WRITABLE_BYTES} {sandbox.WRITABLE_BYTES}"


def test_sandbox_level_can_be_chosen_and_is_checked(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_SANDBOX", "no-such-level")
    sandbox.best.cache_clear()
    try:
        with pytest.raises(ValueError, match="choose one of"):
            sandbox.best()
        monkeypatch.setenv("AUTOGRADER_SANDBOX", "rlimits")
        sandbox.best.cache_clear()
        assert sandbox.best().level == "rlimits"
    finally:
        sandbox.best.cache_clear()
        os.environ.pop("AUTOGRADER_SANDBOX", None)


def test_concurrent_workers_lease_distinct_uids(tmp_path, monkeypatch):
    """At the uid level, 12 workers starting at once on a range of 12 uids each get a uid of its own (a lock per
    uid): two workers never share one, so one's clean-up can never end the other's processes."""
    monkeypatch.setattr(sandbox, "UID_RANGE", range(62000, 62012))
    monkeypatch.setattr(sandbox, "UID_LOCKS", tmp_path / "locks")
    box = sandbox.Sandbox("uid")
    leased, start, errors = [], threading.Barrier(12), []

    def worker():
        try:
            start.wait()
            with box.lease_uid() as uid:
                leased.append(uid)
                time.sleep(0.5)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and sorted(leased) == list(range(62000, 62012))
    with box.lease_uid() as again:  # all released
        assert again in range(62000, 62012)


CONTAINER_ATTACK = '''    import os, time
    found = [os.environ.get("AUTOGRADER_KEY", "")]
    for pid in ("1", str(os.getppid())):
        for name in ("environ", "cmdline"):
            try:
                found.append(open(f"/proc/{{pid}}/{{name}}", "rb").read().decode("latin-1"))
            except OSError as err:
                found.append(f"refused /proc/{{pid}}/{{name}}: {{err}}")
    try:
        open({results!r}, "w").write("{{}}")
        found.append("WROTE THE RESULTS")
    except OSError as err:
        found.append(f"refused the results: {{err}}")
    if os.fork() == 0:  # a process left behind to rewrite the results once the grading is done
        os.setsid()
        try:  # one file per process
            with open({log!r} + f".{{os.getpid()}}.pid", "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            os._exit(0)
        for _ in range(40):
            time.sleep(0.25)
            try:
                open({results!r}, "w").write("{{}}")
            except OSError:
                pass
        os._exit(0)
    with open({log!r}, "a") as f:
        f.write("\\n".join(found) + "\\n")
'''


@pytest.mark.slow
@pytest.mark.ci_only  # a grading of its own, and 12 s waited for the process it leaves
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_root_without_cap_sys_admin_grades_at_the_container_level_and_holds(tmp_path):
    """Issue 19/21: root in a container (Docker's defaults, as on Gradescope: no CAP_SYS_ADMIN, so neither
    bubblewrap nor unshare runs) grades at the container level: the student's train() runs as a uid of its own,
    cannot read the key (its environment, the grader's /proc) nor write the results, and the process it leaves to
    rewrite them is ended with the grading."""
    drop = Path(tempfile.mkdtemp(prefix="container-drop-"))  # where the attack writes what it found (under /tmp:
    drop.chmod(0o777)  # pytest's own folders are root's alone)
    out, log = tmp_path / "out", drop / "found.txt"
    key = f"the-course-key-{os.getpid()}-{time.time_ns()}"
    attack = corpus.Submission("ContainerAttack", corpus.loop(
        CONTAINER_ATTACK.format(results=str(out / "results.json"), log=str(log)) + corpus.REFERENCE_LOOP))
    notebook = corpus.build(attack, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_SANDBOX"} | {"AUTOGRADER_KEY": key}
    grading = ["setpriv", "--bounding-set", "-sys_admin", "--", sys.executable, "-m", "autograder", "grade",
               str(notebook), "--only", "train_returns_losses", "--out", str(out)]
    done = subprocess.run(with_a_reachable_python(grading), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    written = (out / "results.json").read_bytes()
    results = json.loads(written)
    assert results["extra_data"]["isolation"] == "container" and results["score"] == 1, results
    found = log.read_text()
    assert "refused the results" in found and "WROTE THE RESULTS" not in found, found
    assert key not in found and "refused /proc/" in found, found
    time.sleep(12)  # the left process would have rewritten the results by now
    assert (out / "results.json").read_bytes() == written
    left = [p.name.split(".")[-2] for p in drop.glob("found.txt.*.pid")]  # the processes it left, by their own
    assert left  # word (other gradings run beside this one)
    assert not still_sandboxed(left), left
    assert key not in done.stdout + done.stderr + "".join(p.read_text() for p in out.iterdir())
    shutil.rmtree(drop)


