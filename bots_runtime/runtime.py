"""The composition root: the only module that knows every other part.

It builds the per-runtime objects (board, reaper, supervisor, check runner, metrics registry,
HTTP app), turns OS signals into supervisor commands in one task, and returns the exit code.
Also the library API: `supervise(spec)` and `await supervise_async(spec)`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING, cast

import anyio

from bots_runtime import __version__, logs, signals
from bots_runtime.config import RuntimeConfig
from bots_runtime.launch import Launch, LaunchError, prepare
from bots_runtime.output import Outputs
from bots_runtime.reaper import Reaper
from bots_runtime.state import Board, Snapshot
from bots_runtime.supervisor import Supervisor

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from structlog.typing import FilteringBoundLogger

    from bots_runtime.exit_codes import ExitStatus
    from bots_runtime.http import HttpServer
    from bots_runtime.spec import ServiceSpec

PUSH_TIMEOUT = 5.0


async def serve(launch: Launch, outputs: Outputs | None = None) -> int:
    """Run a prepared launch to the end inside the current event loop."""
    outputs = outputs or Outputs()
    config = launch.config
    spec = launch.spec
    isatty = os.isatty(outputs.stdout.fd)
    console = logs.use_console(config.log_format, isatty)
    logs.configure(outputs.stdout, config.log_format, config.log_level, isatty)
    log = logs.get_logger(service=spec.name)
    board = Board(Snapshot(service=spec.name))

    reaper = Reaper(board.counters, lambda pid, status: _log_orphan(log, pid, status))
    reaper.watch(launch.child.pid)
    if not launch.pid1 and not launch.subreaper:
        log.warning(
            "orphans cannot be reaped here: not PID 1 and not a subreaper",
            subreaper_setting=config.subreaper,
        )
    supervisor = Supervisor(
        spec,
        board,
        reaper,
        outputs,
        log,
        first=launch.child,
        child_logs=config.child_logs,
        console=console,
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

    async with anyio.create_task_group() as tg:
        caught = cast("tuple[signal.Signals, ...]", signals.caught_signals())
        with anyio.open_signal_receiver(*caught) as receiver:
            tg.start_soon(signal_loop, receiver)
            if launch.sock is not None:
                await _start_http(tg, launch, board, log)
            code = await supervisor.run()
            tg.cancel_scope.cancel()
    if spec.batch and config.pushgateway:
        await _push(config.pushgateway, board.snapshot, code, log)
    log.info("runtime exiting", code=code)
    if launch.lock is not None:
        launch.lock.release()
    return code


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
) -> None:
    from bots_runtime import checks, http, metrics  # noqa: PLC0415 - after the child is running

    assert launch.sock is not None  # noqa: S101 - checked by the caller
    runner = checks.CheckRunner(launch.spec.checks)
    registry = metrics.build_registry(
        board,
        runner,
        version=__version__,
        service=launch.spec.name,
        child_pid=lambda: board.snapshot.pid,
    )
    server = http.HttpServer(http.create_app(board, runner, registry), launch.sock)
    await tg.start(_serve_http, server)
    tg.start_soon(runner.run)
    host, port = launch.sock.getsockname()[:2]
    log.info("health server listening", host=host, port=port)


async def _serve_http(server: HttpServer, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    await server.serve(task_status=task_status)


async def _push(url: str, snap: Snapshot, code: int, log: FilteringBoundLogger) -> None:
    from bots_runtime import push  # noqa: PLC0415 - only engine runs with a gateway push

    started = snap.started_at or time.time()
    try:
        with anyio.fail_after(PUSH_TIMEOUT):
            await anyio.to_thread.run_sync(
                lambda: push.push_engine_run(
                    url,
                    started_at=started,
                    duration=max(0.0, time.time() - started),
                    exit_code=code,
                    timeout=PUSH_TIMEOUT,
                ),
                abandon_on_cancel=True,
            )
    except Exception as err:  # noqa: BLE001 - a gateway problem must never fail the run
        log.warning("pushgateway push failed", url=url, error=str(err) or type(err).__name__)
    else:
        log.info("pushed engine run metrics", url=url, code=code)


async def supervise_async(spec: ServiceSpec, config: RuntimeConfig | None = None) -> int:
    """Run `spec` under supervision in the running event loop; return the exit code.

    Must be called from the main thread (it handles the process's signals).
    """
    launch = prepare(spec, config or RuntimeConfig(port=0))
    return await serve(launch)


def supervise(spec: ServiceSpec, config: RuntimeConfig | None = None) -> int:
    """Blocking form of `supervise_async`; returns the exit code (launch errors included)."""
    try:
        launch = prepare(spec, config or RuntimeConfig(port=0))
    except LaunchError as err:
        print(f"bots-runtime: {err}", file=sys.stderr)
        return err.code
    return anyio.run(serve, launch, backend="asyncio")
