"""The composition root: the only module that knows every other part of the runtime.

It builds the per-runtime objects (board, reaper, supervisor, check runner, metrics registry,
HTTP app), turns OS signals into supervisor commands in one task, runs the service's
after-run hooks and returns the exit code. Also the library API: `supervise(spec)` and
`await supervise_async(spec)`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING, cast

import anyio

from bots_runtime import __version__
from bots_runtime.core import signals
from bots_runtime.core.hooks import RunRecord
from bots_runtime.core.options import RuntimeOptions
from bots_runtime.core.state import Board, Snapshot
from bots_runtime.process import spawn
from bots_runtime.process.launch import Launch, LaunchError, prepare
from bots_runtime.process.output import Outputs
from bots_runtime.supervision import logs
from bots_runtime.supervision.reaper import Reaper
from bots_runtime.supervision.supervisor import Supervisor

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from typing import NoReturn

    from structlog.typing import FilteringBoundLogger

    from bots_runtime.core.exit_codes import ExitStatus
    from bots_runtime.core.spec import ServiceSpec
    from bots_runtime.web.server import HttpServer


#: At exit, how long our output may take to write what is still queued; then it is dropped.
FLUSH_TIMEOUT = 1.0


async def serve(
    launch: Launch,
    outputs: Outputs | None = None,
    *,
    exit_process: Callable[[int], NoReturn] | None = None,
) -> int:
    """Run a prepared launch to the end inside the current event loop.

    Signals stay caught until the very end: the after-run hooks, the last event and the
    flush of our output all happen inside the signal receiver, so a signal after the child's
    exit can neither change the exit code nor skip a hook. `exit_process` (the CLI's) ends
    the process right there, still inside the receiver: once it closes, a signal would get
    its default action (143 instead of the child's code). Without it, signals after the
    return are the caller's.
    """
    options = launch.options
    spec = launch.spec
    board = Board(Snapshot(service=spec.name))
    outputs = outputs or Outputs(flows=board.counters.outputs)
    isatty = os.isatty(outputs.stdout.fd)
    logs.configure(outputs.stdout, options.log_format, options.log_level, isatty)
    log = logs.get_logger(service=spec.name)
    _warn_at_start(launch, log)
    _report_drops(outputs, log)

    reaper = Reaper(board.counters, lambda pid, status: _log_orphan(log, pid, status))
    reaper.watch(launch.child.pid)
    supervisor = Supervisor(
        spec,
        board,
        reaper,
        outputs,
        log,
        first=launch.child,
        child_logs=options.child_logs,
        child_logs_full=options.child_logs_full,
        console=logs.use_console(options.log_format, isatty),
    )
    dispatch = _router(reaper, supervisor)

    async def signal_loop(receiver: AsyncIterator[int]) -> None:
        # Signals that came before the event loop are replayed first, once the supervisor
        # knows its child; the receiver has queued everything since, in order.
        await supervisor.accepting.wait()
        for signum in launch.early_signals:
            dispatch(signum)
        launch.early_signals.clear()
        async for signum in receiver:
            dispatch(signum)

    caught = cast("tuple[signal.Signals, ...]", signals.caught_signals())

    async def supervised() -> int:
        async with anyio.create_task_group() as tg:
            with anyio.open_signal_receiver(*caught) as receiver:
                tg.start_soon(signal_loop, receiver)
                server = None
                if launch.sock is not None:
                    server = await _start_http(tg, launch, board, log)
                code = await supervisor.run()
                if server is not None:
                    await server.close()
                await _after_run(spec, board.snapshot, code, log)
                log.info("runtime exiting", code=code)
                if launch.lock is not None:
                    launch.lock.release()
                await _flush(outputs)
                if exit_process is not None:
                    exit_process(code)
                tg.cancel_scope.cancel()
        return code

    return await _shielded(supervised, supervisor, log)


async def _shielded(
    work: Callable[[], Awaitable[int]], supervisor: Supervisor, log: FilteringBoundLogger
) -> int:
    """Run `work` where the caller's cancellation cannot cut it short.

    A library caller that cancels `supervise_async` must still get the whole stop sequence:
    a guard task outside the shield turns that cancellation into a stop request, the shielded
    supervisor and signal task (SIGCHLD drives the reaper) stop the child as planned, and the
    cancellation goes on once everything is gone.
    """
    finished = False

    async def guard() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            if not finished:
                log.info("supervision cancelled: stopping the service")
                supervisor.request_stop(signal.SIGTERM)

    async with anyio.create_task_group() as tg:
        tg.start_soon(guard)
        with anyio.CancelScope(shield=True):
            try:
                code = await work()
            finally:
                finished = True
        tg.cancel_scope.cancel()
    return code


def _warn_at_start(launch: Launch, log: FilteringBoundLogger) -> None:
    """What the operator should know before anything happens.

    The service's own warnings, and a runtime that cannot reap orphans or take its child
    with it when it is killed.
    """
    for warning in launch.spec.warnings:
        log.warning(warning)
    if not launch.pid1 and not launch.subreaper:
        log.warning(
            "orphans cannot be reaped here: not PID 1 and not a subreaper",
            subreaper_setting=launch.options.subreaper,
        )
    if not launch.pid1 and spawn.setpriv() is None:
        log.warning("the child would outlive a killed runtime: setpriv (util-linux) not found")


def _report_drops(outputs: Outputs, log: FilteringBoundLogger) -> None:
    """Once a stalled output flows again, say what was dropped while it was stalled."""
    for name, output in (("stdout", outputs.stdout), ("stderr", outputs.stderr)):

        def report(events: int, lines: int, name: str = name) -> None:
            log.warning(
                "output was stalled: dropped",
                output=name,
                runtime_events=events,
                child_lines=lines,
            )

        output.on_resume = report


async def _flush(outputs: Outputs) -> None:
    """Write what is queued, for at most `FLUSH_TIMEOUT`; a stalled reader costs only that."""
    if outputs.drained():
        outputs.close(0.0)
    else:
        await anyio.to_thread.run_sync(outputs.close, FLUSH_TIMEOUT, abandon_on_cancel=True)


def _log_orphan(log: FilteringBoundLogger, pid: int, status: ExitStatus) -> None:
    log.debug("orphan reaped", pid=pid, status=status.describe())


def _router(reaper: Reaper, supervisor: Supervisor) -> Callable[[int], None]:
    """Signals become commands: SIGCHLD reaps, TERM/INT/QUIT stop, the rest is forwarded."""

    def dispatch(signum: int) -> None:
        if signum == signal.SIGCHLD:
            reaper.reap()
        elif signum in signals.STOP_SIGNALS:
            supervisor.request_stop(signum)
        else:
            supervisor.forward(signum)

    return dispatch


async def _start_http(
    tg: anyio.abc.TaskGroup, launch: Launch, board: Board, log: FilteringBoundLogger
) -> HttpServer:
    from bots_runtime.web import app, checks, collectors, metrics, server  # noqa: PLC0415

    assert launch.sock is not None  # noqa: S101 - checked by the caller
    runner = checks.CheckRunner(launch.spec.checks)
    gatherer = collectors.CollectorRunner(
        launch.spec.collectors, lambda name, ok, why: _log_collector(log, name, ok, why)
    )
    http: HttpServer | None = None
    registry = metrics.build_registry(
        board,
        runner,
        version=__version__,
        service=launch.spec.name,
        info=launch.spec.info,
        connections=lambda: http.connections if http is not None else 0,
        collectors=gatherer,
    )
    http = server.HttpServer(app.create_app(board, runner, registry), launch.sock)
    await tg.start(_serve_http, http)
    tg.start_soon(runner.run)
    tg.start_soon(gatherer.run)
    host, port = launch.sock.getsockname()[:2]
    log.info("health server listening", host=host, port=port)
    return http


def _log_collector(log: FilteringBoundLogger, name: str, ok: bool, reason: str) -> None:
    if ok:
        log.info("collector reads again", collector=name)
    else:
        log.warning("collector failing", collector=name, reason=reason)


async def _serve_http(http: HttpServer, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    await http.serve(task_status=task_status)


async def _after_run(
    spec: ServiceSpec, snap: Snapshot, code: int, log: FilteringBoundLogger
) -> None:
    """Run the spec's hooks, each under its own timeout; a failing hook is only logged."""
    if not spec.after_run:
        return
    record = RunRecord(
        service=spec.name,
        exit_code=code,
        last_exit=snap.last_exit,
        started_at=snap.started_at,
        ended_at=time.time(),
    )
    for hook in spec.after_run:
        try:
            with anyio.fail_after(hook.timeout):
                await hook(record, log)
        except Exception as err:  # noqa: BLE001 - a hook must never change the run's outcome
            log.warning(
                "after-run hook failed",
                hook=type(hook).__name__,
                error=str(err) or type(err).__name__,
            )


async def supervise_async(spec: ServiceSpec, options: RuntimeOptions | None = None) -> int:
    """Run `spec` under supervision in the running event loop; return the exit code.

    Must be called from the main thread (it handles the process's signals). Cancelling the
    caller stops the service with its stop plan first, then the cancellation goes on.
    """
    launch = prepare(spec, options or RuntimeOptions())
    return await serve(launch)


def supervise(spec: ServiceSpec, options: RuntimeOptions | None = None) -> int:
    """Blocking form of `supervise_async`; returns the exit code (launch errors included)."""
    try:
        launch = prepare(spec, options or RuntimeOptions())
    except LaunchError as err:
        print(f"bots-runtime: {err}", file=sys.stderr)
        return err.code
    return anyio.run(serve, launch, backend="asyncio")
