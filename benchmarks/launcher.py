"""Starting a supervisor, and always cleaning up after it, even when a measurement fails."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from typing import IO, TYPE_CHECKING

from benchmarks import procfs
from benchmarks.events import BenchError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from benchmarks.peers import Launch

PR_SET_CHILD_SUBREAPER = 36
STOP_WAIT_S = 35.0  # circus waits up to 30 s (graceful_timeout) before SIGKILL


class Running:
    """A started supervisor: its Popen, a pidfd and the monotonic time just before the spawn."""

    def __init__(self, proc: subprocess.Popen[bytes], t_spawn: float) -> None:
        self.proc = proc
        self.t_spawn = t_spawn
        self.pidfd = procfs.PidFd(proc.pid)

    @property
    def pid(self) -> int:
        """The supervisor's pid (for `unshare`, the unshare process)."""
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_WAIT_S) -> float:
        """Send `sig` and wait for the process to be gone; return when it went (monotonic)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        gone = self.pidfd.wait(timeout)
        if gone is None:
            raise BenchError(f"pid {self.proc.pid} still running {timeout} s after signal {sig}")
        return gone

    def kill_tree(self) -> None:
        """SIGKILL whatever is left of this supervisor's tree (only pids we started)."""
        for info in procfs.descendants(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)


@contextlib.contextmanager
def started(
    launch: Launch,
    workdir: Path,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
    prefix: list[str] | None = None,
    keep: frozenset[int] = frozenset(),
) -> Iterator[Running]:
    """Start `launch` (behind `prefix`, e.g. unshare); on leaving, reap it and its tree."""
    logs: list[IO[bytes]] = []
    if stdout is None:
        logs.append(stdout := (workdir / "stdout.log").open("wb"))
    if stderr is None:
        logs.append(stderr := (workdir / "stderr.log").open("wb"))
    t_spawn = time.monotonic()
    proc = subprocess.Popen(
        [*(prefix or []), *launch.argv],
        env=launch.env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
    )
    running = Running(proc, t_spawn)
    try:
        yield running
    finally:
        if proc.poll() is None:
            running.kill_tree()
        proc.wait(timeout=10)
        running.pidfd.close()
        sweep_strays(keep)
        for log in logs:
            log.close()


def become_subreaper() -> None:
    """Make orphans of killed supervisors come back to the harness, so none is left running."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def sweep_strays(keep: frozenset[int] = frozenset()) -> None:
    """SIGKILL and reap processes left below the harness (orphans reparented to it)."""
    me = os.getpid()
    strays = [p for p in procfs.descendants(me) if p.pid != me and p.pid not in keep]
    for info in strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
    for info in strays:
        if info.ppid == me:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.pid, 0)


def tail(path: Path, lines: int = 15) -> str:
    """The end of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
