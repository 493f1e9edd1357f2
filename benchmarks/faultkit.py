"""What every fault case needs: real runtimes, probes, Bots environments, and what is left.

The runtime is driven through the test suite's own black-box handle (`RuntimeProcess`) and
Bots environments are made with the suite's kit (the real init-db), so a fault here and a
test there exercise the same thing. Their bounded waits fail with pytest's `Failed`, which
counts as an outcome that did not happen, like `FaultError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from benchmarks import procfs
from bots_runtime.process.lock import LockBusyError, RunLock
from tests.bots.kit import BotsDir, make_bots_dir
from tests.support import CHILD, PYTHON, RuntimeProcess
from tests.support.stalled import StalledRuntime

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = [
    "CHILD",
    "PYTHON",
    "BotsDir",
    "Context",
    "FaultError",
    "Outcome",
    "Storm",
    "expect",
    "probe_ms",
]

#: A bounded wait of the suite's helpers that ran out.
Failed = pytest.fail.Exception
LOCK_FILE = ".bots-engine.lock"


class FaultError(Exception):
    """The documented outcome did not happen."""


def expect(condition: object, what: str) -> None:
    """Raise `FaultError(what)` unless `condition` holds."""
    if not condition:
        raise FaultError(what)


@dataclass
class Outcome:
    """What one run of a fault measured besides "as documented"."""

    note: str = ""
    lines_lost: int = 0
    zombies: int = 0
    stale_locks: int = 0


@dataclass
class Sizes:
    """How big the heavy faults are (the smoke mode shrinks them)."""

    flood_bytes: int
    line_bytes: int
    idle_connections: int
    half_sent: int
    probes: int

    @classmethod
    def full(cls) -> Sizes:
        """The sizes of the issue: 1 GB in 1 MB lines, 6,000 idle and 1,000 half-sent."""
        return cls(1 << 30, 1 << 20, 6000, 1000, 500)

    @classmethod
    def smoke(cls) -> Sizes:
        """Small enough for CI."""
        return cls(16 << 20, 1 << 20, 600, 100, 100)


@dataclass
class Context:
    """One run of one fault: a work folder, the sizes, and what to clean up afterwards."""

    workdir: Path
    sizes: Sizes
    image: str | None = None
    runtimes: list[RuntimeProcess] = field(default_factory=list)
    stalled: list[StalledRuntime] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def runtime(self, *args: str, **kwargs: Any) -> RuntimeProcess:
        """`bots-runtime --log-format json ARGS` as a `RuntimeProcess` (killed at the end)."""
        rt = RuntimeProcess(["--log-format", "json", *args], stdin=subprocess.DEVNULL, **kwargs)
        self.runtimes.append(rt)
        return rt

    def bots_runtime(
        self, bots: BotsDir, *args: str, health: bool = False, **kwargs: Any
    ) -> RuntimeProcess:
        """A runtime in a user's bare environment for the Bots folder `bots`."""
        head = () if health else ("--port", "0")
        return self.runtime(
            *head,
            *args,
            env=bots.env(),
            inherit_env=False,
            health=health,
            start_new_session=True,
            **kwargs,
        )

    def stalled_runtime(self, *args: str) -> StalledRuntime:
        """A runtime whose stdout nobody reads until `read_on()`."""
        rt = StalledRuntime(*args)
        self.stalled.append(rt)
        return rt

    def bots(self, name: str = "bots") -> BotsDir:
        """A fresh Bots environment made by the real init-db, with ports of its own."""
        return make_bots_dir(self.workdir / name)

    def close(self) -> None:
        """Stop whatever the run left running (its own processes only), then the rest."""
        for rt in self.runtimes:
            with contextlib.suppress(Exception):
                rt.kill(grace=2.0)
        for stalled in self.stalled:
            with contextlib.suppress(Exception):
                stalled.close()
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def ticks(lines: list[str]) -> list[int]:
    """The numbers of the test child's `tick N` lines, in the order seen."""
    return [int(line.split()[1]) for line in lines if line.startswith("tick ")]


def gaps(numbers: list[int]) -> int:
    """Numbers missing from 0 to the highest seen (lines lost before the last that came)."""
    return (max(numbers) + 1 - len(set(numbers))) if numbers else 0


def stalled_ticks(rt: StalledRuntime) -> list[int]:
    """Tick numbers among everything a stalled runtime's reader got so far."""
    out = []
    for event in rt.events():
        text = str(event.get("event", ""))
        if event.get("logger") == "child" and text.startswith("tick "):
            out.append(int(text.split()[1]))
    return out


def mutex_rows(bots: BotsDir) -> int:
    """Rows in Bots' `mutex` table (a run that did not end cleanly leaves one)."""
    with contextlib.closing(sqlite3.connect(f"file:{bots.db}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM mutex").fetchone()[0])


def stale_locks(bots: BotsDir) -> int:
    """Mutex rows plus the runtime's engine run lock if something still holds it."""
    count = mutex_rows(bots)
    path = bots.botssys / LOCK_FILE
    if path.exists():
        lock = RunLock(str(path))
        try:
            lock.acquire()
        except LockBusyError:
            count += 1
        else:
            lock.release()
    return count


def marker_words(marker: Path) -> list[str]:
    """What a sleep route wrote to its marker so far."""
    try:
        return marker.read_text().split()
    except OSError:
        return []


def probe_ms(port: int, path: str = "/readyz", timeout: float = 5.0) -> tuple[int, float]:
    """(status, milliseconds) of one probe on a new connection, as the kubelet sends it."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    elapsed = (time.perf_counter() - started) * 1000
    head = b"".join(chunks).split(b"\r\n", 1)[0].split()
    return (int(head[1]) if len(head) > 1 and head[1].isdigit() else 0), elapsed


class Storm:
    """SIGTERM to `pid` every half millisecond, from `start()` until the process has exited.

    The process is waited for without reaping it (`waitid(WNOWAIT)`): while it is a zombie
    its pid cannot be reused, so every signal reaches the right process or none.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
                self.sent += 1
            time.sleep(0.0005)

    def start(self) -> None:
        """Begin sending."""
        self._thread.start()

    def until_exit(self) -> None:
        """Wait for the process to exit (not reaped), then stop sending."""
        try:
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        finally:
            self._stop.set()
            self._thread.join()


def leftovers(keep: frozenset[int] = frozenset()) -> tuple[int, int]:
    """(zombies, live processes) below the harness, which is a subreaper, besides `keep`."""
    me = os.getpid()
    found = [p for p in procfs.descendants(me) if p.pid != me and p.pid not in keep]
    zombies = sum(1 for p in found if p.state == "Z")
    return zombies, len(found) - zombies


def json_lines(data: bytes) -> list[dict[str, Any]]:
    """Every whole line of `data` as JSON (a line that is not JSON raises)."""
    text = data.decode()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def python_child(code: str, *args: str) -> list[str]:
    """argv for a small inline child program."""
    return [sys.executable, "-c", code, *args]
