"""Read-only connections to Bots' own database, with short timeouts, for reading run results.

The runtime reads Bots' `report`, `filereport` and `mutex` tables directly with the driver of
the database Bots uses (SQLite from the standard library, psycopg2 or psycopg for PostgreSQL,
MySQLdb for MySQL), never through Django: starting Bots' interpreter costs hundreds of
milliseconds, a query costs well under one. Every connection is read-only at the database
(SQLite `mode=ro`, a read-only session elsewhere), so the runtime can never change Bots' data.

Timestamps differ per database, as Bots writes them (docs/edi-metrics.md): on SQLite they are
naive local times in settings.py's `TIME_ZONE` (Django sets the engine process's zone to it);
on PostgreSQL and MySQL the engine's own connection writes them in the server's session zone
(PostgreSQL's `report` and `filereport` columns are timestamptz), so the query turns them
into instants in a session of the same zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bots_runtime.bots.environment import Database

#: Django engine (last dotted part) -> the kind of database, for every engine Bots can use.
KINDS = {
    "sqlite3": "sqlite",
    "postgresql_psycopg2": "postgresql",
    "postgresql": "postgresql",
    "mysql": "mysql",
}


class ReadError(Exception):
    """Bots' database could not be read; the message is one line without the password."""


class Cursor(Protocol):
    """The part of a DB-API cursor the readers use."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any:
        """Run one statement."""
        ...

    def fetchall(self) -> list[Any]:
        """Every row of the result."""
        ...

    def close(self) -> None:
        """Release the cursor."""
        ...


class Connection(Protocol):
    """The part of a DB-API connection the readers use."""

    def cursor(self) -> Any:
        """A new cursor."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


def kind_of(database: Database) -> str:
    """`sqlite`, `postgresql` or `mysql`; `ReadError` for an engine Bots cannot use."""
    kind = KINDS.get(database.engine.rsplit(".", 1)[-1])
    if kind is None:
        msg = f"{database.engine}: no reader for this database engine"
        raise ReadError(msg)
    return kind


@dataclass(frozen=True, slots=True)
class Dialect:
    """How SQL and values differ per database: the placeholder and where time zones apply."""

    kind: str
    zone: str

    @property
    def param(self) -> str:
        """The driver's placeholder: `?` for sqlite3, `%s` for the others."""
        return "?" if self.kind == "sqlite" else "%s"

    def sql(self, text: str) -> str:
        """`text` with `?` placeholders and the markers `INSTANT(ts)`, `SINCE(?)`, for this DB.

        `INSTANT(ts)` is a timestamp column as something `epoch` turns into Unix time:
        PostgreSQL casts it to timestamptz and MySQL takes `UNIX_TIMESTAMP`, both in the
        session's zone, the one the engine wrote Bots' naive columns in; SQLite's text stays
        as it is (local time in `zone`). `SINCE(?)` is the matching bound for `ts >=`.
        """
        if self.kind == "postgresql":
            text = text.replace("INSTANT(ts)", "CAST(ts AS timestamptz)")
        elif self.kind == "mysql":
            text = text.replace("INSTANT(ts)", "UNIX_TIMESTAMP(ts)")
            text = text.replace("SINCE(?)", "FROM_UNIXTIME(?)")
        text = text.replace("INSTANT(ts)", "ts").replace("SINCE(?)", "?")
        return text if self.kind == "sqlite" else text.replace("?", "%s")

    def cutoff(self, seconds_ago: float, now: float) -> object:
        """The parameter of `SINCE(?)`: `seconds_ago` before `now`, as this database compares."""
        if self.kind == "mysql":
            return round(now - seconds_ago)
        instant = dt.datetime.fromtimestamp(now - seconds_ago, dt.UTC)
        if self.kind == "postgresql":
            return instant
        local = instant.astimezone(_zone(self.zone)).replace(tzinfo=None, microsecond=0)
        return local.isoformat(" ")

    def epoch(self, value: object) -> float | None:
        """An `INSTANT(ts)` value as Unix seconds (naive SQLite text: local time in `zone`)."""
        if value is None or value == "":
            return None
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.strip())
        if not isinstance(value, dt.datetime):
            msg = f"not a timestamp: {value!r}"
            raise ReadError(msg)
        if value.tzinfo is None:
            value = value.replace(tzinfo=_zone(self.zone))
        return value.timestamp()


