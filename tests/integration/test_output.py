"""`Output` on a real pipe: never waits for its reader, drops and counts, resumes, ends."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator

import pytest

from bots_runtime.process.output import Output
from tests.support import wait_until

PIPE_BYTES = 4096


@pytest.fixture(name="pipe")
def _pipe() -> Iterator[tuple[int, int]]:
    """A pipe with the smallest buffer Linux allows, so it is full after a few lines.

    At the end the read end is closed first: a writer thread still blocked on the pipe gets
    EPIPE and stops, instead of writing into a later test's pipe that reuses the numbers.
    """
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):
            os.close(fd)
        if fd == read_end:
            time.sleep(0.05)


def event(n: int) -> str:
    return json.dumps({"event": "e", "n": n, "pad": "x" * 80}) + "\n"


def read_all(fd: int, until: float = 2.0) -> bytes:
    """Read until `until` seconds pass without new data."""
    os.set_blocking(fd, False)
    chunks = []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < until:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        if not chunk:
            break
        chunks.append(chunk)
        quiet_since = time.monotonic()
    return b"".join(chunks)


class TestOwnEvents:
    def test_writing_never_waits_for_a_reader(self, pipe: tuple[int, int]) -> None:
        """2,000 events into a 4 KiB pipe nobody reads return at once; the rest is counted."""
        _, write_end = pipe
        out = Output(write_end, event_budget=8192)
        started = time.monotonic()
        for n in range(2000):
            out.write(event(n))
        took = time.monotonic() - started
        assert took < 1.0
        wait_until(lambda: out.flow.writing_since is not None, 5, "the writer to block")
        assert out.flow.events_dropped > 1000
        assert 0 < out.flow.waiting_bytes <= 8192 + len(event(0))
        assert out.flow.waiting_events > 0

    def test_drops_are_summarised_once_output_flows_again(self, pipe: tuple[int, int]) -> None:
        """1. events fill the pipe and the queue; the rest is dropped and counted
        2. the reader comes back: everything kept arrives whole, in order
        3. one summary call reports exactly the dropped count."""
        read_end, write_end = pipe
        reports: list[tuple[int, int]] = []
        out = Output(write_end, event_budget=8192)
        out.on_resume = lambda events, lines: reports.append((events, lines))
        for n in range(500):
            out.write(event(n))
        dropped = out.flow.events_dropped
        assert dropped > 0
        data = read_all(read_end)
        lines = data.decode().splitlines()
        numbers = [json.loads(line)["n"] for line in lines]
        assert numbers == sorted(numbers)
        assert len(numbers) + dropped == 500
        assert numbers[0] == 0
        wait_until(lambda: reports, 5, "the summary")
        assert reports == [(dropped, 0)]
        assert out.flow.waiting_bytes == 0


class TestChildLines:
    def test_offer_refuses_when_full_and_room_comes_back(self, pipe: tuple[int, int]) -> None:
        """The child's share refuses a chunk when full; `wait_room` returns once it is read."""
        read_end, write_end = pipe
        out = Output(write_end, child_budget=16384)
        chunk = b"line\n" * 1000
        accepted = 0
        while out.offer(chunk, "stdout", 1000):
            accepted += 1
            assert accepted < 100, "a full pipe must fill the queue"
        assert out.flow.lines_dropped["stdout"] == 0
        waiter = threading.Thread(target=out.wait_room, args=(len(chunk), 10.0))
        waiter.start()
        time.sleep(0.2)
        assert waiter.is_alive(), "no room yet: the waiter must still wait"
        reader = threading.Thread(target=read_all, args=(read_end,))
        reader.start()
        waiter.join(5)
        assert not waiter.is_alive()
        assert out.offer(chunk, "stdout", 1000)
        reader.join(10)

    def test_discarded_lines_are_counted_by_stream(self) -> None:
        out = Output(-1)
        out.discard("stderr", 7)
        assert out.flow.lines_dropped == {"stdout": 0, "stderr": 7}


class TestEnd:
    def test_close_on_a_stalled_pipe_is_bounded(self, pipe: tuple[int, int]) -> None:
        """close(0.3) returns after about 0.3 s with a stuck writer, counting what is left."""
        _, write_end = pipe
        out = Output(write_end)
        for n in range(200):
            out.write(event(n))
        started = time.monotonic()
        assert out.close(0.3) is False
        assert time.monotonic() - started < 2.0
        assert out.flow.events_dropped > 0
        assert out.flow.waiting_bytes == 0
        out.write(event(999))
        assert out.offer(b"late\n", "stdout", 1)
        assert out.flow.lines_dropped["stdout"] == 1

    def test_close_waits_for_a_reader_that_keeps_up(self, pipe: tuple[int, int]) -> None:
        read_end, write_end = pipe
        out = Output(write_end)
        for n in range(200):
            out.write(event(n))
        reader = threading.Thread(target=read_all, args=(read_end, 0.5))
        reader.start()
        assert out.close(10.0) is True
        assert out.flow.events_dropped == 0
        reader.join(10)

    def test_reader_gone_turns_the_output_off_quietly(self, pipe: tuple[int, int]) -> None:
        """EPIPE: no exception anywhere, later lines are counted as dropped."""
        read_end, write_end = pipe
        os.close(read_end)
        out = Output(write_end)
        out.write(event(0))
        wait_until(lambda: out.broken, 5, "EPIPE to be seen")
        assert out.offer(b"x\n", "stdout", 1)
        assert out.flow.lines_dropped["stdout"] == 1
        assert out.close(1.0) is True
