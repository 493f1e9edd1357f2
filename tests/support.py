"""Test support: a black-box handle on a real `bots-runtime` process and the test child.

`RuntimeProcess` starts the CLI as a real process, reads its stdout/stderr on threads, parses
JSON lines into events, and lets a test wait for a condition with a deadline. Nothing sleeps
to synchronise.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHILD = ROOT / "tests" / "programs" / "child.py"
PYTHON = sys.executable

Event = dict[str, Any]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll `condition` until it returns something truthy; fail the test at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


class RuntimeProcess:
    """A running `python -m bots_runtime ...` with its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, **popen: Any) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("BOTS_RUNTIME_")}
        full_env.update(env or {})
        self.args = args
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "bots_runtime", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=ROOT,
            **popen,
        )
        self._setup_readers()

    def _setup_readers(self) -> None:
        self.stdout: list[bytes] = []
        self.stderr: list[bytes] = []
        self._changed = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, stream: Any, sink: list[bytes]) -> None:
        for line in iter(stream.readline, b""):
            with self._changed:
                sink.append(line)
                self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self) -> list[Event]:
        """Every stdout line that parses as a JSON object."""
        out: list[Event] = []
        for line in list(self.stdout):
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    out.append(item)
        return out

    def runtime_events(self, name: str) -> list[Event]:
        return [e for e in self.events() if e.get("logger") == "runtime" and e["event"] == name]

    def child_lines(self, stream: str = "stdout") -> list[str]:
        return [
            e["event"]
            for e in self.events()
            if e.get("logger") == "child" and e.get("stream") == stream
        ]

    def wait_for(self, predicate: Callable[[RuntimeProcess], Any], timeout: float = 10.0) -> Any:
        """Wait until `predicate(self)` is truthy (re-checked on every new output line)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._alive_readers()):
                    value = predicate(self)
                    if value:
                        return value
                    pytest.fail(
                        f"timed out waiting ({timeout}s) for {predicate}; rc={self.proc.poll()}\n"
                        f"stdout: {b''.join(self.stdout[-30:]).decode(errors='replace')}\n"
                        f"stderr: {b''.join(self.stderr[-30:]).decode(errors='replace')}"
                    )
                self._changed.wait(min(remaining, 0.1))

    def _alive_readers(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait_event(self, name: str, timeout: float = 10.0, **fields: Any) -> Event:
        def match(rt: RuntimeProcess) -> Event | None:
            for event in rt.runtime_events(name):
                if all(event.get(k) == v for k, v in fields.items()):
                    return event
            return None

        result: Event = self.wait_for(match, timeout)
        return result

    def wait_child_line(self, text: str, timeout: float = 10.0) -> None:
        self.wait_for(lambda rt: text in rt.child_lines(), timeout)

    def child_pid(self) -> int:
        return int(self.wait_event("child started")["pid"])

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def wait(self, timeout: float = 30.0) -> int:
        rc = self.proc.wait(timeout)
        self._close()
        return rc

    def _close(self) -> None:
        for thread in self._threads:
            thread.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._close()


def process_exists(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


RuntimeFactory = Callable[..., RuntimeProcess]
ChildCmd = Callable[..., list[str]]
