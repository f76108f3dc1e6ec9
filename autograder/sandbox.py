"""The sandbox the student's code runs in: the command that starts a worker, at the best isolation level that works
on this machine. Every grading records the level it ran at (GradeReport.isolation, results.json).

    bwrap     bubblewrap: a new root holding only read-only mounts of the Python installation, the system
              libraries and the worker's own modules (/kit); the only writable places are /job and /tmp, each a
              size-capped tmpfs of its own that disappears with the sandbox (nothing is written to the host); the
              grading data arrive as tensors on standard input, results leave through a pipe; new PID, network,
              IPC and UTS namespaces (no network, no other process visible); dies with the grader. Inside, setpriv drops to an unprivileged uid with no
              capabilities and no_new_privs (bubblewrap run as root without that would not be a sandbox: root can
              unmount what hides the grader), and prlimit sets the resource limits.
    uid       no bubblewrap, but root: a separate unprivileged uid (setpriv), leased so that no two workers share
              one, no network (unshare --net), the resource limits. Files readable by every user stay readable.
    container root without namespaces (a Docker container's defaults, as on Gradescope: CAP_SETUID, no
              CAP_SYS_ADMIN, so neither bubblewrap nor unshare runs): the uid level without its own network. The
              code still runs as a uid of its own with no capabilities; it cannot read the key (this process's
              environment and the key file are root's), cannot write the results (the grader writes them, as root,
              from what it read on the pipe), and every process it leaves is ended with its uid. It can reach the
              network the container has, and read what every user may read (run_autograder locks the kit's
              installed files: autograder/gradescope.py).
    rlimits   neither: the resource limits and a process group, as the grading user.
    none      the trusted in-process runner (the kit's own corpus): no isolation.

AUTOGRADER_SANDBOX=bwrap|uid|container|rlimits picks a level (an unavailable one is an error); unset, the best that works.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

LEVELS = ("bwrap", "uid", "container", "rlimits")
LEASED = ("uid", "container")  # the levels that run the code as a uid of their own, leased per worker
SANDBOX_UID = 65534  # nobody: owns no file the grader needs
# The worker's own modules: what the sandbox may see of the kit. Not the judges, the checks, the thresholds, the
# reference or the tests.
WORKER_MODULES = ("__init__.py", "worker.py", "probe_kit.py", "probes.py", "training_model.py", "spy.py", "notebook.py", "recipe.py",
                  "metrics.py", "data.py", "resources.py", "hidden/probes.py")  # data, resources: fakenews_lesson's
WRITABLE_BYTES = 256 * 2**20  # each of /job and /tmp inside bwrap
UID_RANGE = range(62000, 65000)  # the uid level's own uids, one leased per worker
UID_LOCKS = Path(os.environ.get("AUTOGRADER_UID_LOCKS", "/run/lock/autograder-uids"))
KIT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Limits:
    """Per worker. Address space is virtual memory: torch with one thread maps about 1.5 GB before any work."""

    address_space: int = 4 * 2**30
    cpu_seconds: int = 600
    processes: int = 64  # per uid, threads included
    file_size: int = 256 * 2**20
    open_files: int = 256

    def prlimit(self) -> list[str]:
        return ["prlimit", f"--as={self.address_space}", f"--cpu={self.cpu_seconds}", f"--nproc={self.processes}",
                f"--fsize={self.file_size}", f"--nofile={self.open_files}", "--core=0", "--"]


@dataclass(frozen=True)
class Sandbox:
    level: str
    limits: Limits = Limits()

    @contextlib.contextmanager
    def lease_uid(self):
        """The uid the student's code runs as, held for one worker: nobody inside bwrap's namespaces (the PID
        namespace ends everything); at the uid level a uid of its own, locked (flock, across processes) so that two
        concurrent workers never share one and clean_up never ends another's processes; None: the grading user's."""
        if self.level == "bwrap":
            yield SANDBOX_UID
            return
        if self.level not in LEASED:
            yield None
            return
        UID_LOCKS.mkdir(parents=True, exist_ok=True, mode=0o700)
        candidates = list(UID_RANGE)
        random.shuffle(candidates)
        for uid in candidates:
            fd = os.open(UID_LOCKS / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield uid
            finally:
                os.close(fd)  # releases the lock
            return
        raise RuntimeError(f"all {len(UID_RANGE)} sandbox uids are in use")

    def command(self, job: Path | None, kit: Path | None, python_args: list[str], uid: int | None = None) -> list[str]:
        """argv that runs `python python_args` in the sandbox; paths in `python_args` are as seen inside. `job` and
        `kit`: the worker's folder and its copy of the kit (stage_kit), for the levels without bubblewrap; bwrap
        needs neither (/job is a tmpfs of its own, the kit's files are bound from where they lie)."""
        python = sys.executable
        uid = SANDBOX_UID if uid is None else uid
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        if self.level == "bwrap":
            argv = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                    "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
                    "--proc", "/proc", "--dev", "/dev",
                    "--perms", "1777", "--size", str(WRITABLE_BYTES), "--tmpfs", "/tmp"]
            runtime = _runtime_paths()
            for parent in _parents(runtime):  # made by bwrap, traversable by the sandbox's uid (not 0700 /root)
                argv += ["--perms", "0755", "--dir", parent]
            for path in runtime:
                argv += ["--ro-bind", path, path]
            argv += ["--ro-bind-try", "/etc/fonts", "/etc/fonts"]  # matplotlib's text, without a warning
            for path in _hidden_paths():
                argv += ["--tmpfs", path]
            gpus = sorted(str(p) for p in Path("/dev").glob("nvidia*"))
            for device in gpus:  # an NVIDIA GPU stays usable (device placement is checked on it); untested here
                argv += ["--dev-bind", device, device]
            if gpus:
                argv += ["--ro-bind-try", "/sys", "/sys"]
            argv += kit_binds(worker_files())  # `kit` (a copy, for the other levels) is not needed here
            argv += ["--perms", "0777", "--size", str(WRITABLE_BYTES), "--tmpfs", "/job"]
            argv += ["--chdir", "/job", "--clearenv"]
            for key, value in _environment("/kit", "/tmp").items():
                argv += ["--setenv", key, value]
            return argv + drop + self.limits.prlimit() + [python, *python_args]
        if self.level == "uid":
            return (["unshare", "--net", "--"] + drop + self.limits.prlimit() + [python, *python_args])
        if self.level == "container":
            return drop + self.limits.prlimit() + [python, *python_args]
        if self.level == "none":  # no isolation at all: only for measuring the sandbox's cost (benchmarks/)
            return [python, *python_args]
        return self.limits.prlimit() + [python, *python_args]

    def environment(self, kit: Path | None, job: Path | None = None) -> dict[str, str]:
        """The environment the sandbox command starts with: nothing of the grader's (bwrap clears it again)."""
        if self.level == "bwrap":
            return _environment("/kit", "/tmp")
        return _environment(str(kit), str(job / "tmp") if job else "/tmp")

    def clean_up(self, uid: int | None) -> None:
        """Ends whatever the student's code left running. bwrap: the PID namespace ended with the worker. uid and
        container: every process of the worker's own uid. rlimits: only the process group (a process that left it survives)."""
        if self.level not in LEASED or uid is None:
            return
        for _ in range(3):
            found = _pids_of(uid)
            for pid in found:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if not found:
                return


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            line = next((x for x in status.splitlines() if x.startswith("Uid:")), "")
            if line.split()[1:2] == [str(uid)]:
                pids.append(int(entry.name))
    return pids


