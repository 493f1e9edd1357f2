"""Helpers and fixtures for the Bots EDI tests: per-test Bots environments, a runtime process.

Not a conftest.py and not a package on purpose: a `tests/bots/__init__.py` would make this
folder importable as `bots` and shadow the real Bots package in the pytest process, and a second
`conftest` module name collides for mypy. Test modules import the fixtures they use from
`bots_fixtures`.

Every test gets its own Bots folder (made by the real init-db) with its own engine-lock,
webserver and jobqueue ports, so tests never share a port or a database. The runtime is run
as `python -m bots_runtime` with JSON logs; the helpers wait for log events and HTTP answers
with bounded deadlines instead of sleeping.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bots_runtime import config, initdb

if TYPE_CHECKING:
    pass

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


def have_bots() -> bool:
    return (VENV_BIN / "bots-engine").is_file()


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def set_ini(path: Path, section: str, key: str, value: str) -> None:
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    if not parser.has_section(section):
        parser.add_section(section)
    parser.set(section, key, value)
    with path.open("w", encoding="utf-8") as handle:
        parser.write(handle)


def remove_ini(path: Path, section: str, key: str | None = None) -> None:
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    if key is None:
        parser.remove_section(section)
    else:
        parser.remove_option(section, key)
    with path.open("w", encoding="utf-8") as handle:
        parser.write(handle)


@dataclass
class BotsDir:
    """One Bots environment made by init-db, with ports of its own."""

    root: Path
    engine_port: int
    web_port: int
    jobqueue_port: int

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def ini(self) -> Path:
        return self.config / "bots.ini"

    @property
    def botssys(self) -> Path:
        return self.root / "botssys"

    @property
    def usersys(self) -> Path:
        return self.root / "usersys"

    @property
    def db(self) -> Path:
        return self.botssys / "sqlitedb" / "botsdb"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a user would give the runtime: no venv on PATH on purpose."""
        base = {"PATH": BASE_PATH, "HOME": str(self.root), "BOTS_CONFIG_DIR": str(self.config)}
        base.update(extra)
        return base

    def set(self, section: str, key: str, value: str) -> None:
        set_ini(self.ini, section, key, value)

    def enable_jobqueue(self) -> None:
        self.set("jobqueue", "enabled", "True")

    def mutex_rows(self) -> int:
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            return int(db.execute("SELECT COUNT(*) FROM mutex").fetchone()[0])

    def add_sleep_route(self, name: str, seconds: float, parts: int = 1) -> Path:
        """An active route of `parts` parts whose routescript sleeps; returns its marker file.

        The script appends `start`, then `end` (or `interrupted` on KeyboardInterrupt) to the
        marker, so a test can tell how far each part got.
        """
        marker = self.root / f"{name}.marker"
        script = self.usersys / "routescripts" / f"{name}.py"
        script.write_text(
            "import time\n"
            f"MARKER = {str(marker)!r}\n"
            "def _note(word):\n"
            "    with open(MARKER, 'a') as handle:\n"
            "        handle.write(word + '\\n')\n"
            "def main(routedict=None, **kwargs):\n"
            "    _note('start')\n"
            "    try:\n"
            f"        time.sleep({seconds!r})\n"
            "    except KeyboardInterrupt:\n"
            "        _note('interrupted')\n"
            "        raise\n"
            "    _note('end')\n",
            encoding="utf-8",
        )
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            for seq in range(1, parts + 1):
                db.execute(
                    "INSERT INTO routes (idroute, seq, active, fromeditype, frommessagetype,"
                    " toeditype, tomessagetype, alt, testindicator, translateind,"
                    " notindefaultrun, defer) VALUES (?, ?, 1, '', '', '', '', '', '', 0, 0, 0)",
                    (name, seq),
                )
            db.commit()
        return marker


def make_bots_dir(root: Path) -> BotsDir:
    invocation = config.parse(["init-db"], {"BOTS_CONFIG_DIR": str(root / "config")})
    out = io.StringIO()
    code = initdb.main(invocation, out=out, err=out)
    assert code == 0, out.getvalue()
    bots = BotsDir(root, free_port(), free_port(), free_port())
    bots.set("settings", "port", str(bots.engine_port))
    bots.set("webserver", "port", str(bots.web_port))
    bots.set("jobqueue", "port", str(bots.jobqueue_port))
    return bots


@dataclass
class Runtime:
    """A `bots-runtime` process with its JSON log lines collected as they arrive."""

    proc: subprocess.Popen[bytes]
    port: int
    started: float
    records: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)
    readers: list[threading.Thread] = field(default_factory=list)

    def _read(self, stream: io.BufferedReader) -> None:
        for raw in stream:
            text = raw.decode(errors="replace").rstrip("\n")
            with self.lock:
                self.lines.append(text)
                with contextlib.suppress(ValueError):
                    record = json.loads(text)
                    if isinstance(record, dict):
                        self.records.append(record)
                self.lock.notify_all()

    def start_reading(self) -> None:
        for stream in (self.proc.stdout, self.proc.stderr):
            assert stream is not None
            thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
            thread.start()
            self.readers.append(thread)

    def find(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r
                for r in self.records
                if r.get("event") == event and all(r.get(k) == v for k, v in fields.items())
            ]

    def wait_event(
        self, event: str, timeout: float = 15.0, count: int = 1, **fields: Any
    ) -> dict[str, Any]:
        """The `count`-th log record with this event (and fields), waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [
                    r
                    for r in self.records
                    if r.get("event") == event and all(r.get(k) == v for k, v in fields.items())
                ]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no {event!r} log event within {timeout:g}s:\n{self.output()}")
                self.lock.wait(left)

    def wait_line(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no line with {text!r} within {timeout:g}s:\n{self.output()}")
                self.lock.wait(left)

    def output(self) -> str:
        with self.lock:
            return "\n".join(self.lines[-80:])

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
        wait_until(lambda: self.status(path) == status, timeout, f"{path} to answer {status}")

    def metric(self, name: str) -> float | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/metrics", timeout=2
            ) as reply:
                body = reply.read().decode()
        except OSError:
            return None
        for line in body.splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        return None

    def child_pid(self, count: int = 1) -> int:
        return int(self.wait_event("child started", count=count)["pid"])

    def signal(self, sig: signal.Signals) -> float:
        """Send `sig` to the runtime; returns the monotonic time it was sent."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        return sent

    def wait_exit(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"runtime still running after {timeout:g}s:\n{self.output()}")
        for thread in self.readers:
            thread.join(5)
        return code


StartRuntime = Callable[..., Runtime]


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run `bots-runtime ARGS` to completion (check, init-db, a failing start)."""
    return subprocess.run(
        [sys.executable, "-m", "bots_runtime", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
