"""Which signals the runtime catches, which start a stop, and how rewrites apply.

Pure tables and functions: the event loop side lives in `runtime.py`.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Signals that stop the child gracefully; a second one skips the waiting (the plan's abort),
#: a third (or a second without an abort signal) kills at once.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})

#: Never caught: uncatchable, synchronous faults of our own, job control of our own tty,
#: and SIGPIPE (a closed stdout must not turn into signals sent to the child).
_NOT_CAUGHT = frozenset(
    {
        signal.SIGKILL,
        signal.SIGSTOP,
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGFPE,
        signal.SIGILL,
        signal.SIGTRAP,
        signal.SIGABRT,
        signal.SIGSYS,
        signal.SIGTTIN,
        signal.SIGTTOU,
        signal.SIGPIPE,
    }
)


def caught_signals() -> tuple[int, ...]:
    """Every signal the runtime installs a handler for (forwarded, stop, or SIGCHLD).

    Real-time signals are included; they have no `signal.Signals` member, hence plain ints.
    """
    return tuple(sorted(int(s) for s in signal.valid_signals() if s not in _NOT_CAUGHT))


def reset_in_child() -> tuple[int, ...]:
    """Signals whose disposition the child gets back as SIG_DFL before exec.

    Ignored dispositions survive exec: a runtime started from `sh -c 'cmd &'` has SIGINT
    ignored, and a Bots program would then never stop on SIGINT.
    """
    return tuple(
        sorted(int(s) for s in signal.valid_signals() if s not in {signal.SIGKILL, signal.SIGSTOP})
    )


def rewrite(signum: int, table: Mapping[int, int]) -> int:
    """The signal actually sent for `signum` (0 means: drop it); SIGKILL is never rewritten."""
    if signum == signal.SIGKILL:
        return signum
    return table.get(signum, signum)
