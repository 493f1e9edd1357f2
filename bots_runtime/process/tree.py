"""Our place in the process tree: becoming a subreaper, and what of the child's tree is left.

As PID 1 or as a child subreaper, the runtime inherits every orphan of the service (an engine
the Bots webserver started, a shell's background job) and must wait for them and reap them.
"""

from __future__ import annotations

import ctypes
import os
import signal
from typing import TYPE_CHECKING

from bots_runtime.core import signals
from bots_runtime.core.spec import StopTarget

if TYPE_CHECKING:
    from collections.abc import Mapping

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Ask the kernel to re-parent orphaned descendants to us; False when it refuses."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


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


def our_children() -> list[int]:
    """Pids whose parent is this process (the main child and orphans re-parented to us)."""
    from bots_runtime.process.procfs import children_of  # noqa: PLC0415 - see _scan_group

    return children_of(os.getpid())


class ChildTree:
    """The main child and everything it started: where signals go and what is still alive.

    Every child runs in its own session, so its pid is also its process group. Groups of
    earlier children are remembered while anything in them lives: a restarted webserver's
    previous engine run is still a leftover to wait for.
    """

    __slots__ = ("_groups", "_rewrite", "_to_group", "pid")

    def __init__(self, *, to_group: bool, rewrite: Mapping[int, int]) -> None:
        self._to_group = to_group
        self._rewrite = rewrite
        self._groups: list[int] = []
        self.pid: int | None = None

    def adopt(self, pid: int) -> None:
        """`pid` is the new main child (and its group)."""
        self._groups = [g for g in self._groups if group_alive(g)] + [pid]
        self.pid = pid

    def lost(self) -> None:
        """The main child has exited; its group may live on."""
        self.pid = None

    def send(self, signum: int, target: StopTarget | None = None) -> int:
        """Send `signum` (after the rewrite table) to the main child, its group, or the rest.

        `target` None means the group or the child as the plan says (`to_group`); `REST` is
        every other member of the child's group, found in /proc. Returns the signal sent, 0
        when it was dropped or there is no child to send it to.
        """
        sent = signals.rewrite(signum, self._rewrite)
        if not sent or self.pid is None:
            return 0
        if target is None:
            target = StopTarget.GROUP if self._to_group else StopTarget.CHILD
        if target is StopTarget.REST:
            for pid in _scan_group(self.pid):
                if pid != self.pid:
                    _kill(pid, sent, group=False)
        else:
            _kill(self.pid, sent, group=target is StopTarget.GROUP)
        return sent

    def send_leftovers(self, signum: int) -> tuple[int, list[int]]:
        """Send `signum` (rewritten) to every group we started and every child of ours."""
        sent = signals.rewrite(signum, self._rewrite)
        pids = our_children()
        if sent:
            for pgid in self._groups:
                _kill(pgid, sent, group=True)
            for pid in pids:
                _kill(pid, sent, group=False)
        return sent, pids

    def kill(self) -> tuple[list[int], list[int]]:
        """SIGKILL every live group we started and every child; returns (pids, groups) hit."""
        pids = our_children()
        groups = [g for g in self._groups if group_alive(g)]
        for pgid in groups:
            _kill(pgid, signal.SIGKILL, group=True)
        for pid in pids:
            _kill(pid, signal.SIGKILL, group=False)
        return pids, groups

    def anything_left(self) -> bool:
        """True while a child of ours exists or a group we started has a member."""
        return has_children() or any(group_alive(g) for g in self._groups)


def _kill(pid: int, signum: int, *, group: bool) -> bool:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def _scan_group(pgid: int) -> list[int]:
    # procfs is imported on first use: `become_subreaper` runs before the spawn, and the
    # parser's dataclass costs about 1.5 ms of exec to child.
    from bots_runtime.process.procfs import group_members  # noqa: PLC0415

    return group_members(pgid)
