"""A black-box handle on a real `bots-runtime` process and the test child.

`RuntimeProcess` starts the CLI as a real process, reads its stdout and stderr on threads,
parses JSON lines into events, and lets a test wait for a condition with a deadline. With
`health=True` the runtime gets `--port auto --port-file FILE`, so no test races another for a
port: the runtime binds any free port and the handle reads the number it wrote. Nothing
sleeps to synchronise.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from bots_runtime.process.procfs import read_stat

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "programs" / "child.py"
PYTHON = sys.executable

Event = dict[str, Any]


class RuntimeProcess:
    """A running `python -m bots_runtime ...` with its output collected line by line.

    `env` is added to our own environment (minus `BOTS_RUNTIME_*`), or used as it is with
    `inherit_env=False`, which the Bots tests do to start from a user's bare environment.
    `python` runs the runtime (the Bots tests use the interpreter of the Bots under test).
    """

    def __init__(
        self,
        args: list[str],
        env: dict[str, str] | None = None,
        *,
        inherit_env: bool = True,
        health: bool = False,
        prefix: tuple[str, ...] = (),
        python: str = PYTHON,
        **popen: Any,
    ) -> None:
        if inherit_env:
            full_env = {k: v for k, v in os.environ.items() if not k.startswith("BOTS_RUNTIME_")}
            full_env.update(env or {})
        else:
            full_env = dict(env or {})
        self._port_dir = tempfile.TemporaryDirectory(prefix="bots-runtime-port-")
        self.port_file = Path(self._port_dir.name) / "port"
        head = ["--host", "127.0.0.1", "--port", "auto", "--port-file", str(self.port_file)]
        self.args = args
        self.started = time.monotonic()
        self.argv = [*prefix, python, "-m", "bots_runtime", *(head if health else []), *args]
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=popen.pop("cwd", ROOT),
            **popen,
        )
        self.stdout: list[bytes] = []
        self.stderr: list[bytes] = []
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, stream: IO[bytes], sink: list[bytes]) -> None:
        for line in iter(stream.readline, b""):
            with self._changed:
                sink.append(line)
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        """The health port the runtime bound (it writes the file before the child starts)."""

        def read() -> int:
            with contextlib.suppress(OSError, ValueError):
                return int(self.port_file.read_text().strip())
            return 0

        port: int = self.wait_for(lambda _rt: read(), timeout=15.0)
        return port

    # --- output -------------------------------------------------------------------------

    def events(self) -> list[Event]:
        """Every stdout line that parses as a JSON object."""
        return _objects(list(self.stdout))

    def records(self) -> list[Event]:
        """Every JSON object on either stream (Bots' own lines are not JSON)."""
        return _objects(list(self.stdout) + list(self.stderr))

    def find(self, name: str, **fields: Any) -> list[Event]:
        """Every record with this event text and these fields."""
        return [
            r
            for r in self.records()
            if r.get("event") == name and all(r.get(k) == v for k, v in fields.items())
        ]

    def runtime_events(self, name: str) -> list[Event]:
        return [e for e in self.events() if e.get("logger") == "runtime" and e["event"] == name]

    def child_lines(self, stream: str = "stdout") -> list[str]:
        return [
            e["event"]
            for e in self.events()
            if e.get("logger") == "child" and e.get("stream") == stream
        ]

    def output(self, last: int = 80) -> str:
        with self._changed:
            return "\n".join(self.lines[-last:])

    # --- waiting ------------------------------------------------------------------------

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
                        f"output:\n{chr(10).join(self.lines[-40:])}"
                    )
                self._changed.wait(min(remaining, 0.1))

    def _alive_readers(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait_event(self, name: str, timeout: float = 15.0, count: int = 1, **fields: Any) -> Event:
        """The `count`-th record with this event text (and fields), waiting up to `timeout`."""

        def match(rt: RuntimeProcess) -> Event | None:
            found = rt.find(name, **fields)
            return found[count - 1] if len(found) >= count else None

        result: Event = self.wait_for(match, timeout)
        return result

    def wait_line(self, text: str, timeout: float = 15.0) -> str:
        found: str = self.wait_for(
            lambda rt: next((line for line in rt.lines if text in line), None), timeout
        )
        return found

    def wait_child_line(self, text: str, timeout: float = 10.0) -> None:
        self.wait_for(lambda rt: text in rt.child_lines(), timeout)

    def child_pid(self, count: int = 1) -> int:
        return int(self.wait_event("child started", count=count)["pid"])

    # --- the health port ----------------------------------------------------------------

    def status(self, path: str) -> int:
        """HTTP status of GET `path` on the runtime's health port (0: no answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except OSError:
            return 0

    def text(self, path: str) -> str:
        """Body of GET `path` on the health port, whatever the status ("" if no answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as reply:
                return str(reply.read().decode())
        except urllib.error.HTTPError as err:
            return str(err.read().decode())
        except OSError:
            return ""

    def wait_status(self, path: str, status: int, timeout: float = 20.0) -> None:
        self.wait_for(lambda rt: rt.status(path) == status, timeout)

    def metric(self, name: str) -> float | None:
        """The value of the first sample of `name` on /metrics, None if absent."""
        for line in self.text("/metrics").splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        return None

    # --- signals and the end ------------------------------------------------------------

    def signal(self, signum: int) -> float:
        """Send `signum` to the runtime; returns the monotonic time it was sent."""
        sent = time.monotonic()
        os.kill(self.proc.pid, signum)
        return sent

    def wait(self, timeout: float = 30.0) -> int:
        """The runtime's exit code; the test fails if it is still running after `timeout`."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runtime still running after {timeout:g}s:\n{self.output()}")
        self._close()
        return rc

    def _close(self) -> None:
        for thread in self._threads:
            thread.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        self._port_dir.cleanup()

    def kill(self, grace: float = 0.0) -> None:
        """End a runtime a test left running, and the children it started.

        The child runs in its own session, so killing the runtime alone would orphan it:
        with `grace`, the runtime is first asked to stop (SIGTERM) and given that long; then
        the runtime and every child it logged that still lives get SIGKILL.
        """
        if self.proc.poll() is None and grace > 0:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for record in self.find("child started"):
            pid = int(record["pid"])
            stat = read_stat(pid)
            # Our children lead their own process group; a reused pid would not.
            if stat is not None and not stat.zombie and stat.pgrp == pid:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
        self._close()


def _objects(lines: list[bytes]) -> list[Event]:
    out: list[Event] = []
    for line in lines:
        with contextlib.suppress(ValueError):
            item = json.loads(line)
            if isinstance(item, dict):
                out.append(item)
    return out


RuntimeFactory = Callable[..., RuntimeProcess]
ChildCmd = Callable[..., list[str]]
