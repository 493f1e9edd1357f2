"""The shared engine lock for engines the Bots webserver starts from its GUI.

bots-webserver runs `bots-engine` through PATH and never waits for it. bots-runtime puts
`shims/bots-engine` first on the webserver's PATH; the shim runs this module, which takes the
same exclusive fcntl lock `bots-runtime engine` takes (`<botssys>/.bots-engine.lock`) and then
execs the real bots-engine with the lock's descriptor left open, so the lock lasts exactly as
long as that engine. When another run holds it, the GUI run is not started (exit 75).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from bots_runtime.core import exit_codes
from bots_runtime.process.lock import LockBusyError, RunLock

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

PROGRAM_VAR = "BOTS_ENGINE_PROGRAM"
LOCK_VAR = "BOTS_ENGINE_LOCK"
PYTHON_VAR = "BOTS_ENGINE_LOCK_PYTHON"


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Lock, then exec the real engine; return only when that is impossible."""
    program = environ.get(PROGRAM_VAR, "")
    path = environ.get(LOCK_VAR, "")
    if not program or not path:
        print(f"bots-engine shim: {PROGRAM_VAR} and {LOCK_VAR} must be set", file=sys.stderr)
        return exit_codes.CONFIG
    lock = RunLock(path)
    try:
        lock.acquire()
    except LockBusyError:
        print(
            f"bots-engine (GUI run): not started: {path} is locked by another run",
            file=sys.stderr,
            flush=True,
        )
        return exit_codes.TEMPFAIL
    except OSError as err:
        print(f"bots-engine shim: {path}: {err.strerror}", file=sys.stderr)
        return exit_codes.CONFIG
    lock.keep_across_exec()
    try:
        os.execv(program, [program, *argv])  # noqa: S606 - the shim's whole point
    except OSError as err:
        print(f"bots-engine shim: {program}: {err.strerror}", file=sys.stderr)
        return exit_codes.exec_error_code(err)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], os.environ))
