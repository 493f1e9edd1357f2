"""A throw-away PostgreSQL cluster: Debian's server binaries run as the `postgres` user.

It listens on 127.0.0.1 and a free port with SCRAM passwords (as a production server would
ask), has a `bots` login role, and is stopped by the PID in its postmaster.pid. The Bots
PostgreSQL tests and the EDI benchmark both use it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.procs import process_exists
from tests.support.waits import free_port, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

PG_BIN = Path(os.environ.get("BOTS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
#: The `bots` role's password.
PASSWORD = "bots-test-pw"
_AS_POSTGRES = ("runuser", "-u", "postgres", "--")


def unavailable_reason() -> str:
    """Why no cluster can be started here ("" when one can)."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        return f"PostgreSQL server binaries not found in {PG_BIN} (apt install postgresql)"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "needs root and runuser to run the server as the postgres user"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    return ""


@dataclass(frozen=True)
class Cluster:
    """Where the server listens; `psql` runs SQL as its superuser over the socket in `root`."""

    root: Path
    port: int

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one statement as the superuser, return its output."""
        done = subprocess.run(
            [
                *_AS_POSTGRES,
                str(PG_BIN / "psql"),
                *("-h", str(self.root), "-p", str(self.port), "-d", database),
                *("-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql),
            ],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            msg = f"psql: {done.stderr.strip()}"
            raise RuntimeError(msg)
        return done.stdout.strip()

    def new_database(self, name: str) -> None:
        """An empty database owned by `bots`."""
        self.psql(f"CREATE DATABASE {name} OWNER bots")


@contextlib.contextmanager
def cluster(prefix: str, *, durable: bool = True) -> Iterator[Cluster]:
    """Start a cluster with a `bots` login role; stop it and remove its files afterwards.

    `durable=False` turns fsync off: faster for tests, whose data nobody keeps.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.chown(root, "postgres", "postgres")
    port = free_port()
    pwfile = root / "pw"
    pwfile.write_text("postgres-superuser-pw\n")
    shutil.chown(pwfile, "postgres", "postgres")
    data = str(root / "data")
    subprocess.run(
        [
            *_AS_POSTGRES,
            *(str(PG_BIN / "initdb"), "-D", data, "-U", "postgres"),
            *("--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"),
        ],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-h 127.0.0.1 -p {port} -k {root}" + ("" if durable else " -c fsync=off")
    subprocess.run(
        [
            *_AS_POSTGRES,
            *(str(PG_BIN / "pg_ctl"), "-D", data, "-l", str(root / "server.log")),
            *("-w", "-o", options, "start"),
        ],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=120,
    )
    pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
    server = Cluster(root, port)
    try:
        server.psql(f"CREATE ROLE bots LOGIN PASSWORD '{PASSWORD}'")
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # fast shutdown
        wait_until(lambda: not process_exists(pid), 30, "PostgreSQL to stop")
        shutil.rmtree(root, ignore_errors=True)
