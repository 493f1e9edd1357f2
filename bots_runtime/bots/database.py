"""The database readiness check: Bots' own database answers a query on the `mutex` table.

3.3.1's webserver serves `/` without touching the database, so `GET /` alone cannot see a
missing SQLite file or an unreachable server; this does, like the reference deployment's
`SELECT 1`, but in the background check runner instead of an exec probe. It really connects
for every kind of database Bots can use: SQLite (read-only), PostgreSQL (psycopg 3, else
psycopg2) and MySQL/MariaDB (mysqlclient). Where this interpreter has no driver for the kind,
the check says "not checked" (its own state), never "ok".
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bots_runtime.bots import generation as generations
from bots_runtime.core.spec import CheckFailedError, CheckSkippedError

if TYPE_CHECKING:
    from collections.abc import Callable

    from bots_runtime.bots import environment as botsenv

QUERY = "SELECT COUNT(*) FROM mutex"


@dataclass(frozen=True, slots=True)
class DatabaseProbe:
    """Ready when Bots' database answers; the password is only used to connect, never shown.

    `drivers` are the modules tried in order (the generation table's, by server kind).
    """

    database: botsenv.Database
    connect_timeout: int = 2
    drivers: tuple[str, ...] | None = None

    async def __call__(self) -> str:
        """Run the query in a worker thread (the drivers block)."""
        import anyio.to_thread  # noqa: PLC0415 - kept out of start-up

        try:
            return await anyio.to_thread.run_sync(self._query, abandon_on_cancel=True)
        except (CheckFailedError, CheckSkippedError):
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error means not ready
            text = " ".join(str(exc).split()) or type(exc).__name__
            msg = f"{self.database.describe()}: {text}"
            raise CheckFailedError(msg) from None

    def _query(self) -> str:
        db = self.database
        candidates = self.drivers or generations.PROBE_DRIVERS.get(db.kind, ())
        for name in candidates:
            try:
                driver = importlib.import_module(name)
            except ImportError:
                continue
            rows = _CONNECTORS[name](driver, db, self.connect_timeout)
            state = "an engine is running or died" if rows else "no engine lock"
            return f"{db.describe()} answers through {name} ({state})"
        packages = " or ".join(generations.DRIVER_PACKAGES.get(n, n) for n in candidates)
        msg = (
            f"{db.describe()}: no driver for {db.kind or db.engine} ({packages or 'none known'})"
            f" in {sys.executable}"
        )
        raise CheckSkippedError(msg)


def _sqlite(driver: Any, db: botsenv.Database, timeout: int) -> int:
    if not Path(db.name).is_file():
        msg = f"{db.name} does not exist"
        raise CheckFailedError(msg)
    connection = driver.connect(f"file:{quote(db.name)}?mode=ro", uri=True, timeout=timeout)
    try:
        (rows,) = connection.execute(QUERY).fetchone()
    finally:
        connection.close()
    return int(rows)


def _query_server(connection: Any) -> int:
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(QUERY)
            (rows,) = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()
    return int(rows)


def _psycopg(driver: Any, db: botsenv.Database, timeout: int) -> int:
    """Both psycopg 3 and psycopg2 take the same libpq keywords."""
    return _query_server(
        driver.connect(
            host=db.host or None,
            port=db.port or None,
            dbname=db.name,
            user=db.user or None,
            password=db.password or None,
            connect_timeout=timeout,
        )
    )


def _mysql(driver: Any, db: botsenv.Database, timeout: int) -> int:
    options: dict[str, Any] = {"db": db.name, "connect_timeout": timeout}
    if db.host:
        options["host"] = db.host
    if db.port:
        options["port"] = int(db.port)
    if db.user:
        options["user"] = db.user
    if db.password:
        options["passwd"] = db.password
    return _query_server(driver.connect(**options))


_CONNECTORS: dict[str, Callable[[Any, botsenv.Database, int], int]] = {
    "sqlite3": _sqlite,
    "psycopg": _psycopg,
    "psycopg2": _psycopg,
    "MySQLdb": _mysql,
}
