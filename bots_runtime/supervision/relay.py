r"""Relaying one child pipe to our output, line by line, without loss or mangling.

Chunks are read as bytes (never decoded before framing), cut into whole lines, and handed to
the output's queue (its writer thread writes them). When the child's share of that queue is
full, our reader is slower than the child: in `block` mode the relay waits for room and reads
nothing meanwhile, so a flooding child blocks on its full pipe instead of growing our memory;
in `drop` mode the lines are dropped and counted and the child never waits. Once a stop has
begun, `block` waits at most `STOP_STALL_WAIT` for a stalled output, then drops too: a child
that cannot write its last lines cannot finish its clean stop. When the reader keeps up, the
relay still yields to the event loop after every chunk: a child that never pauses must not
starve the probes or the stop.

Lines longer than `max_line` are split into marked pieces; a last line without a newline is
completed at EOF; invalid UTF-8 is escaped (`\\xff`) in wrapped mode and passed through
untouched in raw mode.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from bots_runtime.core.options import ChildLogs, FullOutput

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from bots_runtime.core.state import Counters
    from bots_runtime.process.output import Output, Outputs
    from bots_runtime.process.spawn import Child

Render = Callable[[bytes, list[bytes], float], bytes]

MAX_LINE = 64 * 1024
#: Bytes read (and rendered) per turn of the event loop. Measured under a flood with a fast
#: reader: 16 KiB relays as fast as 64 KiB and halves /readyz p99 (3.8 against 7.3 ms);
#: 8 KiB halves the throughput.
READ_SIZE = 16 * 1024
#: How long a blocked relay sleeps before it looks again whether a stop has begun.
WAIT_SLICE = 0.25
#: During a stop, how long a chunk waits for a stalled output before it is dropped.
STOP_STALL_WAIT = 1.0
_encode = json.encoder.encode_basestring_ascii


def _utf8_cut(data: bytes, limit: int) -> int:
    """An index <= limit that does not cut a UTF-8 sequence (when one is there to respect)."""
    cut = limit
    for _ in range(3):
        if cut <= 0 or (data[cut] & 0xC0) != 0x80:
            break
        cut -= 1
    return cut if cut > 0 else limit


class Framer:
    """Turns a byte stream into whole lines and over-long pieces; pure and synchronous."""

    __slots__ = ("_tail", "max_line")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._tail = b""

    def feed(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """Return (whole lines ending in newline, over-long pieces before them).

        Pieces come first in stream order: they are the start of a line that outgrew the
        limit while still incomplete.
        """
        buf = self._tail + data if self._tail else data
        pieces: list[bytes] = []
        end = buf.rfind(b"\n")
        if end < 0:
            while len(buf) > self.max_line:
                cut = _utf8_cut(buf, self.max_line)
                pieces.append(buf[:cut])
                buf = buf[cut:]
            self._tail = buf
            return b"", pieces
        first = buf.find(b"\n")
        start = 0
        while first - start > self.max_line:
            cut = start + _utf8_cut(buf[start:], self.max_line)
            pieces.append(buf[start:cut])
            start = cut
        self._tail = buf[end + 1 :]
        return buf[start : end + 1], pieces

    def finish(self) -> bytes:
        """What is left at EOF, completed with a newline (empty if nothing is left)."""
        tail, self._tail = self._tail, b""
        return tail + b"\n" if tail else b""


def _timestamp(now: float) -> str:
    return dt.datetime.fromtimestamp(now, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WrapFormatter:
    """Renders child lines as JSON events, one per line, with the same keys as our own logs.

    The head of each object is built once per chunk; per line only the message is escaped.
    """

    __slots__ = ("_console", "_service", "_stream", "pid")

    def __init__(self, service: str, stream: str, pid: int, *, console: bool = False) -> None:
        self._service = _encode(service)
        self._stream = stream
        self.pid = pid
        self._console = console

    def render(self, lines: bytes, pieces: list[bytes], now: float) -> bytes:
        """Format whole lines (newline-terminated) and split pieces for output."""
        if self._console:
            return self._render_console(lines, pieces, now)
        head = (
            f'{{"timestamp":"{_timestamp(now)}","level":"info","logger":"child",'
            f'"service":{self._service},"stream":"{self._stream}","pid":{self.pid},'
        )
        out = [
            f'{head}"partial":true,"event":{_encode(p.decode("utf-8", "backslashreplace"))}}}\n'
            for p in pieces
        ]
        if lines:
            text = lines.decode("utf-8", "backslashreplace")
            ev = head + '"event":'
            out.extend([f"{ev}{_encode(line)}}}\n" for line in text.split("\n")[:-1]])
        return "".join(out).encode("ascii")

    def _render_console(self, lines: bytes, pieces: list[bytes], now: float) -> bytes:
        stamp = dt.datetime.fromtimestamp(now, tz=dt.UTC).strftime("%H:%M:%S")
        prefix = f"{stamp} {json.loads(self._service)}[{self.pid}] {self._stream} | "
        text = [prefix + p.decode("utf-8", "backslashreplace") + " \u21a9\n" for p in pieces]
        if lines:
            decoded = lines.decode("utf-8", "backslashreplace")
            text.extend(prefix + line + "\n" for line in decoded.split("\n")[:-1])
        return "".join(text).encode("utf-8")


def render_raw(lines: bytes, pieces: list[bytes], _now: float) -> bytes:
    """Raw mode: bytes unchanged; a split piece ends with a newline so the next line is whole."""
    if not pieces:
        return lines
    return b"".join(p + b"\n" for p in pieces) + lines


class Relay:
    """Copies one child pipe to one `Output` until EOF; owns (and closes) the read end."""

    __slots__ = (
        "_counters",
        "_fd",
        "_framer",
        "_full",
        "_holding",
        "_render",
        "_sink",
        "_stalled",
        "_stopping",
        "_stream",
    )

    def __init__(
        self,
        fd: int,
        stream: str,
        sink: Output,
        counters: Counters,
        render: Render,
        max_line: int = MAX_LINE,
        *,
        full: FullOutput = FullOutput.BLOCK,
        stopping: anyio.Event | None = None,
    ) -> None:
        self._fd = fd
        self._stream = stream
        self._sink = sink
        self._counters = counters
        self._render = render
        self._framer = Framer(max_line)
        self._full = full
        self._stopping = stopping
        self._stalled = False
        self._holding = 0

    async def run(self) -> None:
        """Relay until EOF (every writer of the pipe has exited), then flush the last line."""
        fd = self._fd
        read_size = min(self._framer.max_line, READ_SIZE)
        try:
            while True:
                try:
                    data = os.read(fd, read_size)
                except BlockingIOError:
                    await anyio.wait_readable(fd)
                    continue
                if not data:
                    break
                lines, pieces = self._framer.feed(data)
                await self._emit(lines, pieces, len(data))
                # A child that never pauses keeps the pipe readable and the queue roomy, so
                # nothing above awaits: give probes, signals and the other relay their turn.
                await anyio.lowlevel.checkpoint()
            last = self._framer.finish()
            if last:
                await self._emit(last, [], 0)
        except anyio.get_cancelled_exc_class():
            self._abandon()
            raise
        finally:
            os.close(fd)

    def _abandon(self) -> None:
        """Cancelled before EOF (the pipe outlived the run): count what never got out.

        That is the chunk waiting for room, what the pipe holds right now, and an unfinished
        last line; all of it is counted as dropped, so nothing is lost uncounted.
        """
        count = self._holding
        self._holding = 0
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except OSError:
                break
            if not data:
                break
            count += data.count(b"\n")
        if self._framer.finish():
            count += 1
        if count:
            self._sink.discard(self._stream, count)

    async def _emit(self, lines: bytes, pieces: list[bytes], size: int) -> None:
        counters = self._counters
        stream = self._stream
        counters.bytes[stream] += size
        if pieces:
            counters.lines_split[stream] += len(pieces)
        if not lines and not pieces:
            return
        count = lines.count(b"\n")
        counters.lines[stream] += count
        payload = self._render(lines, pieces, time.time())
        count += len(pieces)
        if self._sink.offer(payload, stream, count):
            self._stalled = False
            return
        self._holding = count
        await self._when_full(payload, count)
        self._holding = 0

    async def _when_full(self, payload: bytes, count: int) -> None:
        """The queue has no room: wait (block) or drop, as the policy and the stop say."""
        sink = self._sink
        stream = self._stream
        if self._full is FullOutput.DROP or self._stalled:
            sink.discard(stream, count)
            return
        stop_wait_from: float | None = None
        while True:
            timeout = WAIT_SLICE
            if self._stopping is not None and self._stopping.is_set():
                now = anyio.current_time()
                stop_wait_from = now if stop_wait_from is None else stop_wait_from
                timeout = stop_wait_from + STOP_STALL_WAIT - now
                if timeout <= 0:
                    # Dropped until the output takes a chunk again: the child must not wait
                    # a second per chunk for a reader that is gone.
                    self._stalled = True
                    sink.discard(stream, count)
                    return
            await anyio.to_thread.run_sync(
                sink.wait_room, len(payload), timeout, abandon_on_cancel=True
            )
            if sink.offer(payload, stream, count):
                return


class RelayPair:
    """One child's stdout and stderr relays, started together and awaited together.

    In `wrap` mode both streams become JSON events on our stdout; in `raw` mode each goes to
    its own descriptor unchanged. `done` is set when both pipes reached EOF, which can be
    later than the child's exit: a process it started may still hold them open.
    """

    __slots__ = ("_relays", "done", "open")

    def __init__(
        self,
        child: Child,
        service: str,
        outputs: Outputs,
        counters: Counters,
        *,
        mode: ChildLogs,
        console: bool,
        full: FullOutput = FullOutput.BLOCK,
        stopping: anyio.Event | None = None,
    ) -> None:
        streams = (("stdout", child.stdout_fd), ("stderr", child.stderr_fd))
        self._relays: list[Relay] = []
        for stream, fd in streams:
            render: Render
            if mode is ChildLogs.RAW:
                render = render_raw
                sink = outputs.stdout if stream == "stdout" else outputs.stderr
            else:
                render = WrapFormatter(service, stream, child.pid, console=console).render
                sink = outputs.stdout
            self._relays.append(
                Relay(fd, stream, sink, counters, render, full=full, stopping=stopping)
            )
        self.open = len(self._relays)
        self.done = anyio.Event()

    def start(self, tg: TaskGroup) -> None:
        """Run both relays as tasks of `tg`."""
        for relay in self._relays:
            tg.start_soon(self._run, relay)

    async def _run(self, relay: Relay) -> None:
        try:
            await relay.run()
        finally:
            self.open -= 1
            if self.open == 0:
                self.done.set()

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for both pipes to close; True when they did."""
        with anyio.move_on_after(seconds):
            await self.done.wait()
        return self.done.is_set()
