"""The only place that calls `waitpid`: main-child statuses and orphan reaping.

Because the runtime never uses asyncio's subprocess support, there is no child watcher to race
with: a blanket `waitpid(-1, WNOHANG)` loop is safe here, and every status it collects either
belongs to a watched pid (the main child) or to an orphan that was re-parented to us (as PID 1
or as a subreaper). It runs on each SIGCHLD, delivered through the event loop.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import TYPE_CHECKING

import anyio

from bots_runtime.exit_codes import ExitStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from bots_runtime.state import Counters

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Ask the kernel to re-parent orphaned descendants to us; False when it refuses."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class Reaper:
    """Collects exit statuses and wakes whoever waits for a pid or for "no children left"."""

    __slots__ = ("_changed", "_counters", "_on_orphan", "_statuses", "_watched")

    def __init__(
        self,
        counters: Counters,
        on_orphan: Callable[[int, ExitStatus], None] | None = None,
    ) -> None:
        self._counters = counters
        self._on_orphan = on_orphan
        self._watched: set[int] = set()
        self._statuses: dict[int, ExitStatus] = {}
        self._changed = anyio.Event()

    def watch(self, pid: int) -> None:
        """Keep `pid`'s status for `wait` instead of treating it as an orphan."""
        self._watched.add(pid)

    def reap(self) -> None:
        """Collect every exited child now (non-blocking)."""
        progressed = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            progressed = True
            result = ExitStatus.from_wait_status(status)
            if pid in self._watched:
                self._watched.discard(pid)
                self._statuses[pid] = result
            else:
                self._counters.orphans_reaped += 1
                if self._on_orphan is not None:
                    self._on_orphan(pid, result)
        if progressed:
            self._changed.set()
            self._changed = anyio.Event()

    async def wait(self, pid: int) -> ExitStatus:
        """Wait until `pid` (watched) has exited and return its status."""
        while pid not in self._statuses:
            self.reap()
            if pid in self._statuses:
                break
            await self._changed.wait()
        return self._statuses.pop(pid)

    async def changed(self) -> None:
        """Wait for the next reap that collected anything."""
        await self._changed.wait()


def has_children() -> bool:
    """True while any child of ours exists (running or not yet reaped)."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """True while any process is left in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def children_pids() -> list[int]:
    """Pids whose parent is this process, read from /proc (orphans re-parented to us)."""
    me = os.getpid()
    pids: list[int] = []
    with contextlib.suppress(OSError):
        entries = os.listdir("/proc")
        for entry in entries:
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 1 and int(fields[1]) == me:
                pids.append(int(entry))
    return pids
