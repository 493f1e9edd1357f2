"""The supervisor: spawn, wait, decide, back off, until the service is done for good.

One `Supervisor` owns one service for the runtime's lifetime and is the only publisher of
its snapshots. Commands arrive as plain method calls from the signal task (`forward`,
`request_stop`); the stop itself is the `StopSequence`, and each child's output is one
`RelayPair`. Everything waits on events, never on a polling tick.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import anyio

from bots_runtime.core import exit_codes, state
from bots_runtime.core.exit_codes import signal_name
from bots_runtime.core.options import ChildLogs, FullOutput
from bots_runtime.process import spawn as spawn_mod
from bots_runtime.process.tree import ChildTree
from bots_runtime.supervision.relay import RelayPair
from bots_runtime.supervision.stop import StopSequence

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from structlog.typing import FilteringBoundLogger

    from bots_runtime.core.exit_codes import ExitStatus
    from bots_runtime.core.spec import ServiceSpec
    from bots_runtime.core.state import Board
    from bots_runtime.process.output import Outputs
    from bots_runtime.process.spawn import Child
    from bots_runtime.supervision.reaper import Reaper

#: After the child's exit, how long its pipes may take to deliver their last lines.
RELAY_FLUSH_WAIT = 0.05
#: At the very end, how long pipes held open by someone else are waited for.
RELAY_CLOSE_WAIT = 1.0


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
        child_logs_full: FullOutput = FullOutput.BLOCK,
        console: bool = False,
    ) -> None:
        self._spec = spec
        self._board = board
        self._reaper = reaper
        self._outputs = outputs
        self._log = log
        self._first = first
        self._child_logs = child_logs
        self._child_logs_full = child_logs_full
        self._console = console
        self._tree = ChildTree(to_group=spec.stop.to_group, rewrite=spec.signal_rewrite)
        self._stop = StopSequence(spec.stop, self._tree, reaper, log)
        self._stopping = anyio.Event()
        self._child_gone = anyio.Event()
        self._relays: list[RelayPair] = []
        self._idle_stop = False
        self._finished = False
        self._tg: TaskGroup | None = None
        #: Set once the first child is registered: commands sent before that would not know
        #: the child yet, so the signal task waits for it before replaying early signals.
        self.accepting = anyio.Event()

    # --- commands -----------------------------------------------------------------------

    def forward(self, signum: int) -> None:
        """Pass a signal on to the child (or its group), after the rewrite table."""
        sent = self._tree.send(signum)
        if not sent:
            self._log.debug(
                "signal dropped", signal=signal_name(signum), child=self._tree.pid is not None
            )
            return
        self._board.counters.count_signal(signal_name(sent))
        self._log.debug("signal forwarded", signal=signal_name(sent), received=signal_name(signum))

    def request_stop(self, signum: int) -> None:
        """First stop signal: the graceful stop. Further ones: the plan's abort, then a kill.

        Once the service is done for good (the runtime is running its after-run hooks and
        exiting), a stop signal changes nothing: the exit code and the hooks stand.
        """
        if self._finished:
            self._log.debug(
                "stop signal after the end of the run: ignored", signal=signal_name(signum)
            )
            return
        if self._stop.began:
            self._stop.escalate(signum)
            return
        in_backoff = self._board.snapshot.phase is state.Phase.BACKOFF
        self._board.publish(state.stop_began(self._board.snapshot, anyio.current_time()))
        self._stopping.set()
        if not self._stop.begin(signum):
            # In back-off the stop is clean (0); after a final exit the child's code stands.
            self._idle_stop = in_backoff
            return
        if self._tg is not None:
            self._tg.start_soon(self._stop.run, self._child_gone)

    # --- main loop ----------------------------------------------------------------------

    async def run(self) -> int:
        """Supervise to the end and return the exit code.

        Not shielded here: the caller (`runtime.serve`) shields the supervisor together with
        the signal task that feeds it, and turns its own cancellation into `request_stop`.
        """
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                code = await self._lifecycle()
            finally:
                self._finished = True
            await self._close_relays()
            tg.cancel_scope.cancel()
        return code

    async def _lifecycle(self) -> int:
        """Spawn, wait, decide, back off: tini's main loop with supervisord's restarts."""
        child = self._first
        while not self._stopping.is_set():
            if child is None:
                try:
                    child = spawn_mod.spawn(self._spec.argv, dict(self._spec.env))
                except spawn_mod.SpawnError as err:
                    self._log.error("cannot start child", error=str(err), code=err.code)
                    self.accepting.set()
                    await self._stop.clear_leftovers()
                    return err.code
            status = await self._run_one(child)
            child = None
            decision = self._decide(status)
            if not decision.restart:
                break
            self._log.info(
                "restarting",
                delay=round(decision.delay, 3),
                restarts=self._board.snapshot.restarts,
            )
            with anyio.move_on_after(decision.delay):
                await self._stopping.wait()
        await self._stop.clear_leftovers()
        last = self._board.snapshot.last_exit
        if self._idle_stop or last is None:
            return exit_codes.OK
        return exit_codes.final_code(last, self._spec.success_codes)

    async def _run_one(self, child: Child) -> ExitStatus:
        """Publish, relay and time one child until it exits."""
        assert self._tg is not None  # noqa: S101 - run() sets it before the lifecycle
        self._reaper.watch(child.pid)
        self._tree.adopt(child.pid)
        self._child_gone = anyio.Event()
        snap = state.spawned(
            self._board.snapshot, child.pid, child.spawned_mono, child.spawned_wall
        )
        self._board.publish(snap)
        self._log.info(
            "child started", pid=child.pid, argv=list(self._spec.argv), start=snap.starts
        )
        self.accepting.set()
        relays = RelayPair(
            child,
            self._spec.name,
            self._outputs,
            self._board.counters,
            mode=self._child_logs,
            console=self._console,
            full=self._child_logs_full,
            stopping=self._stopping,
        )
        relays.start(self._tg)
        self._relays.append(relays)
        timer = anyio.CancelScope()
        self._tg.start_soon(self._start_period_timer, child.pid, timer)
        try:
            status = await self._reaper.wait(child.pid)
        finally:
            self._tree.lost()
            self._child_gone.set()
            timer.cancel()
        await relays.wait(RELAY_FLUSH_WAIT)
        return status

    async def _start_period_timer(self, pid: int, scope: anyio.CancelScope) -> None:
        with scope:
            await anyio.sleep(self._spec.restart.start_period)
            if self._tree.pid == pid:
                self._board.publish(
                    state.start_period_passed(self._board.snapshot, anyio.current_time())
                )
                self._log.info("child running", pid=pid)

    def _decide(self, status: ExitStatus) -> state.Decision:
        """Publish the exit and whether to restart, stop, or give up."""
        snap, decision = state.exited(
            self._board.snapshot,
            status,
            anyio.current_time(),
            self._spec.restart,
            self._spec.success_codes,
            random.uniform,
        )
        self._board.publish(snap)
        self._log_exit(status, snap)
        if decision.give_up:
            self._log.error(
                "giving up: too many quick failures",
                quick_failures=snap.quick_failures,
                max_restarts=self._spec.restart.max_restarts,
            )
        return decision

    async def _close_relays(self) -> None:
        """Give pipes still held open by leftovers a moment; then they are cancelled."""
        with anyio.move_on_after(RELAY_CLOSE_WAIT):
            for relays in self._relays:
                await relays.done.wait()
        still_open = sum(relays.open for relays in self._relays)
        if still_open:
            self._log.warning("output pipes still open after exit; closing them", open=still_open)

    def _log_exit(self, status: ExitStatus, snap: state.Snapshot) -> None:
        uptime = None
        if snap.spawned_mono is not None:
            uptime = round(snap.since - snap.spawned_mono, 3)
        meaning = status.describe(self._spec.exit_meanings)
        fields = {"code": status.code, "signal": None, "uptime": uptime, "phase": snap.phase.value}
        if status.signal is not None:
            fields["signal"] = signal_name(status.signal)
        expected = snap.draining or status.shell_code in self._spec.success_codes
        if status.shell_code == 0 or expected:
            self._log.info("child exited", reason=meaning, **fields)
        else:
            self._log.warning("child exited", reason=meaning, **fields)
