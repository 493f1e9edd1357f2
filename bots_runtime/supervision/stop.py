"""The stop sequence: from the first stop signal to nothing of the service left.

The stages run in this order, each named after what it does:

1. drain: readiness already fails; wait `drain_delay` so load balancers stop sending traffic;
2. steps: send the plan's signals at their offsets while the main child lives;
3. deadline: SIGKILL to the whole tree if the main child is still there;
4. leftovers: what outlives the main child (its group, orphans re-parented to us) is waited
   for, sent the leftover signal `leftover_margin` seconds before the deadline, then killed.

Stage 4 also runs when the child exits on its own. A further stop signal (`escalate`) skips
the waiting: with the plan's abort signal, the second one sends it at once and brings the
deadline near (the clean-up still happens, only sooner); without one, or on the third, every
process is killed at once. The supervisor owns one `StopSequence` and runs it in its task
group, which `runtime.serve` shields from outside cancellation, so a cancelled caller still
gets a clean stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from bots_runtime.core.exit_codes import signal_name
from bots_runtime.core.spec import StopTarget
from bots_runtime.process.tree import our_children

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from structlog.typing import FilteringBoundLogger

    from bots_runtime.core.spec import StopPlan
    from bots_runtime.process.tree import ChildTree
    from bots_runtime.supervision.reaper import Reaper

#: Without SIGCHLD (neither PID 1 nor a subreaper) the end of a grandchild is only seen by looking.
LEFTOVER_POLL = 0.05
#: After the leftover deadline, how long SIGKILL is repeated until the tree is really empty.
FINAL_KILL_WAIT = 2.0


class StopSequence:
    """One service's stop: begun once, escalated by further signals, run to the end."""

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
        #: (when, signal, offset after the drain, target) of every step still to send, in order.
        self._due: list[tuple[float, int, float, StopTarget]] = []
        self._start: float | None = None
        self._changed = anyio.Event()
        self.deadline: float | None = None
        self.began = False
        self.requests = 0
        self.aborted = False
        self.forced = anyio.Event()

    def begin(self, signum: int) -> bool:
        """Start the stop because of `signum`; True when a child is there to be stopped.

        A step due at 0 s with no drain is sent right here, before any logging or task
        start: the child hears it within a fraction of a millisecond of ours.
        """
        plan = self._plan
        self.began = True
        self.requests = 1
        sent = 0
        first: tuple[float, int, float, StopTarget] | None = None
        if self._tree.pid is not None and plan.drain_delay <= 0:
            self._start_steps()
            if self._due and self._due[0][2] <= 0:
                first = self._due.pop(0)
                sent = self._tree.send(first[1], first[3])
        self._log.info(
            "stop requested",
            signal=signal_name(signum),
            drain_delay=plan.drain_delay,
            stop_timeout=plan.timeout,
        )
        if sent and first is not None:
            self._log_step(sent, first[2], first[3])
        return self._tree.pid is not None

    def escalate(self, signum: int) -> None:
        """A further stop signal: the plan's abort (the second one, if it has one) or SIGKILL."""
        self.requests += 1
        if self.requests == 2 and self._plan.abort_signal is not None:
            self._abort(signum, self._plan.abort_signal)
        else:
            self._log.warning(
                "stop signal again: killing now", signal=signal_name(signum), count=self.requests
            )
            self.forced.set()
            self._kill("forced")
        self._wake()

    def _abort(self, signum: int, abort: int) -> None:
        """Skip the waiting, keep the clean-up: abort signal now, deadline near."""
        plan = self._plan
        now = self._clock()
        self.aborted = True
        if self._start is None:
            self._start = now  # the drain is cut short
        soon = now + plan.abort_timeout
        self.deadline = soon if self.deadline is None else min(self.deadline, soon)
        target = self._abort_target()
        sent = self._tree.send(abort, target) if self._tree.pid is not None else 0
        self._due = []
        if sent and plan.abort_repeat:
            at = now + plan.abort_repeat
            while at < self.deadline:
                self._due.append((at, abort, round(at - self._start, 3), target))
                at += plan.abort_repeat
        self._log.warning(
            "stop signal again: aborting",
            signal=signal_name(signum),
            sent=signal_name(sent) if sent else None,
            pid=self._tree.pid,
            seconds_left=round(self.deadline - now, 3),
        )

    def _abort_target(self) -> StopTarget:
        """The whole group, unless every step of the plan goes to the child alone.

        Skipping the waiting must reach what the child waits for: Bots 4.0's webserver does
        not end before the GUI engine run it started.
        """
        plan = self._plan
        if plan.to_group or any(t is not StopTarget.CHILD for _, _, t in plan.timeline()):
            return StopTarget.GROUP
        return StopTarget.CHILD

    def _start_steps(self) -> None:
        """The steps' clock starts now (after the drain): schedule them and the deadline."""
        start = self._start = self._clock()
        self.deadline = start + self._plan.timeout
        self._due = [(start + at, signum, at, to) for at, signum, to in self._plan.timeline()]

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def run(self, child_gone: anyio.Event) -> None:
        """Stages 1-3: drain, steps, deadline; returns once the main child is gone."""
        if self._start is None:
            await self._sleep(self._clock() + self._plan.drain_delay, child_gone.wait)
            if self.forced.is_set() or child_gone.is_set():
                return
            if self._start is None:
                self._start_steps()
        while not child_gone.is_set() and not self.forced.is_set():
            assert self.deadline is not None  # noqa: S101 - set with the start
            now = self._clock()
            if self._due and self._due[0][0] <= now:
                _when, signum, at, target = self._due.pop(0)
                sent = self._tree.send(signum, target)
                if sent:
                    self._log_step(sent, at, target)
                continue
            if now >= self.deadline:
                self._kill("abort timeout" if self.aborted else "stop timeout")
                return
            until = min(self._due[0][0], self.deadline) if self._due else self.deadline
            await self._sleep(until, child_gone.wait)

    async def _sleep(self, until: float, *also: Callable[[], Awaitable[object]]) -> None:
        """Sleep until `until`, an escalation, or the end of one of the waits in `also`."""
        changed = self._changed
        remaining = until - self._clock()
        if remaining <= 0 or changed.is_set():
            return
        with anyio.move_on_after(remaining):
            async with anyio.create_task_group() as tg:

                async def cancel_after(wait: Callable[[], Awaitable[object]]) -> None:
                    await wait()
                    tg.cancel_scope.cancel()

                for wait in (changed.wait, *also):
                    tg.start_soon(cancel_after, wait)

    async def clear_leftovers(self) -> None:
        """Stage 4: wait for what the main child left, then its signal, then SIGKILL."""
        self._reaper.reap()
        if not self._tree.anything_left():
            return
        plan = self._plan
        if self.deadline is None:
            self.deadline = self._clock() + plan.timeout
        self._log.info(
            "waiting for leftover processes",
            pids=our_children(),
            seconds=round(max(0.0, self.deadline - self._clock()), 3),
        )
        signalled = False
        while self._tree.anything_left() and not self.forced.is_set():
            now = self._clock()
            if now >= self.deadline:
                break
            signal_at = self.deadline - plan.leftover_margin
            if not signalled and (self.aborted or now >= signal_at):
                signalled = True
                sent, pids = self._tree.send_leftovers(plan.leftover_signal)
                shown = signal_name(sent) if sent else "none (rewritten to 0)"
                self._log.info("signalling leftover processes", signal=shown, pids=pids)
                continue
            until = self.deadline if signalled else signal_at
            await self._sleep(min(until, now + LEFTOVER_POLL), self._reaper.changed)
            self._reaper.reap()
        end = self._clock() + FINAL_KILL_WAIT
        while self._tree.anything_left() and self._clock() < end:
            self._kill("forced" if self.forced.is_set() else "leftover deadline")
            with anyio.move_on_after(LEFTOVER_POLL):
                await self._reaper.changed()
            self._reaper.reap()

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
