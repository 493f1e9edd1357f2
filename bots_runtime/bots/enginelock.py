"""The shared engine lock for engines Bots starts itself: GUI runs and queued runs.

bots-webserver (GUI runs) and Bots 4.0's bots-jobqueueserver (queued runs) start `bots-engine`
through PATH. bots-runtime puts `shims/bots-engine` first on their PATH; the shim runs this
module, which takes the same exclusive fcntl lock `bots-runtime engine` takes
(`<botssys>/.bots-engine.lock`) and then execs the real bots-engine with the lock's descriptor
left open, so the lock lasts exactly as long as that engine. When another run holds it, the
run is not started (exit 75) and one line on stderr says so: the webserver's stderr is the
container's, and the job queue logs a failed job's stderr on its console.
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
#: What started this run ("GUI run", "queued run"), for the log line.
STARTER_VAR = "BOTS_ENGINE_STARTER"


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
        starter = environ.get(STARTER_VAR) or "run"
        print(
            f"bots-engine ({starter}): not started: {path} is locked by another run",
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
