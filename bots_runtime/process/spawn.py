"""Spawning the child: its own session, clean signal state, pipes for its output.

`posix_spawn` is used instead of `subprocess` or asyncio's subprocess support for two reasons:
the runtime is the only code that ever calls `waitpid` (so, as PID 1, reaping orphans can never
steal the main child's exit status from an asyncio child watcher), and it needs no event loop,
so the child starts before the HTTP stack is imported.
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


def spawn(argv: Sequence[str], env: Mapping[str, str]) -> Child:
    """Start `argv` in a new session with default signal dispositions and an empty mask."""
    if not argv:
        msg = "empty command"
        raise SpawnError(msg, exit_codes.NOT_FOUND)
    path = resolve(argv[0], env)
    out_r, out_w = _pipe()
    err_r, err_w = _pipe()
    actions = [
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
    ]
    try:
        pid = os.posix_spawn(
            path,
            list(argv),
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
