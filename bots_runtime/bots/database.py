"""The database readiness check: Bots' own database answers a query on the `mutex` table.

The webserver serves `/` without touching the database, so `GET /` alone cannot see a
missing SQLite file or an unreachable PostgreSQL server; this does, like the reference
deployment's `SELECT 1`, but in the background check runner instead of an exec probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from bots_runtime.core.spec import CheckFailedError

if TYPE_CHECKING:
    from bots_runtime.bots import environment as botsenv


@dataclass(frozen=True, slots=True)
class DatabaseProbe:
    """Ready when Bots' database answers; the password is only used to connect, never shown."""

    database: botsenv.Database
    connect_timeout: int = 2

    async def __call__(self) -> str:
        """Run the query in a worker thread (the drivers block)."""
        import anyio.to_thread  # noqa: PLC0415 - kept out of start-up

        try:
            return await anyio.to_thread.run_sync(self._query, abandon_on_cancel=True)
        except CheckFailedError:
            raise
        except Exception as exc:  # noqa: BLE001 - any driver error means not ready
            text = " ".join(str(exc).split()) or type(exc).__name__
            msg = f"{self.database.describe()}: {text}"
            raise CheckFailedError(msg) from None

    def _query(self) -> str:
        db = self.database
        if db.is_sqlite:
            import sqlite3  # noqa: PLC0415 - only SQLite setups need it

            if not Path(db.name).is_file():
                msg = f"{db.name} does not exist"
                raise CheckFailedError(msg)
            connection = sqlite3.connect(
                f"file:{quote(db.name)}?mode=ro", uri=True, timeout=self.connect_timeout
            )
            try:
                (rows,) = connection.execute("SELECT COUNT(*) FROM mutex").fetchone()
            finally:
                connection.close()
        elif db.is_postgresql:
            import psycopg2  # noqa: PLC0415 - only PostgreSQL setups need it

            pg = psycopg2.connect(
                host=db.host or None,
                port=db.port or None,
                dbname=db.name,
                user=db.user or None,
                password=db.password or None,
                connect_timeout=self.connect_timeout,
            )
            try:
                with pg.cursor() as cursor:
                    cursor.execute("SELECT COUNT(*) FROM mutex")
                    (rows,) = cursor.fetchone()
            finally:
                pg.close()
        else:
            return f"{db.describe()}: not checked"
        state = "an engine is running or died" if rows else "no engine lock"
        return f"{db.describe()} answers ({state})"
