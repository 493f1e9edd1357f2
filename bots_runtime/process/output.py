"""The runtime's own stdout and stderr: a bounded queue in front of one writer thread each.

Whoever reads the container's output may stop reading (a log driver in blocking mode on a
slow disk, a dead log shipper, a full pipe). Nothing on the event loop may then wait for it,
or probes go unanswered and stop signals unheard. So nothing but the writer thread of an
output ever calls `write(2)` on it:

- the runtime's own events are put in the queue and never wait; when the events' share of the
  queue is full they are dropped and counted, and one summary is logged once output flows
  again;
- the child's relayed lines are offered to the queue; a full queue makes the relay wait (the
  child is then slowed down by its own full pipe) or drop, as the relay decides.

Each item is one or more whole lines and the single writer writes items one after the other,
so a runtime event can never land inside a child line. The writer is a daemon thread: one
stuck in `write(2)` for good never keeps the process from exiting, and `close` waits for it
only a bounded time.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import TYPE_CHECKING

from bots_runtime.core.state import OutputFlow

if TYPE_CHECKING:
    from collections.abc import Callable

#: Queue share of the runtime's own events (about a thousand JSON events).
EVENT_BUDGET = 256 * 1024
#: Queue share of relayed child output: what the child may be ahead of our reader.
CHILD_BUDGET = 1 << 20
#: Most bytes and buffers one `writev` is given.
BATCH_BYTES = 1 << 20
BATCH_ITEMS = 512
EVENT = "event"


class Output:
    """One output file descriptor, its queue and its writer thread (started on first use).

    `on_resume(events_dropped, lines_dropped)` is called on the writer thread once the queue
    has drained after drops: the place to log one summary of what was lost.
    """

    __slots__ = (
        "__weakref__",
        "_child_budget",
        "_child_bytes",
        "_closed",
        "_cond",
        "_event_budget",
        "_event_bytes",
        "_events",
        "_in_flight",
        "_items",
        "_thread",
        "_unreported",
        "broken",
        "fd",
        "flow",
        "on_resume",
    )

    def __init__(
        self,
        fd: int,
        flow: OutputFlow | None = None,
        *,
        event_budget: int = EVENT_BUDGET,
        child_budget: int = CHILD_BUDGET,
    ) -> None:
        self.fd = fd
        self.flow = flow if flow is not None else OutputFlow()
        self.broken = False
        self.on_resume: Callable[[int, int], None] | None = None
        self._event_budget = event_budget
        self._child_budget = child_budget
        self._cond = threading.Condition(threading.Lock())
        # (data, kind, lines): kind is EVENT or the child stream the lines came from.
        self._items: collections.deque[tuple[bytes, str, int]] = collections.deque()
        self._in_flight: list[tuple[bytes, str, int]] = []
        self._event_bytes = 0
        self._child_bytes = 0
        self._events = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._unreported = [0, 0]

    # --- the runtime's own events (structlog's WriteLogger wants `write` and `flush`) ------

    def write(self, text: str) -> int:
        """Queue one rendered event; never waits. A full share drops it (counted)."""
        data = text.encode("utf-8", "backslashreplace")
        with self._cond:
            if self._closed or self.broken or not self._fits(self._event_bytes, data, EVENT):
                self._drop_locked(EVENT, 1)
            else:
                self._put_locked(data, EVENT, 1)
        return len(text)

    def flush(self) -> None:
        """Nothing to do: the writer thread writes as soon as it can."""

    # --- relayed child output -------------------------------------------------------------

    def offer(self, data: bytes, stream: str, lines: int) -> bool:
        """Queue child lines if the child's share has room; False (nothing queued) if not.

        With no reader left (EPIPE) or after `close`, the lines are dropped (counted) and
        True is returned: waiting could never help.
        """
        with self._cond:
            if self._closed or self.broken:
                self._drop_locked(stream, lines)
                return True
            if not self._fits(self._child_bytes, data, stream):
                return False
            self._put_locked(data, stream, lines)
            return True

    def discard(self, stream: str, lines: int) -> None:
        """Count child lines the relay dropped because the queue stayed full."""
        with self._cond:
            self._drop_locked(stream, lines)

    def wait_room(self, size: int, timeout: float) -> None:
        """Block (in a worker thread) until `size` bytes of child output would fit, or timeout."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._closed
                    or self.broken
                    or self._child_bytes == 0
                    or self._child_bytes + size <= self._child_budget
                ),
                timeout,
            )

    # --- the end --------------------------------------------------------------------------

    def drained(self) -> bool:
        """True when everything handed over has been written (or can never be)."""
        with self._cond:
            return self.broken or (not self._items and not self._in_flight)

    def close(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the queue to drain, then drop (and count) the rest.

        True when everything was written. Nothing is queued after this.
        """
        with self._cond:
            drained = self._cond.wait_for(
                lambda: self.broken or (not self._items and not self._in_flight), timeout
            )
            self._closed = True
            for _data, kind, lines in [*self._in_flight, *self._items]:
                self._drop_locked(kind, lines)
            self._items.clear()
            self._in_flight = []
            self._event_bytes = self._child_bytes = self._events = 0
            self._account_locked()
            self._cond.notify_all()
        return drained

    # --- inside ---------------------------------------------------------------------------

    def _fits(self, used: int, data: bytes, kind: str) -> bool:
        budget = self._event_budget if kind == EVENT else self._child_budget
        return used == 0 or used + len(data) <= budget

    def _put_locked(self, data: bytes, kind: str, lines: int) -> None:
        self._items.append((data, kind, lines))
        if kind == EVENT:
            self._event_bytes += len(data)
            self._events += 1
        else:
            self._child_bytes += len(data)
        self._account_locked()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"bots-runtime output {self.fd}", daemon=True
            )
            self._thread.start()
        self._cond.notify_all()

    def _drop_locked(self, kind: str, lines: int) -> None:
        flow = self.flow
        if kind == EVENT:
            flow.events_dropped += 1
            self._unreported[0] += 1
        else:
            flow.lines_dropped[kind] = flow.lines_dropped.get(kind, 0) + lines
            self._unreported[1] += lines

    def _account_locked(self) -> None:
        self.flow.waiting_bytes = self._event_bytes + self._child_bytes
        self.flow.waiting_events = self._events

    def _take_locked(self) -> list[tuple[bytes, str, int]]:
        batch: list[tuple[bytes, str, int]] = []
        size = 0
        while self._items and len(batch) < BATCH_ITEMS:
            if batch and size + len(self._items[0][0]) > BATCH_BYTES:
                break
            item = self._items.popleft()
            batch.append(item)
            size += len(item[0])
        return batch

    def _run(self) -> None:
        """The writer: take a batch, write it outside the lock, account, repeat."""
        cond = self._cond
        while True:
            with cond:
                cond.wait_for(lambda: self._items or self._closed)
                if not self._items:
                    return
                batch = self._take_locked()
                self._in_flight = batch
                self.flow.writing_since = time.monotonic()
            ok = _write_all(self.fd, [item[0] for item in batch])
            report: tuple[int, int] | None = None
            with cond:
                self.flow.writing_since = None
                if self._in_flight is batch:  # close() has not abandoned it meanwhile
                    self._in_flight = []
                    for data, kind, _lines in batch:
                        if kind == EVENT:
                            self._event_bytes -= len(data)
                            self._events -= 1
                        else:
                            self._child_bytes -= len(data)
                    if not ok:
                        self.broken = True
                        for _data, kind, lines in [*batch, *self._items]:
                            self._drop_locked(kind, lines)
                        self._items.clear()
                        self._event_bytes = self._child_bytes = self._events = 0
                    self._account_locked()
                if ok and not self._items and any(self._unreported):
                    report = (self._unreported[0], self._unreported[1])
                    self._unreported = [0, 0]
                cond.notify_all()
            if report is not None and self.on_resume is not None and not self._closed:
                self.on_resume(*report)


def _write_all(fd: int, buffers: list[bytes]) -> bool:
    """Write every buffer in order (one `writev` per round); False once the reader is gone."""
    views = [memoryview(b) for b in buffers if b]
    while views:
        try:
            written = os.writev(fd, views)
        except BlockingIOError:
            _wait_writable(fd)
            continue
        except InterruptedError:
            continue
        except OSError:
            return False
        while written and views:
            first = len(views[0])
            if written >= first:
                written -= first
                views.pop(0)
            else:
                views[0] = views[0][written:]
                written = 0
    return True


def _wait_writable(fd: int) -> None:
    import select  # noqa: PLC0415 - only needed when someone handed us a non-blocking fd

    select.select([], [fd], [], 1.0)


class Outputs:
    """The pair the runtime writes to: own events and child stdout go to `stdout`."""

    __slots__ = ("stderr", "stdout")

    def __init__(
        self,
        stdout_fd: int = 1,
        stderr_fd: int = 2,
        flows: dict[str, OutputFlow] | None = None,
    ) -> None:
        flows = flows or {}
        self.stdout = Output(stdout_fd, flows.get("stdout"))
        self.stderr = Output(stderr_fd, flows.get("stderr"))

    def drained(self) -> bool:
        """True when both outputs have written everything handed to them."""
        return self.stdout.drained() and self.stderr.drained()

    def close(self, timeout: float) -> bool:
        """Flush both within `timeout` seconds in all; True when nothing was left behind."""
        end = time.monotonic() + timeout
        out = self.stdout.close(timeout)
        err = self.stderr.close(max(0.0, end - time.monotonic()))
        return out and err
