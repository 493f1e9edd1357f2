"""A real `bots-runtime` whose stdout is a pipe nobody reads until the caller says so.

Like a container log driver that stopped reading: the runtime's stdout fills, and the
caller decides when (or whether) reading resumes. The health port comes from `--port auto`
and the port file, as for `RuntimeProcess`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.runtime import PYTHON, ROOT
from tests.support.waits import wait_until

__all__ = ["StalledRuntime"]


class StalledRuntime:
    """`bots-runtime ARGS` with stdout into a pipe that nobody reads until `read_on()`."""

    def __init__(self, *args: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="bots-runtime-stall-")
        port_file = Path(self._dir.name) / "port"
        self._port_file = port_file
        self.read_end, write_end = os.pipe()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOTS_RUNTIME_")}
        head = ["--host", "127.0.0.1", "--port", "auto", "--port-file", str(port_file)]
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "bots_runtime", *head, "--log-format", "json", *args],
            stdout=write_end,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        os.close(write_end)
        self.data = bytearray()
        self._reader: threading.Thread | None = None
        self.port = int(
            wait_until(lambda: _read_int(port_file), 15, "the port file")  # before the child
        )

    def get(self, path: str) -> tuple[int, str, float]:
        """(status, body, seconds) of GET `path`; status 0 when no answer within 2 s."""
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return int(r.status), r.read().decode(), time.monotonic() - started
        except urllib.error.HTTPError as err:
            return int(err.code), err.read().decode(), time.monotonic() - started
        except OSError:
            return 0, "", time.monotonic() - started

    def metric(self, name: str, label: str) -> float:
        status, body, _ = self.get("/metrics")
        assert status == 200, "/metrics did not answer"
        for line in body.splitlines():
            if line.startswith(f"{name}{{{label}}} "):
                return float(line.rsplit(" ", 1)[1])
        pytest.fail(f"{name}{{{label}}} not in /metrics")

    def held_back(self, timeout: float = 30.0) -> float:
        """Wait until the relayed line count stands still (queue full, child waiting); return it.

        The count is compared over 0.3 s: the child prints about every 0.1 ms when not held.
        """
        last = [-1.0]

        def still() -> float | None:
            now = self.metric("bots_runtime_log_lines_total", 'stream="stdout"')
            if now == last[0]:
                return now
            last[0] = now
            time.sleep(0.3)
            return None

        count: float = wait_until(still, timeout, "the child to be held back")
        return count

    def read_on(self) -> None:
        """From now on, read everything the runtime writes (on a thread)."""

        def pump() -> None:
            while chunk := os.read(self.read_end, 1 << 16):
                self.data.extend(chunk)

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()

    def read_to_end(self, timeout: float = 10.0) -> None:
        """Read until EOF (the runtime and everything holding our pipe has exited)."""
        if self._reader is None:
            self.read_on()
        assert self._reader is not None
        self._reader.join(timeout)

    def events(self) -> list[dict[str, object]]:
        """Every line read so far, each of which must be a whole JSON object."""
        text = bytes(self.data).decode()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines()]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.read_end)
        if self._reader is not None:
            self._reader.join(5)
        self._dir.cleanup()


def _read_int(path: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return 0