def weakest(levels) -> str:
    """The weakest of some sandbox levels ("none" is weaker than all)."""
    order = (*LEVELS, "none")
    return max(levels, key=order.index, default="none")


def _environment(kit: str, tmp: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "USER": "student", "LANG": "C.UTF-8",
            "PYTHONPATH": kit, "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "agg", "MPLCONFIGDIR": f"{tmp}/mpl",
            "TQDM_DISABLE": "0"}


@functools.lru_cache(maxsize=None)
def _runtime_paths() -> tuple[str, ...]:
    """What a Python with torch needs to run: the system, the interpreter and its packages (read-only)."""
    paths = {"/usr", "/bin", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"}
    for name in (sys.prefix, sys.base_prefix, sys.exec_prefix):
        paths.add(name)
        paths.add(os.path.realpath(name))
    paths.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    for key in ("purelib", "platlib", "stdlib", "platstdlib"):
        paths.add(os.path.realpath(sysconfig.get_paths()[key]))
    existing = sorted(p for p in paths if os.path.exists(p))
    # A path inside another is already there (and mounting it again would undo a tmpfs hiding something below).
    return tuple(p for p in existing if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in existing))


def _parents(paths) -> list[str]:
    found: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents[:-1]):  # from the top, "/" excluded
            if str(parent) not in found and str(parent) not in ("/", "/tmp") and str(parent) not in paths:
                found.append(str(parent))
    return found


