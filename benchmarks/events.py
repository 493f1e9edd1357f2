"""The harness end of the child's FIFO: timestamped events, waited for with a deadline."""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass, field
from pathlib import Path


class BenchError(Exception):
    """A measurement could not be taken (timeout, a supervisor died, bad output)."""


@dataclass
class Event:
    """One line from the child: a name and its values (pid, monotonic seconds, ...)."""

    name: str
    values: tuple[str, ...]

    @property
    def time(self) -> float:
        """The last value is the child's monotonic timestamp."""
        return float(self.values[-1])


@dataclass
class EventChannel:
    """A FIFO the harness holds open read-write, so reads never see EOF between children."""

    path: Path
    _fd: int = -1
    _buffer: bytes = b""
    _seen: list[Event] = field(default_factory=list)

    @classmethod
    def create(cls, directory: Path) -> EventChannel:
        """Make the FIFO in `directory` and open it."""
        path = directory / "events.fifo"
        if path.exists():
            path.unlink()
        os.mkfifo(path)
        channel = cls(path)
        channel._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        return channel

    def close(self) -> None:
        """Close and remove the FIFO."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)

    def reset(self) -> None:
        """Forget events from the previous child."""
        self.poll(0.0)
        self._seen.clear()
        self._buffer = b""

    def poll(self, timeout: float) -> list[Event]:
        """Read whatever arrives within `timeout` seconds; return the new events."""
        ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        new: list[Event] = []
        while ready:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                name, *values = line.decode().split()
                new.append(Event(name, tuple(values)))
            ready, _, _ = select.select([self._fd], [], [], 0.0)
        self._seen.extend(new)
        return new

    def find(self, name: str) -> Event | None:
        """The first event called `name` seen so far."""
        return next((e for e in self._seen if e.name == name), None)

    def wait(self, name: str, timeout: float, alive: int | None = None) -> Event:
        """Wait for event `name`; fail after `timeout` s or when process `alive` has exited.

        It blocks in select first and checks `alive` only between waits, so the harness does
        as little as possible on a CPU the measured processes may need.
        """
        deadline = time.monotonic() + timeout
        while (event := self.find(name)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"no {name!r} event from the child within {timeout} s")
            if self.poll(min(left, 0.05)) or alive is None or pid_running(alive):
                continue
            self.poll(0.05)
            if (event := self.find(name)) is not None:
                return event
            raise BenchError(f"process {alive} exited before the child sent {name!r}")
        return event


def pid_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
