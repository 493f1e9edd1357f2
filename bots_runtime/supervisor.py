"""The imperative shell around `state`: run the child, stop it, restart it, clean up after it.

One `Supervisor` owns one service for the runtime's lifetime. It is the only writer of the
`Board`. Commands arrive as plain method calls from the signal task (`forward`,
`request_stop`); everything that waits does so on events, never on a polling tick, except
the 50 ms check for leftover processes that are not our children (no SIGCHLD tells us about
those when the runtime is neither PID 1 nor a subreaper).
"""

from __future__ import annotations

import os
import random
import signal
from typing import TYPE_CHECKING

import anyio

from bots_runtime import child as child_mod
from bots_runtime import exit_codes, signals, state
from bots_runtime.config import ChildLogs
from bots_runtime.exit_codes import ExitStatus, signal_name
from bots_runtime.reaper import children_pids, group_alive, has_children
from bots_runtime.relay import Relay, WrapFormatter, render_raw

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from anyio.abc import TaskGroup
    from structlog.typing import FilteringBoundLogger

    from bots_runtime.child import Child
    from bots_runtime.output import Outputs
    from bots_runtime.reaper import Reaper
    from bots_runtime.spec import ServiceSpec, StopStep
    from bots_runtime.state import Board

LEFTOVER_POLL = 0.05
RELAY_FLUSH_WAIT = 0.05
FINAL_KILL_WAIT = 2.0