def _hidden_paths() -> list[str]:
    """Folders inside the mounted runtime that hold the kit's graders (an installed, not editable, kit)."""
    runtime = _runtime_paths()
    return [str(KIT)] if any(str(KIT).startswith(p.rstrip("/") + "/") for p in runtime) else []


def worker_files() -> dict[str, Path]:
    """What the worker sees of the kit, by its path under /kit: the worker's modules and the lesson's helper module,
    which notebooks import. `autograder.hidden` is then a namespace package holding only the hidden probes: not the
    hidden checks' registry."""
    from autograder.resources import lesson_file

    files = {f"autograder/{name}": KIT / name for name in WORKER_MODULES if (KIT / name).is_file()}
    files["fakenews_lesson.py"] = lesson_file("fakenews_lesson.py")
    return files


def kit_binds(files: dict[str, Path]) -> list[str]:
    """bubblewrap's arguments that show `files` (path under /kit -> the file on the host) read-only at /kit, each
    bound from where it lies (even below a folder the sandbox hides): nothing is copied, so nothing stays on the host
    however the sandbox ends."""
    inside = [f"/kit/{path}" for path in files]
    argv = [arg for parent in _parents(inside) for arg in ("--perms", "0755", "--dir", parent)]
    for path, host in zip(inside, files.values()):
        argv += ["--ro-bind", str(host), path]
    return argv


def stage_kit(folder: Path) -> Path:
    """Copies the worker's files (worker_files) into folder/: the only part of the kit the worker sees, at the levels
    without bubblewrap (which binds them: kit_binds)."""
    for inside, host in worker_files().items():
        (folder / inside).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(host, folder / inside)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def _works(level: str) -> bool:
    """Does a trivial worker start at this level (and reach its Python)?"""
    import tempfile

    if level == "rlimits":
        return shutil.which("prlimit") is not None
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("prlimit"):
        return False
    if level == "bwrap" and not shutil.which("bwrap"):
        return False
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as tmp:
        job, kit = Path(tmp) / "job", stage_kit(Path(tmp) / "kit")
        (job / "tmp").mkdir(parents=True)
        Path(tmp).chmod(0o755)
        sandbox = Sandbox(level)
        try:
            with sandbox.lease_uid() as uid:
                if uid is not None:
                    os.chown(job, uid, uid)
                argv = sandbox.command(job, kit, ["-c", "import autograder.worker"], uid=uid)
                done = subprocess.run(argv, capture_output=True, timeout=60, cwd=job,
                                      env=sandbox.environment(kit, job))
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0


@functools.lru_cache(maxsize=None)
def best() -> Sandbox:
    """The level asked for in AUTOGRADER_SANDBOX, else the best that works here (tried once per process)."""
    wanted = os.environ.get("AUTOGRADER_SANDBOX", "").strip()
    if wanted:
        if wanted not in LEVELS:
            raise ValueError(f"AUTOGRADER_SANDBOX={wanted!r}: choose one of {', '.join(LEVELS)}")
        if not _works(wanted):
            raise RuntimeError(f"AUTOGRADER_SANDBOX={wanted}: that level does not work on this machine")
        return Sandbox(wanted)
    for level in LEVELS:
        if _works(level):
            if level == "rlimits":  # never by default: it cannot keep the key or the grader's files from the code
                raise RuntimeError(WEAK_REFUSED)
            return Sandbox(level)
    raise RuntimeError("no sandbox level works here: install util-linux (prlimit), and bubblewrap")


# Where neither bubblewrap nor the uid level runs, grading refuses unless the instructor asks for the weak level by
# name (AUTOGRADER_SANDBOX=rlimits), knowing what it lets student code do (docs/threat-model.md).
WEAK_REFUSED = (
    "grading refused: neither bubblewrap nor the uid or container levels (root) work here, and the only level left (rlimits) runs the "
    "student's code as the grading user: it can read the grading key (in this process's environment) and write "
    "the grader's own files, such as calibrations, so one student could change the next one's grade. Install "
    "bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; on Ubuntu 24.04 also allow unprivileged user namespaces, "
    "or grade as root), or run as root for the uid level. To grade at the weak level anyway, on a machine that "
    "grades nobody else, set AUTOGRADER_SANDBOX=rlimits.")
