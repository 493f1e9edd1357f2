"""The runtime's own stdout and stderr, shared by the relay and the logger.

Every write of a whole line (or of a batch of whole lines) goes through one lock per file
descriptor, so the runtime's own events can never land in the middle of a child's line.
Writes are blocking `os.write` calls: the relay calls them from a worker thread, so a slow log
consumer applies backpressure to the child without stalling the event loop and its probes.
"""

from __future__ import annotations

import os
import threading


class Output:
    """One output file descriptor with a lock and an all-or-error `write`."""

    __slots__ = ("__weakref__", "_lock", "broken", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self.broken = False

    def write_bytes(self, data: bytes) -> None:
        """Write all of `data` in order; a closed reader (EPIPE) turns the sink off quietly."""
        if self.broken:
            return
        view = memoryview(data)
        with self._lock:
            while view:
                try:
                    written = os.write(self.fd, view)
                except BlockingIOError:
                    _wait_writable(self.fd)
                    continue
                except (BrokenPipeError, OSError):
                    self.broken = True
                    return
                view = view[written:]

    # structlog's WriteLogger wants a text file: `write` then `flush`.
    def write(self, text: str) -> int:
        """Write a rendered log line (text)."""
        self.write_bytes(text.encode("utf-8", "backslashreplace"))
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered here."""


def _wait_writable(fd: int) -> None:
    import select  # noqa: PLC0415 - only needed when someone handed us a non-blocking fd

    select.select([], [fd], [], 1.0)


class Outputs:
    """The pair the runtime writes to: own events and child stdout go to `stdout`."""

    __slots__ = ("stderr", "stdout")

    def __init__(self, stdout_fd: int = 1, stderr_fd: int = 2) -> None:
        self.stdout = Output(stdout_fd)
        self.stderr = Output(stderr_fd)
