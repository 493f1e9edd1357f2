"""Everything that happens before the event loop exists: the fast path to a running child.

Order matters and each step can fail with its own documented exit code, before any child
exists: wait for the start gates (78), take the run lock (75), bind the health port (69) and
name it in the port file (78), run the spec's before-spawn hooks (they cannot fail the launch),
change to the service's directory (78), then spawn (126/127).
Signals that arrive before the event loop takes over are only recorded here and replayed
later, so nothing is lost and nothing runs inside a signal handler. Only the standard library
is imported.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bots_runtime.core import exit_codes, signals
from bots_runtime.process import spawn as spawn_mod
from bots_runtime.process.lock import LockBusyError, RunLock

if TYPE_CHECKING:
    import socket
    from types import FrameType

    from bots_runtime.core.hooks import AfterRun, EventLog, RunRecord
    from bots_runtime.core.options import RuntimeOptions
    from bots_runtime.core.spec import ServiceSpec
    from bots_runtime.process.spawn import Child


class LaunchError(Exception):
    """A failure before the child runs; `code` is the runtime's exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Launch:
    """What the event loop inherits: the child, the bound socket, early signals, the lock.

    `spec` is the service with the after-run hooks its before-spawn hooks made.
    """

    spec: ServiceSpec
    options: RuntimeOptions
    child: Child
    sock: socket.socket | None
    lock: RunLock | None
    pid1: bool
    subreaper: bool
    early_signals: list[int] = field(default_factory=list)


def _record(early: list[int]) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        early.append(signum)

    for signum in signals.caught_signals():
        signal.signal(signum, handler)


def _lock(path: str) -> RunLock:
    lock = RunLock(path)
    try:
        lock.acquire()
    except LockBusyError as err:
        raise LaunchError(f"not started: {err}", exit_codes.TEMPFAIL) from None
    except OSError as err:
        msg = f"cannot open lock file {path}: {err.strerror}"
        raise LaunchError(msg, exit_codes.CONFIG) from None
    return lock


def _chdir(path: str) -> None:
    try:
        os.chdir(path)
    except OSError as err:
        msg = f"cannot change to the service's working directory {path}: {err.strerror}"
        raise LaunchError(msg, exit_codes.CONFIG) from None


def _listen(options: RuntimeOptions) -> socket.socket:
    from bots_runtime.process import listener  # noqa: PLC0415 - only when HTTP is on

    assert options.port is not None  # noqa: S101 - checked by the caller
    try:
        sock = listener.bind(options.host, options.port)
    except listener.BindError as err:
        raise LaunchError(str(err), exit_codes.UNAVAILABLE) from None
    if options.port_file:
        try:
            listener.write_port_file(options.port_file, sock)
        except OSError as err:
            sock.close()
            msg = f"--port-file {options.port_file}: cannot be written: {err.strerror}"
            raise LaunchError(msg, exit_codes.CONFIG) from None
    return sock


class _HookFailed:
    """Stands in for a before-spawn hook that raised, so the failure reaches the log.

    A plain class, not a dataclass: this module loads before the spawn, where each frozen
    dataclass costs about 1.5 ms.
    """

    __slots__ = ("error", "hook")
    timeout = 1.0

    def __init__(self, hook: str, error: str) -> None:
        self.hook = hook
        self.error = error

    async def __call__(self, run: RunRecord, log: EventLog) -> None:  # noqa: ARG002 - unused
        """Log the failure once the runtime logs."""
        log.warning("before-spawn hook failed", hook=self.hook, error=self.error)


def _before_spawn(spec: ServiceSpec) -> list[AfterRun]:
    """The after-run hooks made by the spec's before-spawn hooks; a hook's error never stops us."""
    made: list[AfterRun] = []
    for hook in spec.before_spawn:
        try:
            made.append(hook())
        except Exception as err:  # noqa: BLE001 - a note for later must not stop the launch
            name = getattr(hook, "__qualname__", None) or type(hook).__name__
            made.append(_HookFailed(name, str(err) or type(err).__name__))
    return made


def prepare(spec: ServiceSpec, options: RuntimeOptions) -> Launch:
    """Wait for the gates, lock, bind and spawn; `LaunchError` with the documented code.

    Signals during a gate's (bounded) wait are recorded and replayed once the child runs.
    """
    early: list[int] = []
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    _record(early)
    pid1 = os.getpid() == 1
    subreaper = False
    if not pid1 and options.subreaper:
        from bots_runtime.process.tree import become_subreaper  # noqa: PLC0415 - loads ctypes

        subreaper = become_subreaper()
    for gate in spec.start_gates:
        problem = gate.wait()
        if problem is not None:
            raise LaunchError(problem, exit_codes.CONFIG)
    lock = _lock(spec.lock_path) if spec.lock_path else None
    sock = _listen(options) if options.port is not None else None
    if spec.before_spawn:
        spec = replace(spec, after_run=(*_before_spawn(spec), *spec.after_run))
    try:
        if spec.cwd is not None:
            _chdir(spec.cwd)
        child = spawn_mod.spawn(spec.argv, dict(spec.env))
    except (spawn_mod.SpawnError, LaunchError) as err:
        if sock is not None:
            sock.close()
        raise LaunchError(str(err), err.code) from None
    return Launch(
        spec=spec,
        options=options,
        child=child,
        sock=sock,
        lock=lock,
        pid1=pid1,
        subreaper=subreaper,
        early_signals=early,
    )