class Supervisor:
    """Runs `spec` until it is done for good; `run()` returns the runtime's exit code."""

    def __init__(
        self,
        spec: ServiceSpec,
        board: Board,
        reaper: Reaper,
        outputs: Outputs,
        log: FilteringBoundLogger,
        *,
        first: Child | None = None,
        child_logs: ChildLogs = ChildLogs.WRAP,
        console: bool = False,
        clock: Callable[[], float] = anyio.current_time,
        uniform: Callable[[float, float], float] = random.uniform,
        spawn: Callable[[Sequence[str], dict[str, str]], Child] = child_mod.spawn,
    ) -> None:
        self._spec = spec
        self._board = board
        self._reaper = reaper
        self._outputs = outputs
        self._log = log
        self._first = first
        self._child_logs = child_logs
        self._console = console
        self._clock = clock
        self._uniform = uniform
        self._spawn_fn = spawn
        self._child: Child | None = None
        self._pgids: list[int] = []
        self._stop = anyio.Event()
        self._force = anyio.Event()
        self._deadline: float | None = None
        self._idle_stop = False
        #: Set once the first child is registered: commands sent before that would not know
        #: the child yet, so the signal task waits for it before replaying early signals.
        self.accepting = anyio.Event()
        self._relays_open = 0
        self._relays_done = anyio.Event()
        self._tg: TaskGroup | None = None

    # --- commands -----------------------------------------------------------------------

    def forward(self, signum: int) -> None:
        """Pass a signal on to the child (or its group), after the rewrite table."""
        sent = signals.rewrite(signum, self._spec.signal_rewrite)
        child = self._child
        if sent == 0 or child is None:
            self._log.debug("signal dropped", signal=signal_name(signum), child=child is not None)
            return
        self._send(sent, child.pid, group=self._spec.stop.to_group)
        self._board.counters.count_signal(signal_name(sent))
        self._log.debug("signal forwarded", signal=signal_name(sent), received=signal_name(signum))

    def request_stop(self, signum: int) -> None:
        """First stop signal: graceful stop. Any further one: kill everything now."""
        if self._stop.is_set():
            self._log.warning("second stop signal: killing now", signal=signal_name(signum))
            self._force.set()
            return
        now = self._clock()
        plan = self._spec.stop
        in_backoff = self._board.snapshot.phase is state.Phase.BACKOFF
        self._board.publish(state.stop_requested(self._board.snapshot, now))
        self._stop.set()
        child = self._child
        schedule = _schedule(plan.steps, plan.timeout)
        first = None
        sent_first = 0
        if child is not None and plan.drain_delay <= 0 and schedule and schedule[0][0] <= 0:
            # The common case (no drain, a step at 0 s) signals right here, before any logging
            # or task start: the child hears SIGTERM within a fraction of a millisecond.
            first = schedule.pop(0)
            self._deadline = now + plan.timeout
            sent_first = self._send_step(first[1], child)
        self._log.info(
            "stop requested",
            signal=signal_name(signum),
            drain_delay=plan.drain_delay,
            stop_timeout=plan.timeout,
        )
        if child is None:
            # In back-off the stop is clean (0); after a final exit the child's code stands.
            self._idle_stop = in_backoff
            return
        if sent_first and first is not None:
            self._log_step(sent_first, child, first[0])
        if self._tg is not None:
            self._tg.start_soon(self._stop_sequence, schedule, now if first else None)

    # --- main loop ----------------------------------------------------------------------

    async def run(self) -> int:
        """Supervise until the child is done and nothing of it is left; return the exit code."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            code = await self._lifecycle()
            await self._await_relays(1.0)
            tg.cancel_scope.cancel()
        return code

    async def _lifecycle(self) -> int:
        first = self._first
        while not self._stop.is_set():
            try:
                child = first if first is not None else self._spawn()
            except child_mod.SpawnError as err:
                self._log.error("cannot start child", error=str(err), code=err.code)
                self.accepting.set()
                await self._leftovers()
                return err.code
            first = None
            status = await self._run_one(child)
            snap, decision = state.exited(
                self._board.snapshot,
                status,
                self._clock(),
                self._spec.restart,
                self._spec.success_codes,
                self._uniform,
            )
            self._board.publish(snap)
            self._log_exit(status, snap)
            if decision.give_up:
                self._log.error(
                    "giving up: too many quick failures",
                    quick_failures=snap.quick_failures,
                    max_restarts=self._spec.restart.max_restarts,
                )
            if not decision.restart:
                break
            self._log.info("restarting", delay=round(decision.delay, 3), restarts=snap.restarts)
            with anyio.move_on_after(decision.delay):
                await self._stop.wait()
        await self._leftovers()
        last = self._board.snapshot.last_exit
        if self._idle_stop or last is None:
            return exit_codes.OK
        return exit_codes.final_code(last, self._spec.success_codes)

    def _spawn(self) -> Child:
        spec = self._spec
        return self._spawn_fn(spec.argv, dict(spec.env))

    async def _run_one(self, child: Child) -> ExitStatus:
        """Publish, relay and time one child until it exits."""
        assert self._tg is not None  # noqa: S101 - run() sets it before the lifecycle starts
        self._reaper.watch(child.pid)
        self._child = child
        # Groups of earlier children are kept only while something in them lives (leftovers).
        self._pgids = [g for g in self._pgids if group_alive(g)] + [child.pid]
        snap = state.spawned(
            self._board.snapshot, child.pid, child.spawned_mono, child.spawned_wall
        )
        self._board.publish(snap)
        self._log.info(
            "child started", pid=child.pid, argv=list(self._spec.argv), start=snap.starts
        )
        self.accepting.set()
        done = anyio.Event()
        self._start_relays(child, done)
        timer = anyio.CancelScope()
        self._tg.start_soon(self._start_period_timer, child.pid, timer)
        try:
            status = await self._reaper.wait(child.pid)
        finally:
            self._child = None
            timer.cancel()
        with anyio.move_on_after(RELAY_FLUSH_WAIT):
            await done.wait()
        return status

    async def _start_period_timer(self, pid: int, scope: anyio.CancelScope) -> None:
        with scope:
            await anyio.sleep(self._spec.restart.start_period)
            if self._child is not None and self._child.pid == pid:
                self._board.publish(state.start_period_passed(self._board.snapshot, self._clock()))
                self._log.info("child running", pid=pid)

    # --- output -------------------------------------------------------------------------

    def _start_relays(self, child: Child, done: anyio.Event) -> None:
        assert self._tg is not None  # noqa: S101
        raw = self._child_logs is ChildLogs.RAW
        outputs = self._outputs
        remaining = [2]

        async def one(fd: int, stream: str) -> None:
            render: Callable[[bytes, list[bytes], float], bytes]
            if raw:
                render = render_raw
                sink = outputs.stdout if stream == "stdout" else outputs.stderr
            else:
                formatter = WrapFormatter(self._spec.name, stream, child.pid, console=self._console)
                render = formatter.render
                sink = outputs.stdout
            relay = Relay(fd, stream, sink, self._board.counters, render)
            self._relays_open += 1
            try:
                await relay.run()
            finally:
                self._relays_open -= 1
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()
                if self._relays_open == 0:
                    self._relays_done.set()
                    self._relays_done = anyio.Event()

        self._tg.start_soon(one, child.stdout_fd, "stdout")
        self._tg.start_soon(one, child.stderr_fd, "stderr")

    async def _await_relays(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            while self._relays_open:
                await self._relays_done.wait()
        if self._relays_open:
            self._log.warning(
                "output pipes still open after exit; closing them", open=self._relays_open
            )

    # --- stopping -----------------------------------------------------------------------

    def _send(self, signum: int, pid: int, *, group: bool) -> bool:
        try:
            if group:
                os.killpg(pid, signum)
            else:
                os.kill(pid, signum)
        except ProcessLookupError:
            return False
        return True

    async def _sleep_unless_forced(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if a forced stop cut it short."""
        if seconds > 0:
            with anyio.move_on_after(seconds):
                await self._force.wait()
        return self._force.is_set()

    async def _stop_sequence(self, schedule: list[tuple[float, int]], start: float | None) -> None:
        """Drain (unless already past it), send each due step, SIGKILL at the deadline."""
        plan = self._spec.stop
        if start is None:
            if await self._sleep_unless_forced(plan.drain_delay):
                self._kill_everything("forced")
                return
            start = self._clock()
            self._deadline = start + plan.timeout
        deadline = start + plan.timeout
        for at, signum in schedule:
            if await self._sleep_unless_forced(start + at - self._clock()):
                break
            current = self._child
            if current is None:
                return
            sent = self._send_step(signum, current)
            if sent:
                self._log_step(sent, current, at)
        forced = await self._sleep_unless_forced(deadline - self._clock())
        if self._child is not None:
            self._kill_everything("forced" if forced else "stop timeout")

    def _send_step(self, signum: int, child: Child) -> int:
        """Send one stop step after the rewrite table; the signal sent, 0 if it was dropped."""
        sent = signals.rewrite(signum, self._spec.signal_rewrite)
        if sent:
            self._send(sent, child.pid, group=self._spec.stop.to_group)
        return sent

    def _log_step(self, sent: int, child: Child, at: float) -> None:
        self._log.info(
            "stop signal sent",
            signal=signal_name(sent),
            pid=child.pid,
            group=self._spec.stop.to_group,
            at=round(at, 3),
        )

    def _kill_everything(self, reason: str) -> None:
        pids = children_pids()
        groups = [g for g in self._pgids if group_alive(g)]
        if not pids and not groups:
            return
        self._log.warning("killing", reason=reason, pids=pids, groups=groups)
        for pgid in groups:
            self._send(signal.SIGKILL, pgid, group=True)
        for pid in pids:
            self._send(signal.SIGKILL, pid, group=False)

    def _anything_left(self) -> bool:
        return has_children() or any(group_alive(g) for g in self._pgids)

    async def _wait_gone(self, until: float) -> bool:
        """Wait until nothing is left (True), the time `until` or a forced stop (False)."""
        while self._anything_left():
            remaining = until - self._clock()
            if remaining <= 0 or self._force.is_set():
                return False
            with anyio.move_on_after(min(remaining, LEFTOVER_POLL)):
                self._reaper.reap()
                await self._reaper.changed()
        return True

    async def _leftovers(self) -> None:
        """Wait for what the main child left behind: finish, else signal, else SIGKILL."""
        self._reaper.reap()
        if not self._anything_left():
            return
        plan = self._spec.stop
        deadline = self._deadline if self._deadline is not None else self._clock() + plan.timeout
        self._log.info(
            "waiting for leftover processes",
            pids=children_pids(),
            seconds=round(max(0.0, deadline - self._clock()), 3),
        )
        if await self._wait_gone(deadline - plan.leftover_margin):
            return
        if not self._force.is_set():
            sent = signals.rewrite(plan.leftover_signal, self._spec.signal_rewrite)
            pids = children_pids()
            self._log.info("signalling leftover processes", signal=signal_name(sent), pids=pids)
            if sent:
                for pgid in self._pgids:
                    self._send(sent, pgid, group=True)
                for pid in pids:
                    self._send(sent, pid, group=False)
            if await self._wait_gone(deadline):
                return
        end = self._clock() + FINAL_KILL_WAIT
        while self._anything_left() and self._clock() < end:
            self._kill_everything("forced" if self._force.is_set() else "leftover deadline")
            with anyio.move_on_after(LEFTOVER_POLL):
                await self._reaper.changed()
            self._reaper.reap()

    # --- reporting ----------------------------------------------------------------------

    def _log_exit(self, status: ExitStatus, snap: state.Snapshot) -> None:
        uptime = None
        if snap.spawned_mono is not None:
            uptime = round(snap.since - snap.spawned_mono, 3)
        meaning = status.describe(self._spec.exit_meanings)
        fields = {"code": status.code, "signal": None, "uptime": uptime, "phase": snap.phase.value}
        if status.signal is not None:
            fields["signal"] = signal_name(status.signal)
        expected = snap.stop_requested or status.shell_code in self._spec.success_codes
        if status.shell_code == 0 or expected:
            self._log.info("child exited", reason=meaning, **fields)
        else:
            self._log.warning("child exited", reason=meaning, **fields)


def _schedule(steps: Sequence[StopStep], timeout: float) -> list[tuple[float, int]]:
    """Every (offset, signal) the stop plan sends before the deadline, in time order."""
    out: list[tuple[float, int]] = []
    for step in steps:
        at = step.at
        out.append((at, int(step.signal)))
        if step.repeat:
            at += step.repeat
            while at < timeout:
                out.append((at, int(step.signal)))
                at += step.repeat
    out.sort(key=lambda item: item[0])
    return [item for item in out if item[0] < timeout]
