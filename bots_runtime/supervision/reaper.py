"""The only place that calls `waitpid`: main-child statuses and orphan reaping.

Because the runtime never uses asyncio's subprocess support, there is no child watcher to race
with: a blanket `waitpid(-1, WNOHANG)` loop is safe here, and every status it collects either
belongs to a watched pid (the main child) or to an orphan that was re-parented to us (as PID 1
or as a subreaper). It runs on each SIGCHLD, delivered through the event loop.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio

from bots_runtime.core.exit_codes import ExitStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from bots_runtime.core.state import Counters


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
