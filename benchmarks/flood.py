"""Relay: the child writes N lines of 100 bytes; the harness reads the supervisor's output.

Both of the supervisor's streams are pipes the harness reads into memory (no parsing while
the clock runs). The clock runs from the child's `flood_start` to the read that brings the
last line. Afterwards every line is checked:

- intact: the exact 100-byte payload (raw), or a JSON object whose "event" is the payload
  without its newline (bots-runtime's wrap mode);
- mangled: a payload's sequence number seen only inside a damaged line (split, joined
  with foreign bytes, or bad JSON);
- lost: a sequence number never seen at all.
Lines that carry no payload (the supervisor's own logs) are foreign and ignored.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import time
from typing import TYPE_CHECKING

from benchmarks import procfs
from benchmarks.child import flood_bytes, payload
from benchmarks.events import BenchError, pid_running
from benchmarks.launcher import STOP_WAIT_S, started
from benchmarks.peers import base_env, child_argv

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.events import EventChannel
    from benchmarks.peers import Variant

METRICS = ("flood_wall_ms", "lines_per_s", "lines_lost", "lines_mangled", "flood_cpu_ms")
SEQ = re.compile(rb"#(\d{7})\|")
NO_LINE, INTACT, MANGLED = 0, 1, 2


class Capture:
    """Reads several pipes into memory until EOF on all of them."""

    def __init__(self, fds: list[int]) -> None:
        self.open = list(fds)
        self.chunks: dict[int, list[bytes]] = {fd: [] for fd in fds}
        self._tail: dict[int, bytes] = dict.fromkeys(fds, b"")

    def pump(self, timeout: float, marker: bytes | None = None) -> bool:
        """Read what arrives within `timeout`; True if `marker` and a newline after it arrived."""
        ready, _, _ = select.select(self.open, [], [], timeout)
        found = False
        for fd in ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self.open.remove(fd)
                os.close(fd)
                continue
            self.chunks[fd].append(chunk)
            if marker is not None:
                window = self._tail[fd] + chunk
                at = window.find(marker)
                found = found or (at >= 0 and window.find(b"\n", at) >= 0)
                self._tail[fd] = window[-4096:]
        return found

    def until(self, marker: bytes, timeout: float) -> float:
        """Monotonic time of the read that completed the line holding `marker`."""
        deadline = time.monotonic() + timeout
        while self.open:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self.pump(left, marker):
                return time.monotonic()
        raise BenchError(f"the last line {marker!r} never arrived")

    def drain(self, timeout: float) -> None:
        """Read to EOF on every pipe."""
        deadline = time.monotonic() + timeout
        while self.open and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        for fd in self.open:
            os.close(fd)
        self.open.clear()

    def data(self, fd: int) -> bytes:
        """Everything read from `fd`."""
        return b"".join(self.chunks[fd])


def check(streams: list[bytes], lines: int) -> tuple[int, int, int]:
    """Count (intact, lost, mangled) payload lines over all streams."""
    seen = bytearray(lines)
    expected_raw = flood_bytes(lines)
    if streams and streams[0] == expected_raw:
        seen[:] = bytes([INTACT]) * lines
        streams = streams[1:]
    for data in streams:
        for line in data.split(b"\n"):
            if not line:
                continue
            seq = _intact_seq(line, lines)
            if seq is not None:
                seen[seq] = INTACT
                continue
            for match in SEQ.finditer(line):
                number = int(match.group(1))
                if number < lines and seen[number] == NO_LINE:
                    seen[number] = MANGLED
    return seen.count(INTACT), seen.count(NO_LINE), seen.count(MANGLED)


def _intact_seq(line: bytes, lines: int) -> int | None:
    text = line
    if line.startswith(b"{"):
        try:
            event = json.loads(line).get("event")
        except (ValueError, AttributeError):
            return None
        if not isinstance(event, str):
            return None
        text = event.encode()
    match = SEQ.match(text)
    if match is None:
        return None
    seq = int(match.group(1))
    if seq < lines and text + b"\n" == payload(seq):
        return seq
    return None


def measure(variant: Variant, workdir: Path, channel: EventChannel, lines: int) -> dict[str, float]:
    """One repetition for one variant."""
    channel.reset()
    launch = variant.build(child_argv(channel.path, "flood", lines), workdir, base_env())
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    capture = Capture([r_out, r_err])
    try:
        with started(launch, workdir, stdout=w_out, stderr=w_err) as run:
            os.close(w_out)
            os.close(w_err)
            start = channel.wait("start", 60, alive=run.pid)
            child_pid = int(start.values[0])
            deadline = time.monotonic() + 60
            while channel.find("ready") is None:
                if time.monotonic() > deadline or not pid_running(run.pid):
                    raise BenchError("the flood child never became ready")
                capture.pump(0.02)
                channel.poll(0.0)
            direct = variant.name == "direct"
            sup = [] if direct else procfs.supervisor_pids(run.pid, child_pid)
            if sup:
                procfs.settle(sup)
            capture.pump(0.0)
            cpu0 = procfs.cpu_ns(sup)
            os.kill(child_pid, signal.SIGUSR1)
            t_end = capture.until(b"#%07d|" % (lines - 1), 300)
            cpu1 = procfs.cpu_ns(sup)
            t_start = channel.wait("flood_start", 10).time
            os.kill(child_pid if direct else run.pid, signal.SIGTERM)
            capture.drain(STOP_WAIT_S)
            if run.pidfd.wait(STOP_WAIT_S) is None:
                raise BenchError(f"{variant.name} still running after SIGTERM")
    finally:
        capture.drain(0)
    intact, lost, mangled = check([capture.data(r_out), capture.data(r_err)], lines)
    wall = t_end - t_start
    return {
        "flood_wall_ms": wall * 1000,
        "lines_per_s": intact / wall,
        "lines_lost": lost,
        "lines_mangled": mangled,
        "flood_cpu_ms": (cpu1 - cpu0) / 1e6,
    }
