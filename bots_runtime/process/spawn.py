"""Spawning the child: its own session, clean signal state, pipes for its output.

`posix_spawn` is used instead of `subprocess` or asyncio's subprocess support for two reasons:
the runtime is the only code that ever calls `waitpid` (so, as PID 1, reaping orphans can never
steal the main child's exit status from an asyncio child watcher), and it needs no event loop,
so the child starts before the HTTP stack is imported.

When the runtime is not PID 1, its death (SIGKILL, the OOM killer) would leave the child
running with nobody to stop it. The kernel can tell the child instead: `PR_SET_PDEATHSIG`.
`posix_spawn` cannot set it, so the child is started through util-linux's `setpriv
--pdeathsig KILL` (part of every Debian, about 1 ms), which sets it and execs the program.
The signal is SIGKILL, not the service's gentler stop signal: once the runtime is gone the run
lock is released and nobody is left to send a Bots program the second SIGINT it may need. As
PID 1 it is not needed: the kernel ends the whole PID namespace with us. The kernel sends the
signal when the *thread* that spawned the child ends, so children are spawned from the main
thread only (the event loop's).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bots_runtime.core import exit_codes, signals

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

PIPE_SIZE = 1 << 20
#: util-linux's `setpriv`, the exec helper that sets the parent-death signal.
SETPRIV = ("/usr/bin/setpriv", "/bin/setpriv")
PARENT_DEATH_SIGNAL = "KILL"
_ELF = b"\x7fELF"


class SpawnError(Exception):
    """The program could not be started; `code` is 127 (not found) or 126 (not executable)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Child:
    """A running child: its pid (also its process group id) and the read ends of its output."""

    pid: int
    stdout_fd: int
    stderr_fd: int
    spawned_mono: float
    spawned_wall: float


def resolve(program: str, env: Mapping[str, str]) -> str:
    """Find `program` on the child's PATH, as the shell would; raise `SpawnError` if absent."""
    if "/" in program:
        candidates = [program]
    else:
        path = env.get("PATH", os.defpath)
        candidates = [os.path.join(d or ".", program) for d in path.split(os.pathsep)]
    denied = None
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = candidate
    if denied is not None:
        msg = f"{denied}: permission denied (not executable)"
        raise SpawnError(msg, exit_codes.NOT_EXECUTABLE)
    if "/" in program and os.path.isdir(program):
        msg = f"{program}: is a directory"
        raise SpawnError(msg, exit_codes.NOT_EXECUTABLE)
    msg = f"{program}: command not found"
    raise SpawnError(msg, exit_codes.NOT_FOUND)


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(read_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    os.set_blocking(read_end, False)
    return read_end, write_end


def setpriv() -> str | None:
    """The path of `setpriv`, or None where util-linux is missing."""
    return next((path for path in SETPRIV if os.access(path, os.X_OK)), None)


def _check_executable(path: str) -> None:
    """Exec failures `setpriv` would only report as its own exit code, told apart here.

    A script whose `#!` interpreter is missing, and a file that is neither ELF nor a script
    (when no binfmt_misc handler could take it), fail with the same one-line errors and exit
    codes as without the helper. A file we cannot read is left to the kernel.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].split()
        interpreter = os.fsdecode(words[0]) if words else ""
        if not os.path.isfile(interpreter):
            msg = f"{path}: No such file or directory (bad interpreter {interpreter!r}?)"
            raise SpawnError(msg, exit_codes.NOT_FOUND)
        if not os.access(interpreter, os.X_OK):
            msg = f"{path}: Permission denied (interpreter {interpreter!r} is not executable)"
            raise SpawnError(msg, exit_codes.NOT_EXECUTABLE)
    elif not head.startswith(_ELF) and not _binfmt_handlers():
        msg = f"{path}: Exec format error"
        raise SpawnError(msg, exit_codes.NOT_EXECUTABLE)


def _binfmt_handlers() -> bool:
    try:
        entries = os.listdir("/proc/sys/fs/binfmt_misc")
    except OSError:
        return False
    return bool(set(entries) - {"register", "status"})


def spawn(
    argv: Sequence[str], env: Mapping[str, str], *, parent_death: bool | None = None
) -> Child:
    """Start `argv` in a new session with default signal dispositions and an empty mask.

    `parent_death` (default: when we are not PID 1) makes the kernel SIGKILL the child if
    the runtime dies first; the child's `argv[0]` is then the resolved program path.
    """
    if not argv:
        msg = "empty command"
        raise SpawnError(msg, exit_codes.NOT_FOUND)
    path = resolve(argv[0], env)
    program, args = path, list(argv)
    helper = setpriv() if (os.getpid() != 1 if parent_death is None else parent_death) else None
    if helper is not None:
        _check_executable(path)
        args = [helper, "--pdeathsig", PARENT_DEATH_SIGNAL, "--", path, *argv[1:]]
        program = helper
    out_r, out_w = _pipe()
    err_r, err_w = _pipe()
    actions = [
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
    ]
    try:
        pid = os.posix_spawn(
            program,
            args,
            dict(env),
            file_actions=actions,
            setsid=True,
            setsigmask=(),
            setsigdef=signals.reset_in_child(),
        )
    except OSError as err:
        for fd in (out_r, err_r):
            os.close(fd)
        # The file exists (resolve found it), so ENOENT here is its #! interpreter.
        hint = " (bad interpreter?)" if isinstance(err, FileNotFoundError) else ""
        msg = f"{path}: {err.strerror}{hint}"
        raise SpawnError(msg, exit_codes.exec_error_code(err)) from None
    finally:
        os.close(out_w)
        os.close(err_w)
    return Child(
        pid=pid,
        stdout_fd=out_r,
        stderr_fd=err_r,
        spawned_mono=time.monotonic(),
        spawned_wall=time.time(),
    )
