"""A throw-away PostgreSQL cluster for the EDI benchmark: Debian's server binaries, run as the
`postgres` user on 127.0.0.1 and a free port with SCRAM passwords (as a production server
would ask), stopped by the PID in its postmaster.pid."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.peers import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

PG_BIN = Path(os.environ.get("BOTS_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
PASSWORD = "bots-bench-pw"


def unavailable_reason() -> str:
    """Why no cluster can be started here ("" when one can)."""
    if not (PG_BIN / "initdb").is_file():
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
    """Where the server listens; `psql` runs SQL as its superuser."""

    root: Path
    port: int

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one statement as the superuser, return its output."""
        done = subprocess.run(
            [
                *("runuser", "-u", "postgres", "--", str(PG_BIN / "psql")),
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
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout.strip()


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster with a `bots` login role; stop it and remove its files afterwards."""
    root = Path(tempfile.mkdtemp(prefix="bots-bench-pg-"))
    shutil.chown(root, "postgres", "postgres")
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    pwfile = root / "pw"
    pwfile.write_text("postgres-superuser-pw\n")
    shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        [
            *as_postgres,
            *(str(PG_BIN / "initdb"), "-D", str(root / "data"), "-U", "postgres"),
            *("--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"),
        ],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            *as_postgres,
            *(str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log")),
            *("-w", "-o", f"-h 127.0.0.1 -p {port} -k {root}", "start"),
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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)