def _zone(name: str) -> dt.tzinfo:
    """settings.py's TIME_ZONE; empty (TIME_ZONE = None) means the system's local time."""
    if not name:
        local = dt.datetime.now().astimezone().tzinfo
        return local if local is not None else dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"TIME_ZONE {name!r} is not a time zone this system knows (tzdata)"
        raise ReadError(msg) from None


def dialect(database: Database) -> Dialect:
    """The dialect of Bots' database, with the zone its naive timestamps are in."""
    return Dialect(kind_of(database), database.time_zone)


def connect(database: Database, timeout: float) -> Connection:
    """A read-only connection; `ReadError` (one line) when it cannot be opened.

    `timeout` bounds connecting, waiting for a lock (SQLite) and each statement (elsewhere).
    """
    kind = kind_of(database)
    try:
        if kind == "sqlite":
            return _sqlite(database, timeout)
        if kind == "postgresql":
            return _postgresql(database, timeout)
        return _mysql(database, timeout)
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - every driver error means "cannot read"
        raise ReadError(_say(database, exc)) from None


def query(connection: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Every row of one read; driver errors become `ReadError`."""
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()
    except Exception as exc:  # noqa: BLE001 - every driver error means "cannot read"
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ReadError(text) from None


def _say(database: Database, exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{database.describe()}: {text}"


def _sqlite(database: Database, timeout: float) -> Connection:
    import sqlite3  # noqa: PLC0415 - only SQLite setups need it

    if not Path(database.name).is_file():
        msg = f"{database.describe()}: the database file does not exist"
        raise ReadError(msg)
    # mode=ro: the file is never written; timeout: how long to wait while the engine writes.
    return sqlite3.connect(
        f"file:{quote(database.name)}?mode=ro", uri=True, timeout=timeout, check_same_thread=False
    )


def _postgresql(database: Database, timeout: float) -> Connection:
    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={int(timeout * 1000)}"
        " -c idle_in_transaction_session_timeout=60000"
    )
    params: dict[str, Any] = {
        "host": database.host or None,
        "port": database.port or None,
        "dbname": database.name,
        "user": database.user or None,
        "password": database.password or None,
        # libpq counts whole seconds and treats 1 as 2.
        "connect_timeout": max(2, round(timeout)),
        "options": options,
        "application_name": "bots-runtime",
    }
    try:
        import psycopg2  # noqa: PLC0415 - the driver Bots 3.3.1 uses
    except ImportError:
        try:
            import psycopg  # noqa: PLC0415 - the driver Bots 4.0 uses
        except ImportError:
            msg = "no PostgreSQL driver (psycopg2 or psycopg) in the runtime's Python"
            raise ReadError(msg) from None
        connection: Connection = psycopg.connect(autocommit=True, **params)
        return connection
    pg = psycopg2.connect(**params)
    pg.autocommit = True
    return pg  # type: ignore[no-any-return]


def _mysql(database: Database, timeout: float) -> Connection:
    try:
        import MySQLdb  # noqa: PLC0415 - mysqlclient, the driver Django uses for MySQL
    except ImportError:
        msg = "no MySQL driver (mysqlclient) in the runtime's Python"
        raise ReadError(msg) from None
    params: dict[str, Any] = {
        "host": database.host or "localhost",
        "user": database.user,
        "passwd": database.password,
        "db": database.name,
        "connect_timeout": max(1, round(timeout)),
        "read_timeout": max(1, round(timeout)),
        "autocommit": True,
    }
    if database.port:
        params["port"] = int(database.port)
    connection = MySQLdb.connect(**params)
    cursor = connection.cursor()
    cursor.execute("SET SESSION TRANSACTION READ ONLY")
    cursor.close()
    return connection  # type: ignore[no-any-return]
