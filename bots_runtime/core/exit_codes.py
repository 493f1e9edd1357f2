"""Exit codes: the child's status in shell convention, and the runtime's own failures.

This is the contract with Kubernetes and with whoever reads `kubectl get pod`: the child's
own code passes through (128+N when signal N killed it, tini's rule), and the runtime's own
failures use the sysexits codes in `RUNTIME_CODES`, which `--help` renders and a test holds
the README's table to.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

OK = 0
USAGE = 64
UNAVAILABLE = 69
INTERNAL = 70
TEMPFAIL = 75
CONFIG = 78
NOT_EXECUTABLE = 126
NOT_FOUND = 127

RUNTIME_CODES: dict[int, str] = {
    USAGE: "usage error",
    UNAVAILABLE: "port in use",
    INTERNAL: "internal error",
    TEMPFAIL: "lock held by another run",
    CONFIG: "configuration error",
    NOT_EXECUTABLE: "program not executable",
    NOT_FOUND: "program not found",
}


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process ended: exactly one of `code` and `signal` is set."""

    code: int | None = None
    signal: int | None = None

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        """Decode a raw `waitpid` status."""
        if os.WIFSIGNALED(status):
            return cls(signal=os.WTERMSIG(status))
        return cls(code=os.WEXITSTATUS(status))

    @property
    def shell_code(self) -> int:
        """The code a shell would show: the exit code, or 128+N for signal N."""
        if self.signal is not None:
            return 128 + self.signal
        return self.code if self.code is not None else 0

    @property
    def reason(self) -> str:
        """A bounded label for metrics: `exited` or `killed`."""
        return "killed" if self.signal is not None else "exited"

    def describe(self, meanings: Mapping[int, str] | None = None) -> str:
        """A human sentence, with the service's own meaning of the (shell) code when known."""
        meaning = (meanings or {}).get(self.shell_code)
        if self.signal is not None:
            name = signal_name(self.signal)
            hint = " (perhaps out of memory?)" if self.signal == signal.SIGKILL else ""
            return f"killed by {name}{hint}" + (f": {meaning}" if meaning else "")
        return f"exit code {self.shell_code}" + (f": {meaning}" if meaning else "")


def signal_name(signum: int) -> str:
    """`SIGTERM` for 15; the number itself for real-time or unknown signals."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def exec_error_code(err: OSError) -> int:
    """The shell's code for a program that could not be executed: 127 missing, else 126."""
    return NOT_FOUND if isinstance(err, FileNotFoundError) else NOT_EXECUTABLE


def final_code(status: ExitStatus, success_codes: frozenset[int]) -> int:
    """The runtime's exit code for a child that ended with `status` (tini's `-e`)."""
    code = status.shell_code
    return OK if code in success_codes else code
