"""Helpers for the Bots EDI tests: per-test Bots environments made by the real init-db.

Every test gets its own Bots folder with its own engine-lock, webserver and jobqueue ports
(Bots needs fixed numbers in bots.ini), so tests never share a port or a database. Runtimes
are `tests.support.RuntimeProcess` handles, started by the `run_runtime` fixture.
"""

from __future__ import annotations

import configparser
import contextlib
import http.server
import io
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bots_runtime.bots import initdb
from tests.support import RuntimeProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


def have_bots() -> bool:
    return (VENV_BIN / "bots-engine").is_file()


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

    def add_sleep_route(
        self,
        name: str,
        seconds: float,
        parts: int = 1,
        cleanup: float = 0.0,
        seen_as: Path | None = None,
    ) -> Path:
        """An active route of `parts` parts whose routescript sleeps; returns its marker file.

        The script appends `start`, then `end` (or `interrupted` on KeyboardInterrupt) to the
        marker, so a test can tell how far each part got. With `cleanup`, the script takes
        that long to clean up after the interrupt (then appends `cleaned`), like a route
        that closes its connections. `seen_as` is this folder as the engine sees it, when
        that differs (a container's volume).
        """
        marker = self.root / f"{name}.marker"
        marker_seen = (seen_as or self.root) / f"{name}.marker"
        script = self.usersys / "routescripts" / f"{name}.py"
        script.write_text(
            "import time\n"
            f"MARKER = {str(marker_seen)!r}\n"
            "def _note(word):\n"
            "    with open(MARKER, 'a') as handle:\n"
            "        handle.write(word + '\\n')\n"
            "def main(routedict=None, **kwargs):\n"
            "    _note('start')\n"
            "    try:\n"
            f"        time.sleep({seconds!r})\n"
            "    except KeyboardInterrupt:\n"
            "        _note('interrupted')\n"
            + (f"        time.sleep({cleanup!r})\n        _note('cleaned')\n" if cleanup else "")
            + "        raise\n"
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
    out = io.StringIO()
    code = initdb.main(str(root / "config"), {}, out=out, err=out)
    assert code == 0, out.getvalue()
    bots = BotsDir(root, free_port(), free_port(), free_port())
    bots.set("settings", "port", str(bots.engine_port))
    bots.set("webserver", "port", str(bots.web_port))
    bots.set("jobqueue", "port", str(bots.jobqueue_port))
    return bots


StartRuntime = Callable[..., RuntimeProcess]


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


class SlowGateway(http.server.ThreadingHTTPServer):
    """A Pushgateway stand-in that holds each push until the test lets it answer."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: SlowGateway

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.arrived.set()
        self.server.release.wait(10)
        self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Quiet."""
