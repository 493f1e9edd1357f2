"""Process checks: the runtime's own /proc/PID/stat reader, and the kernel's children list."""

from __future__ import annotations

import os

from bots_runtime.process.procfs import read_stat

__all__ = ["children_of", "process_exists", "zombies_of"]


def process_exists(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    stat = read_stat(pid)
    return stat is not None and not stat.zombie


def children_of(pid: int) -> list[int]:
    """Children that `pid`'s main thread started, from the kernel's own list (no /proc scan).

    Cheap enough to poll every millisecond, which the start-up race tests need.
    """
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def zombies_of(parent: int) -> list[int]:
    """Children of `parent` that exited and were not reaped."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(entry)
            if stat is not None and stat.zombie and stat.ppid == parent:
                found.append(stat.pid)
    return found
