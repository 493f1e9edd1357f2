"""Everything that happens before the event loop exists: the fast path to a running child.

Order matters and each step can fail with its own documented exit code, before any child
exists: take the run lock (75), bind the health port (69), then spawn (126/127). Signals that
arrive before the event loop takes over are only recorded here and replayed later, so nothing
is lost and nothing runs inside a signal handler. Only the standard library is imported.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bots_runtime import child as child_mod
from bots_runtime import exit_codes, signals
from bots_runtime.lock import LockBusyError, RunLock

if TYPE_CHECKING:
    import socket
    from types import FrameType

    from bots_runtime.child import Child
    from bots_runtime.config import RuntimeConfig
    from bots_runtime.spec import ServiceSpec


class LaunchError(Exception):
    """A failure before the child runs; `code` is the runtime's exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Launch:
    """What the event loop inherits: the child, the bound socket, early signals, the lock."""

    spec: ServiceSpec
    config: RuntimeConfig
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


def prepare(spec: ServiceSpec, config: RuntimeConfig) -> Launch:
    """Lock, bind and spawn; raise `LaunchError` with the documented code on failure."""
    early: list[int] = []
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    _record(early)
    pid1 = os.getpid() == 1
    subreaper = False
    if not pid1 and config.subreaper:
        from bots_runtime.reaper import become_subreaper  # noqa: PLC0415 - ctypes only when needed

        subreaper = become_subreaper()
    lock = None
    if spec.lock_path:
        lock = RunLock(spec.lock_path)
        try:
            lock.acquire()
        except LockBusyError as err:
            raise LaunchError(f"not started: {err}", exit_codes.TEMPFAIL) from None
        except OSError as err:
            msg = f"cannot open lock file {spec.lock_path}: {err.strerror}"
            raise LaunchError(msg, exit_codes.CONFIG) from None
    sock = None
    if config.port:
        from bots_runtime import listener  # noqa: PLC0415 - only when HTTP is on

        try:
            sock = listener.bind(config.host, config.port)
        except listener.BindError as err:
            raise LaunchError(str(err), exit_codes.UNAVAILABLE) from None
    try:
        child = child_mod.spawn(spec.argv, dict(spec.env))
    except child_mod.SpawnError as err:
        if sock is not None:
            sock.close()
        raise LaunchError(str(err), err.code) from None
    return Launch(
        spec=spec,
        config=config,
        child=child,
        sock=sock,
        lock=lock,
        pid1=pid1,
        subreaper=subreaper,
        early_signals=early,
    )
