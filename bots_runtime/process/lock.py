"""An exclusive lock on a shared file: the engine run lock, the GUI engine lock, init-db's lock.

POSIX record locks (`fcntl.lockf`) are what NFS clients honour across hosts, so two engine
pods on one ReadWriteMany volume cannot both run. The lock dies with the process, even on
SIGKILL, so a crashed pod never leaves a stale lock behind. The holder's pid is written into
the file for whoever wants to know who holds it.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class LockBusyError(Exception):
    """Another process holds the lock."""


class RunLock:
    """Owns the lock file descriptor; closing it releases the lock."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting; raise `LockBusyError` when another run holds it.

        `OSError` means the file cannot be opened at all (a missing folder, no permission).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            msg = f"{self.path} is locked by another run"
            raise LockBusyError(msg) from err
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def acquire_within(
        self,
        seconds: float,
        *,
        on_wait: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Take the lock, retrying with a growing pause for up to `seconds`.

        `on_wait` is called once, when the first attempt finds the lock taken, so the caller
        can say why it pauses. Raises `LockBusyError` when the time is up.
        """
        deadline = clock() + seconds
        pause = 0.05
        told = False
        while True:
            try:
                self.acquire()
            except LockBusyError:
                if clock() >= deadline:
                    raise
                if not told and on_wait is not None:
                    on_wait()
                told = True
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
            else:
                return

    def keep_across_exec(self) -> None:
        """Let the lock outlive an `exec` of this process (the GUI engine shim's use)."""
        if self._fd is not None:
            os.set_inheritable(self._fd, True)  # noqa: FBT003 - the os API takes a flag

    def release(self) -> None:
        """Give the lock up (also happens when the process exits)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def held_elsewhere(path: str) -> bool:
    """Whether another process holds the lock on `path` now, found without taking it.

    A shared lock needs only a read-only descriptor and conflicts with nothing but an
    exclusive one, so the probe writes nothing. A missing or unreadable file: False.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock
    return False
