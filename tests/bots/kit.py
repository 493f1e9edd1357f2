"""Helpers for the Bots EDI tests: per-test Bots environments made by the real init-db.

Which Bots runs is one setting: `BOTS_RUNTIME_TEST_BOTS_VENV=/path/to/venv` names a venv that
holds Bots (any version) and bots-runtime's dependencies; without it, the Bots installed next
to the test's own Python (3.3.1 from PyPI in CI). The runtime always runs as
`<venv>/bin/python -m bots_runtime` with this checkout first on PYTHONPATH, so the code under
test is the checkout's, and what a test expects of a Bots version comes from the generation
table (`GENERATION`), never from an `if` on the version here.

Every test gets its own Bots folder with its own engine-lock, webserver and jobqueue ports
(Bots needs fixed numbers in bots.ini), so tests never share a port or a database. Runtimes
are `tests.support.RuntimeProcess` handles, started by the `run_runtime` fixture.
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import http.server
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bots_runtime.bots import generation as generations
from bots_runtime.bots import initdb
from tests.support import RuntimeProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
VENV_SETTING = "BOTS_RUNTIME_TEST_BOTS_VENV"
#: The venv of the Bots under test, its programs, and the Python that runs them (and us).
BOTS_VENV = Path(os.environ.get(VENV_SETTING) or Path(sys.executable).parent.parent)
BOTS_BIN = BOTS_VENV / "bin"
BOTS_PYTHON = str(BOTS_BIN / "python") if os.environ.get(VENV_SETTING) else sys.executable
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
ROUTES = Path(__file__).resolve().parent / "routes.py"


def have_bots() -> bool:
    return (BOTS_BIN / "bots-engine").is_file()


@functools.cache
def bots_version() -> str:
    """The version of the Bots under test, found the way init-db finds it."""
    return initdb.find_bots(BOTS_PYTHON, {"PATH": BASE_PATH}).version


@functools.cache
def generation() -> generations.Generation:
    """The rules of the Bots under test: where every version-specific expectation comes from."""
    return generations.for_version(bots_version())[0]


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
        """The environment a user would give the runtime: no venv on PATH on purpose.

        PYTHONPATH puts this checkout first, so `<venv>/bin/python -m bots_runtime` runs it.
        """
        base = {
            "PATH": BASE_PATH,
            "HOME": str(self.root),
            "BOTS_CONFIG_DIR": str(self.config),
            "PYTHONPATH": str(ROOT),
        }
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
        that differs (a container's volume). The route itself comes in through Bots' own
        plugin reader (`routes.py`), as a user's would.
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
        self.routes("--route", f"{name}:{parts}")
        return marker

    def deactivate_routes(self) -> None:
        """Every route inactive, as unticking "active" in the GUI does."""
        self.routes("--deactivate-all")

    def routes(self, *args: str, **env: str) -> list[list[object]]:
        """Run `routes.py` with the Bots under test; returns the active (route, seq) pairs."""
        index = generation().plugin_index
        done = subprocess.run(
            [BOTS_PYTHON, str(ROUTES), f"-c{self.config}", "--index", index, *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        active: list[list[object]] = json.loads(done.stdout.strip().splitlines()[-1])
        return active


def init_db(root: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The real init-db, in-process, with the Bots under test; (exit code, output)."""
    out = io.StringIO()
    code = initdb.main(str(root / "config"), env or {}, out=out, err=out, executable=BOTS_PYTHON)
    return code, out.getvalue()


def make_bots_dir(root: Path, env: dict[str, str] | None = None) -> BotsDir:
    code, out = init_db(root, env)
    assert code == 0, out
    bots = BotsDir(root, free_port(), free_port(), free_port())
    bots.set("settings", "port", str(bots.engine_port))
    bots.set("webserver", "port", str(bots.web_port))
    bots.set("jobqueue", "port", str(bots.jobqueue_port))
    return bots


StartRuntime = Callable[..., RuntimeProcess]

_CAN_LOG_IN = """
import json, sys
from bots import botsinit
botsinit.generalinit(sys.argv[1])
from django.contrib.auth import authenticate
pairs = json.loads(sys.stdin.read())
print(json.dumps([authenticate(username=u, password=p) is not None for u, p in pairs]))
"""


def can_log_in(
    config: Path, pairs: list[tuple[str, str]], env: dict[str, str] | None = None
) -> list[bool]:
    """For each (user, password): whether Django's own authentication, in the Bots under
    test and on its database, lets that login in (what the GUI's login form asks)."""
    done = subprocess.run(
        [BOTS_PYTHON, "-c", _CAN_LOG_IN, str(config)],
        input=json.dumps(pairs),
        env={"PATH": BASE_PATH, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers: list[bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return answers


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run `bots-runtime ARGS` to completion (check, init-db, a failing start)."""
    return subprocess.run(
        [BOTS_PYTHON, "-m", "bots_runtime", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _gateway_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def pushgateway(data: Path) -> Iterator[str]:
    """A Pushgateway of our own on 127.0.0.1 and a free port; stopped by PID afterwards."""
    assert PUSHGATEWAY is not None, "prometheus-pushgateway is not installed"
    port = free_port()
    proc = subprocess.Popen(
        [
            PUSHGATEWAY,
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={data / 'pushgateway.data'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _gateway_answers(url), 15, "the Pushgateway")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class SlowGateway(http.server.ThreadingHTTPServer):
    """A Pushgateway stand-in that holds each push (POST or PUT) until the test lets it answer."""

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

    # The engine's report group is replaced with PUT, its exit-code group added to with POST.
    do_PUT = do_POST  # noqa: N815 - the name http.server dispatches PUT to

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        """Quiet."""
