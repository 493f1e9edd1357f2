"""Reading /proc: process trees, memory, CPU time and zombies of a supervisor.

"The supervisor" is every process under the supervisor's root pid except the child's
subtree, so a multi-process supervisor is counted whole and the child never is.
CPU time comes from /proc/PID/task/*/schedstat (nanoseconds, every live thread), which
resolves the sub-millisecond costs that clock-tick counters in /proc/PID/stat round to 0.
"""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    """One process: its parent and its state letter (R, S, Z, ...)."""

    pid: int
    ppid: int
    state: str


def _read_stat(pid: int) -> ProcInfo | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    rest = text.rsplit(")", 1)[1].split()
    return ProcInfo(pid, int(rest[1]), rest[0])


def table() -> dict[int, ProcInfo]:
    """Every process on the machine, by pid."""
    procs: dict[int, ProcInfo] = {}
    for entry in os.scandir(PROC):
        if entry.name.isdigit() and (info := _read_stat(int(entry.name))) is not None:
            procs[info.pid] = info
    return procs


def descendants(root: int, procs: dict[int, ProcInfo] | None = None) -> list[ProcInfo]:
    """`root` and everything below it."""
    procs = table() if procs is None else procs
    children: dict[int, list[int]] = {}
    for info in procs.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: list[ProcInfo] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in procs:
            found.append(procs[pid])
        stack.extend(children.get(pid, []))
    return found


def supervisor_pids(root: int, child: int | None) -> list[int]:
    """The supervisor's own live processes: the tree under `root` minus the child's subtree."""
    procs = table()
    excluded = {p.pid for p in descendants(child, procs)} if child is not None else set()
    return [p.pid for p in descendants(root, procs) if p.pid not in excluded and p.state != "Z"]


def cpu_ns(pids: list[int]) -> int:
    """On-CPU nanoseconds of every live thread of `pids`."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(PROC / str(pid) / "task")
        except OSError:
            continue
        for tid in tasks:
            try:
                total += int((PROC / str(pid) / "task" / tid / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """Summed VmRSS and VmHWM in KiB."""
    rss = hwm = 0
    for pid in pids:
        try:
            lines = (PROC / str(pid) / "status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1])
    return rss, hwm


def zombies_under(root: int) -> int:
    """Processes in state Z anywhere below `root`."""
    return sum(1 for p in descendants(root) if p.state == "Z" and p.pid != root)


def settle(
    pids_of: list[int], quiet_ns: int = 2_000_000, step: float = 0.1, limit: float = 15.0
) -> None:
    """Wait until the processes use < `quiet_ns` of CPU per `step`, twice in a row, or `limit` s."""
    deadline = time.monotonic() + limit
    last = cpu_ns(pids_of)
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(step)
        now = cpu_ns(pids_of)
        quiet = quiet + 1 if now - last < quiet_ns else 0
        last = now


class PidFd:
    """A pidfd: readable the moment the process exits, without reaping it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fd = os.pidfd_open(pid)

    def wait(self, timeout: float) -> float | None:
        """Monotonic time at which the process was seen gone, or None on timeout."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return time.monotonic() if ready else None

    def close(self) -> None:
        """Release the descriptor."""
        os.close(self.fd)
