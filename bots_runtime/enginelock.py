"""The shared engine lock for engines the Bots webserver starts from its GUI.

bots-webserver runs `bots-engine` through PATH and never waits for it. bots-runtime puts
`shims/bots-engine` first on the webserver's PATH; the shim runs this module, which takes the
same exclusive fcntl lock `bots-runtime engine` takes (`<botssys>/.bots-engine.lock`) and then
execs the real bots-engine with the lock's descriptor left open, so the lock lasts exactly as
long as that engine. When another run holds it, the GUI run is not started (exit 75).
"""

from __future__ import annotations

import fcntl
import os
import sys
from typing import TYPE_CHECKING

from bots_runtime import exit_codes

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

PROGRAM_VAR = "BOTS_ENGINE_PROGRAM"
LOCK_VAR = "BOTS_ENGINE_LOCK"
PYTHON_VAR = "BOTS_ENGINE_LOCK_PYTHON"


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Lock, then exec the real engine; return only when that is impossible."""
    program = environ.get(PROGRAM_VAR, "")
    lock = environ.get(LOCK_VAR, "")
    if not program or not lock:
        print(f"bots-engine shim: {PROGRAM_VAR} and {LOCK_VAR} must be set", file=sys.stderr)
        return exit_codes.CONFIG
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        print(
            f"bots-engine (GUI run): not started: {lock} is locked by another run",
            file=sys.stderr,
            flush=True,
        )
        return exit_codes.TEMPFAIL
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    os.set_inheritable(fd, True)  # noqa: FBT003 - the lock stays with this pid across exec
    try:
        os.execv(program, [program, *argv])  # noqa: S606 - the shim's whole point
    except OSError as err:
        print(f"bots-engine shim: {program}: {err.strerror}", file=sys.stderr)
        return (
            exit_codes.NOT_FOUND
            if isinstance(err, FileNotFoundError)
            else exit_codes.NOT_EXECUTABLE
        )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], os.environ))
