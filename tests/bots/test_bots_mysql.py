"""init-db, the engine and readiness against a real MariaDB server (Debian's mariadb-server).

The fixture makes a throw-away server in a temporary directory, owned by the `mysql` user,
listening on 127.0.0.1 and a free port, and stops it by its PID afterwards. These tests run
where the Bots under test offers MySQL in init-db and its interpreter has mysqlclient (Bots
4.0 in a venv of its own; CI's Bots 3.3.1 offers neither, so CI skips them with that reason).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bots_runtime.bots import initdb
from tests.bots.kit import (
    BOTS_PYTHON,
    BotsDir,
    StartRuntime,
    generation,
    have_bots,
    make_bots_dir,
    run_cli,
)
from tests.support import free_port, process_exists, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = shutil.which("mariadb-install-db")
CLIENT = shutil.which("mariadb")
PASSWORD = "bots-test-pw"


def _available() -> str | None:
    if not MARIADBD.is_file() or INSTALL_DB is None or CLIENT is None:
        return "MariaDB server binaries not found (apt install mariadb-server)"
    if os.geteuid() != 0:
        return "needs root to run the server as the mysql user"
    if not have_bots():
        return "Bots EDI is not installed"
    if "mysql" not in generation().initdb.db_engines:
        return f"init-db for {generation().label} does not offer MySQL"
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('MySQLdb') is None)"
    if subprocess.run([BOTS_PYTHON, "-c", code], check=False, timeout=30).returncode:
        return f"{BOTS_PYTHON} has no MySQL driver (mysqlclient)"
    return None


SKIP_REASON = _available()
pytestmark = [
    pytest.mark.mysql,
    pytest.mark.bots,
    pytest.mark.slow,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]


@dataclass
class Server:
    """A running MariaDB: where it listens and how to run SQL as its root user (socket)."""

    root: Path
    port: int

    def sql(self, statement: str, database: str = "") -> str:
        assert CLIENT is not None
        done = subprocess.run(
            [CLIENT, "--no-defaults", "-S", str(self.root / "sock"), "-u", "root", "-N", "-B"]
            + ([database] if database else [])
            + ["-e", statement],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def new_database(self, name: str) -> None:
        self.sql(
            f"CREATE DATABASE {name} CHARACTER SET utf8mb4;"
            f" GRANT ALL ON {name}.* TO 'bots'@'127.0.0.1';"
        )


@pytest.fixture(name="mysql", scope="module")
def _mysql() -> Iterator[Server]:
    assert INSTALL_DB is not None
    root = Path(tempfile.mkdtemp(prefix="bots-runtime-mariadb-"))
    (root / "data").mkdir()
    shutil.chown(root, "mysql", "mysql")
    shutil.chown(root / "data", "mysql", "mysql")
    subprocess.run(
        [
            INSTALL_DB,
            "--no-defaults",
            "--user=mysql",
            f"--datadir={root / 'data'}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            "--innodb-log-file-size=8M",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            str(MARIADBD),
            "--no-defaults",
            "--user=mysql",
            f"--datadir={root / 'data'}",
            f"--socket={root / 'sock'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={root / 'mariadbd.pid'}",
            f"--log-error={root / 'error.log'}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=8M",
            "--innodb-flush-log-at-trx-commit=0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server(root, port)
    try:
        wait_until((root / "sock").exists, 30, "MariaDB to listen")
        server.sql(f"CREATE USER 'bots'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)  # a clean shutdown
        proc.wait(60)
        wait_until(lambda: not process_exists(proc.pid), 30, "MariaDB to stop")
        shutil.rmtree(root, ignore_errors=True)


def my_env(server: Server, database: str, **extra: str) -> dict[str, str]:
    env = {
        "BOTS_DB_ENGINE": "mysql",
        "BOTS_DB_HOST": "127.0.0.1",
        "BOTS_DB_PORT": str(server.port),
        "BOTS_DB_NAME": database,
        "BOTS_DB_USER": "bots",
        "BOTS_DB_PASSWORD": PASSWORD,
    }
    env.update(extra)
    return env


def init(root: Path, env: dict[str, str]) -> tuple[int, str]:
    out = io.StringIO()
    code = initdb.main(str(root / "config"), env, out=out, err=out, executable=BOTS_PYTHON)
    return code, out.getvalue()


def ports(root: Path) -> BotsDir:
    """Give an init-db folder its own ports (init-db itself has nothing left to do)."""
    return make_bots_dir(root)


def test_init_db_creates_schema_then_nothing(mysql: Server, tmp_path: Path) -> None:
    """1. init-db on an empty database: Django's migrations, Bots' raw-SQL tables (with their
       column defaults), the GUI superuser.
    2. A second init-db says "nothing to do"."""
    mysql.new_database("bots_a")
    code, out = init(tmp_path / "a", my_env(mysql, "bots_a"))
    assert code == 0, out
    assert "migrations)" in out
    assert "GUI superuser bots" in out
    for table in generation().initdb.raw_sql["mysql"]:
        assert f"table {table} from " in out
    default = mysql.sql(
        "SELECT column_default FROM information_schema.columns WHERE table_schema = 'bots_a'"
        " AND table_name = 'mutex' AND column_name = 'ts'"
    )
    assert default.lower().startswith("current_timestamp")
    assert mysql.sql("SELECT COUNT(*) FROM auth_user", "bots_a") == "1"
    code, out = init(tmp_path / "a", my_env(mysql, "bots_a"))
    assert code == 0, out
    assert out.strip().startswith("init-db: nothing to do;"), out
    assert "mysql bots@127.0.0.1" in out


def test_engine_runs_on_mysql(mysql: Server, tmp_path: Path, run_runtime: StartRuntime) -> None:
    """The real bots-engine runs on the new schema: exit 0, one report row, no mutex row."""
    mysql.new_database("bots_b")
    env = my_env(mysql, "bots_b")
    assert init(tmp_path / "b", env)[0] == 0
    bots = ports(tmp_path / "b")
    runtime = run_runtime(["engine"], bots.env(**env))
    assert runtime.wait(60) == 0, runtime.output()
    assert mysql.sql("SELECT COUNT(*) FROM mutex", "bots_b") == "0"
    assert mysql.sql("SELECT COUNT(*) FROM report", "bots_b") == "1"


def test_webserver_ready_with_database(
    mysql: Server, tmp_path: Path, run_runtime: StartRuntime
) -> None:
    """The database check really connects to MySQL (mysqlclient) and passes: `[+]database ok`."""
    mysql.new_database("bots_c")
    env = my_env(mysql, "bots_c")
    assert init(tmp_path / "c", env)[0] == 0
    bots = ports(tmp_path / "c")
    runtime = run_runtime(["--drain-delay", "0", "webserver"], bots.env(**env))
    runtime.wait_status("/readyz", 200, timeout=30)
    assert "[+]database ok" in runtime.text("/readyz?verbose")
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0, runtime.output()


def test_wrong_password_not_ready(mysql: Server, tmp_path: Path, run_runtime: StartRuntime) -> None:
    """A wrong MySQL password: the database check fails naming the database, never the
    password, and /readyz stays 503."""
    mysql.new_database("bots_d")
    assert init(tmp_path / "d", my_env(mysql, "bots_d"))[0] == 0
    bots = ports(tmp_path / "d")
    env = my_env(mysql, "bots_d", BOTS_DB_PASSWORD="wrong-secret")
    runtime = run_runtime(["--drain-delay", "0", "webserver"], bots.env(**env))
    runtime.wait_event("child running", timeout=20)
    wait_until(
        lambda: "[-]database failed: mysql bots@127.0.0.1" in runtime.text("/readyz?verbose"),
        30,
        "the database check to fail",
    )
    text = runtime.text("/readyz?verbose")
    assert "bots_d" in text
    assert "wrong-secret" not in text
    assert runtime.status("/readyz") == 503
    runtime.signal(signal.SIGTERM)
    assert runtime.wait(25) == 0, runtime.output()


def test_missing_database_is_one_line(mysql: Server, tmp_path: Path) -> None:
    """init-db against a database that does not exist: exit 78, one line, no password."""
    done = run_cli(
        ["init-db"],
        {
            "PATH": "/usr/bin:/bin",
            "BOTS_CONFIG_DIR": str(tmp_path / "m" / "config"),
            **my_env(mysql, "no_such_db"),
        },
    )
    assert done.returncode == 78, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "settings.py: DATABASES['default'] (mysql bots@127.0.0.1:" in lines[0]
    assert PASSWORD not in done.stderr
