"""The student's kernel under `nbgrader autograde`, in a sandbox: the course's kernelspec (`rnn-sandboxed`, written
by `autograder course`) starts

    python -m autograder.kernel_sandbox CONNECTION_FILE

which runs ipykernel inside bubblewrap as an unprivileged uid (as the grading workers do, autograder/sandbox.py):
the system and the Python installation read-only, the notebook's own folder (autograded/<student>/<assignment>/)
the only writable place besides a capped private /tmp, no other student's files, no course folder, no gradebook,
no kit but the two modules a test cell imports, and no network: nbgrader talks to it over Unix sockets (ZMQ's IPC
transport, `KernelOverIPC` below) in a folder of its own, bound into the sandbox, so the kernel runs in a network
namespace of its own (`--unshare-net`: its own loopback, nothing else). It cannot reach a concurrent `autograder
batch`'s scheduler, a gradebook's server or any other kernel. Where bubblewrap cannot run, the kernel starts as
nbgrader's own would, and says so on its first line of output.

The kernel decides no score either way: the course's EngineScores preprocessor replaces every test cell's output.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import weakref
from pathlib import Path

KERNEL_NAME = "rnn-sandboxed"
# What a test cell imports (nbgrader_cells, checks), and what the lesson's helper module reads the data with (data,
# resources and the fixture): nothing more.
KERNEL_MODULES = ("__init__.py", "nbgrader_cells.py", "checks.py", "spec.py", "data.py", "resources.py")
FIXTURE_FILES = ("FakeNewsNet.csv", "fakenews_tokenizer.model")


def kernelspec(folder: Path) -> Path:
    """Writes the kernelspec into folder/kernels/<KERNEL_NAME>/ (a folder on JUPYTER_PATH); returns its path."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "autograder.kernel_sandbox", "{connection_file}"],
        "display_name": "Python 3 (sandboxed for grading)", "language": "python",
        "metadata": {"debugger": False}}, indent=1))
    return spec


def _kit_binds() -> list[str]:
    """The modules a test cell imports and the fixture, read-only at /kit, bound from the installed kit
    (sandbox.kit_binds): nothing is copied, so nothing stays behind however the kernel ends (a kernel manager ends
    a kernel that does not stop with SIGKILL)."""
    from autograder import sandbox
    from autograder.resources import fixture_dir

    files = {f"autograder/{name}": sandbox.KIT / name for name in KERNEL_MODULES}
    files.update({f"autograder/fixture/{name}": fixture_dir() / name for name in FIXTURE_FILES})
    return sandbox.kit_binds(files)


def kernel_over_ipc():
    """The kernel manager nbgrader's Execute uses for the course (autograder.nbgrader_plugins): jupyter_client's,
    with the IPC transport and its sockets in a fresh private folder (`<folder>/kernel-1` ... `-5`), owned by the
    sandbox's uid where nbgrader runs as root. The folder is removed with the kernel, or with its manager."""
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class KernelOverIPC(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        def _ip_default(self) -> str:
            from autograder import sandbox

            self._ipc_folder = tempfile.mkdtemp(prefix="autograder-kernel-")
            # Removed with the kernel (below), and in any case when this manager goes or the process exits: a
            # manager whose kernel died is not always shut down, and its folder stayed behind.
            weakref.finalize(self, shutil.rmtree, self._ipc_folder, True)
            if os.geteuid() == 0:
                os.chown(self._ipc_folder, sandbox.SANDBOX_UID, sandbox.SANDBOX_UID)
            return os.path.join(self._ipc_folder, "kernel")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart and getattr(self, "_ipc_folder", None):
                shutil.rmtree(self._ipc_folder, ignore_errors=True)

    return KernelOverIPC


def _ipc_folder(connection_file: str) -> str | None:
    """The folder of the kernel's Unix sockets, when its connection uses the IPC transport."""
    try:
        info = json.loads(Path(connection_file).read_text())
    except (OSError, ValueError):
        return None
    if info.get("transport") != "ipc" or not os.path.isabs(str(info.get("ip", ""))):
        return None
    return os.path.dirname(str(info["ip"]))


def command(connection_file: str, notebook_dir: Path) -> list[str] | None:
    """The argv that runs the kernel in bubblewrap, or None where it cannot. Over IPC (the course's kernel manager)
    the kernel gets a network namespace of its own; over TCP (another kernel manager) it keeps the grader's, which
    nbgrader's channels need."""
    from autograder import sandbox

    if sandbox.best().level != "bwrap":
        return None
    sockets = _ipc_folder(connection_file)
    uid = sandbox.SANDBOX_UID
    inside = str(notebook_dir / ".kernel-connection.json")  # a copy the sandbox's uid can read
    shutil.copy(connection_file, inside)
    os.chmod(inside, 0o644)
    for path in [notebook_dir, *notebook_dir.rglob("*")]:
        try:
            os.chown(path, uid, uid, follow_symlinks=False)
        except OSError:
            pass
    argv = ["bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(sandbox.WRITABLE_BYTES), "--tmpfs", "/tmp"]
    runtime = sandbox._runtime_paths()
    # Every folder on the way to what is bound (the notebook's, the sockets') is made traversable: bubblewrap would
    # make a missing one as private as the host's (a TMPDIR of mode 0700 killed every kernel before it started).
    for parent in sandbox._parents(list(runtime) + [str(notebook_dir)] + ([sockets] if sockets else [])):
        argv += ["--perms", "0755", "--dir", parent]
    for path in runtime:
        argv += ["--ro-bind", path, path]
    argv += ["--ro-bind-try", "/etc/fonts", "/etc/fonts"]
    for path in sandbox._hidden_paths():
        argv += ["--tmpfs", path]
    argv += _kit_binds() + ["--bind", str(notebook_dir), str(notebook_dir)]
    if sockets is not None:  # the only way in or out: the folder of its own sockets
        argv[1:1] = ["--unshare-net"]
        argv += ["--bind", sockets, sockets]
    argv += ["--chdir", str(notebook_dir), "--clearenv"]
    environment = sandbox._environment("/kit", "/tmp")
    environment["PYTHONPATH"] = f"/kit{os.pathsep}{notebook_dir}"
    for key in ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "FAKENEWS_DATA", "FAKENEWS_FIXTURE_DIR"):
        if os.environ.get(key):
            environment[key] = os.environ[key]
    for key, value in environment.items():
        argv += ["--setenv", key, value]
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]
    limits = sandbox.Limits(address_space=16 * 2**30, cpu_seconds=24 * 3600)  # the lesson itself runs here
    return argv + drop + limits.prlimit() + [sys.executable, "-m", "ipykernel_launcher", "-f", inside, QUIET]


# The kernel's own log, not the student's output (that goes to the notebook): started by this launcher rather than
# by Jupyter, ipykernel prints its "Ctrl-C will not work" note and the connection file (and, over TCP, that TCP is
# not encrypted), for every student, into nbgrader's log, with nothing to act on. Only a critical failure of the
# kernel itself is logged.
QUIET = "--IPKernelApp.log_level=CRITICAL"


def main(argv: list[str]) -> int:
    connection_file = argv[0]
    sandboxed = command(connection_file, Path.cwd().resolve())
    if sandboxed is None:
        print("autograder: bubblewrap cannot run here; this kernel is not sandboxed", flush=True)
        sandboxed = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, QUIET]
    os.execvp(sandboxed[0], sandboxed)  # the kernel manager's signals reach bubblewrap (or the kernel) itself


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
