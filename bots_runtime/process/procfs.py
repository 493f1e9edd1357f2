"""Reading `/proc/PID/stat`: the one parser of the kernel's per-process status line.

The command name in parentheses may itself contain spaces and parentheses, so the fields are
counted from the last `)`. Field numbers follow proc(5), starting at `state` (field 3).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of `/proc/PID/stat` the runtime uses."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    threads: int

    @property
    def zombie(self) -> bool:
        """Exited but not yet reaped by its parent."""
        return self.state == "Z"


def read_stat(pid: int | str, proc: str = "/proc") -> ProcStat | None:
    """The process's status, or None when it does not exist (or vanished while reading)."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 18:
        return None
    return ProcStat(
        pid=int(pid),
        state=fields[0].decode("ascii", "replace"),
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        threads=int(fields[17]),
    )


def children_of(parent: int, proc: str = "/proc") -> list[int]:
    """Pids whose parent is `parent`, zombies included, from a scan of `proc`."""
    return [stat.pid for stat in _scan(proc) if stat.ppid == parent]


def group_members(pgid: int, proc: str = "/proc") -> list[int]:
    """Live (non-zombie) pids in process group `pgid`, from a scan of `proc`."""
    return [stat.pid for stat in _scan(proc) if stat.pgrp == pgid and not stat.zombie]


def _scan(proc: str) -> list[ProcStat]:
    try:
        entries = os.listdir(proc)
    except OSError:
        return []
    stats = (read_stat(entry, proc) for entry in entries if entry.isdigit())
    return [stat for stat in stats if stat is not None]
