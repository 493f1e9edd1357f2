"""An exclusive run lock on a shared file, held for the runtime's lifetime.

POSIX record locks (`fcntl.lockf`) are what NFS clients honour across hosts, so two engine
pods on one ReadWriteMany volume cannot both run. The lock dies with the process, even on
SIGKILL, so a crashed pod never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os


class LockBusyError(Exception):
    """Another process holds the lock."""


class RunLock:
    """Owns the lock file descriptor; closing it releases the lock."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting; raise `LockBusyError` when another run holds it."""
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

    def release(self) -> None:
        """Give the lock up (also happens when the process exits)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
