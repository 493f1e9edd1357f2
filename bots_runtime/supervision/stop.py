"""The stop sequence: from the first stop signal to nothing of the service left.

The stages run in this order, each named after what it does:

1. drain: readiness already fails; wait `drain_delay` so load balancers stop sending traffic;
2. steps: send the plan's signals at their offsets while the main child lives;
3. deadline: SIGKILL to the whole tree if the main child is still there;
4. leftovers: what outlives the main child (its group, orphans re-parented to us) is waited
   for, sent the leftover signal `leftover_margin` seconds before the deadline, then killed.

Stage 4 also runs when the child exits on its own. A second stop signal (`force`) cuts every
wait short. The supervisor owns one `StopSequence` and runs it in its task group, which
`runtime.serve` shields from outside cancellation, so a cancelled caller still gets a clean
stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from bots_runtime.core.exit_codes import signal_name
from bots_runtime.core.spec import StopTarget
from bots_runtime.process.tree import our_children

if TYPE_CHECKING:
    from collections.abc import Callable

    from structlog.typing import FilteringBoundLogger

    from bots_runtime.core.spec import StopPlan
    from bots_runtime.process.tree import ChildTree
    from bots_runtime.supervision.reaper import Reaper

#: Without SIGCHLD (neither PID 1 nor a subreaper) the end of a grandchild is only seen by looking.
LEFTOVER_POLL = 0.05
#: After the leftover deadline, how long SIGKILL is repeated until the tree is really empty.
FINAL_KILL_WAIT = 2.0


class StopSequence:
    """One service's stop: begun once, forced by a second signal, run to the end."""

    def __init__(
        self,
        plan: StopPlan,
        tree: ChildTree,
        reaper: Reaper,
        log: FilteringBoundLogger,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self._plan = plan
        self._tree = tree
        self._reaper = reaper
        self._log = log
        self._clock = clock
        self._schedule: list[tuple[float, int, StopTarget]] = []
        self._start: float | None = None
        self.deadline: float | None = None
        self.began = False
        self.forced = anyio.Event()

    def begin(self, signum: int) -> bool:
        """Start the stop because of `signum`; True when a child is there to be stopped.

        A step due at 0 s with no drain is sent right here, before any logging or task
        start: the child hears it within a fraction of a millisecond of ours.
        """
        plan = self._plan
        self.began = True
        self._schedule = plan.timeline()
        first: tuple[float, int, StopTarget] | None = None
        sent = 0
        now = self._tree.pid is not None and plan.drain_delay <= 0
        if now and self._schedule and self._schedule[0][0] <= 0:
            first = self._schedule.pop(0)
            self._start = self._clock()
            self.deadline = self._start + plan.timeout
            sent = self._tree.send(first[1], first[2])
        self._log.info(
            "stop requested",
            signal=signal_name(signum),
            drain_delay=plan.drain_delay,
            stop_timeout=plan.timeout,
        )
        if sent and first is not None:
            self._log_step(sent, first[0], first[2])
        return self._tree.pid is not None

    def force(self) -> None:
        """A further stop signal: skip every remaining wait."""
        self.forced.set()

    async def run(self, child_gone: anyio.Event) -> None:
        """Stages 1-3: drain, steps, deadline; returns once the main child is gone."""
        if self._start is None and not await self._drain():
            self._kill("forced")
            return
        assert self._start is not None  # noqa: S101 - set by begin() or the drain
        for at, signum, target in self._schedule:
            if await self._wait(self._start + at, child_gone):
                break
            if child_gone.is_set():
                return
            sent = self._tree.send(signum, target)
            if sent:
                self._log_step(sent, at, target)
        assert self.deadline is not None  # noqa: S101
        forced = await self._wait(self.deadline, child_gone)
        if not child_gone.is_set():
            self._kill("forced" if forced else "stop timeout")

    async def _drain(self) -> bool:
        """Stage 1: readiness fails while traffic moves away; False when forced."""
        with anyio.move_on_after(self._plan.drain_delay):
            await self.forced.wait()
        if self.forced.is_set():
            return False
        self._start = self._clock()
        self.deadline = self._start + self._plan.timeout
        return True

    async def _wait(self, until: float, child_gone: anyio.Event) -> bool:
        """Sleep until `until`, the child's exit or a forced stop; True when forced."""
        remaining = until - self._clock()
        if remaining > 0 and not child_gone.is_set():
            with anyio.move_on_after(remaining):
                async with anyio.create_task_group() as tg:

                    async def cancel_on(event: anyio.Event) -> None:
                        await event.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(cancel_on, self.forced)
                    tg.start_soon(cancel_on, child_gone)
        return self.forced.is_set()

    async def clear_leftovers(self) -> None:
        """Stage 4: wait for what the main child left, then its signal, then SIGKILL."""
        self._reaper.reap()
        if not self._tree.anything_left():
            return
        plan = self._plan
        deadline = self.deadline if self.deadline is not None else self._clock() + plan.timeout
        self._log.info(
            "waiting for leftover processes",
            pids=our_children(),
            seconds=round(max(0.0, deadline - self._clock()), 3),
        )
        if await self._wait_gone(deadline - plan.leftover_margin):
            return
        if not self.forced.is_set():
            sent, pids = self._tree.send_leftovers(plan.leftover_signal)
            shown = signal_name(sent) if sent else "none (rewritten to 0)"
            self._log.info("signalling leftover processes", signal=shown, pids=pids)
            if await self._wait_gone(deadline):
                return
        end = self._clock() + FINAL_KILL_WAIT
        while self._tree.anything_left() and self._clock() < end:
            self._kill("forced" if self.forced.is_set() else "leftover deadline")
            with anyio.move_on_after(LEFTOVER_POLL):
                await self._reaper.changed()
            self._reaper.reap()

    async def _wait_gone(self, until: float) -> bool:
        """Wait until nothing is left (True), the time `until` or a forced stop (False)."""
        while self._tree.anything_left():
            remaining = until - self._clock()
            if remaining <= 0 or self.forced.is_set():
                return False
            with anyio.move_on_after(min(remaining, LEFTOVER_POLL)):
                self._reaper.reap()
                await self._reaper.changed()
        return True

    def _kill(self, reason: str) -> None:
        """SIGKILL to every group we started and every child of ours."""
        pids, groups = self._tree.kill()
        if pids or groups:
            self._log.warning("killing", reason=reason, pids=pids, groups=groups)

    def _log_step(self, sent: int, at: float, target: StopTarget) -> None:
        self._log.info(
            "stop signal sent",
            signal=signal_name(sent),
            pid=self._tree.pid,
            group=target is StopTarget.GROUP,
            target=target.value,
            at=round(at, 3),
        )
