"""The webserver's EDI gauges: what Bots' database says about the recent past.

A `GaugeReader` for the runtime's collector runner, so it is read in the background.

One reading is five small queries on one read-only connection, each on an index or a tiny
table: the files of the last 24 h per route and state (`filereport.ts` is indexed), the newest
`report` row and the newest crash recovery (primary key, read backwards), the `mutex` rows (0
or 1) and the active routes (a configuration table). Nothing here scans `ta`. Every replica
reads on its own; docs/edi-metrics.md has the measured cost.

A PostgreSQL or MySQL connection is kept between readings (a SCRAM login costs about 9 ms,
the queries well under 1 ms) and dropped after any error; SQLite is opened for each reading.
Only one reading runs at a time: a reading abandoned at its timeout keeps its worker thread,
and the next one fails at once instead of piling up threads on a hung database.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any

from bots_runtime.bots.connection import ReadError, connect, dialect, query
from bots_runtime.bots.outcomes import CRASH_RECOVERY, FILE_STATES, OTHER, STATES
from bots_runtime.core.hooks import GaugeFamily

if TYPE_CHECKING:
    from collections.abc import Callable

    from bots_runtime.bots.connection import Connection, Dialect
    from bots_runtime.bots.environment import Database

WINDOW = 24 * 3600.0
PREFIX = "bots_edi_"


class RecentEdi:
    """Reads the EDI gauges of the last `window` seconds from Bots' database."""

    def __init__(
        self,
        database: Database,
        *,
        window: float = WINDOW,
        timeout: float = 4.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._database = database
        self._window = window
        self._timeout = timeout
        self._clock = clock
        self._busy = threading.Lock()
        self._kept: Connection | None = None

    async def __call__(self) -> tuple[GaugeFamily, ...]:
        """Read in a worker thread; the runner's timeout abandons a hung one."""
        import anyio.to_thread  # noqa: PLC0415 - the event loop is running by now

        return await anyio.to_thread.run_sync(self._read_alone, abandon_on_cancel=True)

    def _read_alone(self) -> tuple[GaugeFamily, ...]:
        if not self._busy.acquire(blocking=False):
            msg = "the previous reading has not returned yet (is the database hung?)"
            raise ReadError(msg)
        try:
            return self._read()
        finally:
            self._busy.release()

    def _read(self) -> tuple[GaugeFamily, ...]:
        sql = dialect(self._database)
        connection = self._connection()
        try:
            return read_gauges(connection, sql, now=self._clock(), window=self._window)
        except BaseException:
            self._drop()
            raise
        finally:
            if sql.kind == "sqlite":
                self._drop()

    def _connection(self) -> Connection:
        if self._kept is None:
            self._kept = connect(self._database, self._timeout)
        return self._kept

    def _drop(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped anyway
                kept.close()


def read_gauges(
    connection: Connection, dialect: Dialect, *, now: float, window: float = WINDOW
) -> tuple[GaugeFamily, ...]:
    """Every EDI gauge from one read of Bots' database at `now` (Unix seconds)."""
    problems = query(
        connection,
        dialect.sql(
            "SELECT idroute, statust, COUNT(*) FROM filereport"
            " WHERE ts >= SINCE(?) GROUP BY idroute, statust"
        ),
        (dialect.cutoff(window, now),),
    )
    routes = query(
        connection, dialect.sql("SELECT DISTINCT idroute FROM routes WHERE active = ?"), (True,)
    )
    last = query(
        connection,
        dialect.sql(
            "SELECT INSTANT(ts), type, status, lastreceived, lastdone, lasterror, lastok,"
            " lastopen FROM report ORDER BY idta DESC LIMIT 1"
        ),
    )
    recovery = query(
        connection,
        dialect.sql("SELECT INSTANT(ts) FROM report WHERE type = ? ORDER BY idta DESC LIMIT 1"),
        (CRASH_RECOVERY,),
    )
    lock = query(connection, dialect.sql("SELECT COUNT(*), MIN(INSTANT(ts)) FROM mutex"))
    families = [
        _recent_files(problems, [str(row[0]) for row in routes]),
        GaugeFamily(
            PREFIX + "recent_window_seconds",
            "Length of the window of the bots_edi_recent_* gauges.",
            samples=(((), window),),
        ),
    ]
    families.extend(_last_run(dialect, last))
    if recovery and (stamp := dialect.epoch(recovery[0][0])) is not None:
        families.append(
            GaugeFamily(
                PREFIX + "last_crash_recovery_timestamp_seconds",
                "Unix time in report.ts of the newest crash recovery (the crashed run's start).",
                samples=(((), stamp),),
            )
        )
    families.extend(_lock(dialect, lock))
    return tuple(families)


def _recent_files(rows: list[Any], active: list[str]) -> GaugeFamily:
    counts = {(route, state): 0 for route in active for state in STATES}
    for route, statust, number in rows:
        key = (str(route), FILE_STATES.get(int(statust), OTHER))
        counts[key] = counts.get(key, 0) + int(number)
    return GaugeFamily(
        PREFIX + "recent_files",
        "Files received in the window per route and how they ended: done, error, stuck, open"
        " (filereport.statust; every state of every active route, 0 when none).",
        labels=("route", "status"),
        samples=tuple(((route, state), float(n)) for (route, state), n in sorted(counts.items())),
    )


def _last_run(dialect: Dialect, rows: list[Any]) -> list[GaugeFamily]:
    if not rows:
        return []
    ts, kind, status, received, done, error, ok, still_open = rows[0]
    families = [
        GaugeFamily(
            PREFIX + "last_run_info",
            "The newest report row (the last command of the last engine run); always 1.",
            labels=("type",),
            samples=(((str(kind),), 1.0),),
        ),
        GaugeFamily(
            PREFIX + "last_run_failed",
            "1 when the last command had errors (report.status; the engine exits 2).",
            samples=(((), 1.0 if status else 0.0),),
        ),
        GaugeFamily(
            PREFIX + "last_run_files_received",
            "Files the last command received (report.lastreceived).",
            samples=(((), float(received)),),
        ),
        GaugeFamily(
            PREFIX + "last_run_files",
            "Files of the last command by how they ended (report.lastdone, lasterror, lastok,"
            " lastopen).",
            labels=("status",),
            samples=tuple(
                ((state,), float(value))
                for state, value in zip(STATES, (done, error, ok, still_open), strict=True)
            ),
        ),
    ]
    stamp = dialect.epoch(ts)
    if stamp is not None:
        families.append(
            GaugeFamily(
                PREFIX + "last_run_timestamp_seconds",
                "Unix time in report.ts of the last command (when its engine run started).",
                samples=(((), stamp),),
            )
        )
    return families


def _lock(dialect: Dialect, rows: list[Any]) -> list[GaugeFamily]:
    held, since = rows[0] if rows else (0, None)
    families = [
        GaugeFamily(
            PREFIX + "engine_lock_rows",
            "Rows in Bots' mutex table: 1 while an engine runs, or after one died.",
            samples=(((), float(held or 0)),),
        )
    ]
    stamp = dialect.epoch(since) if held else None
    if stamp is not None:
        families.append(
            GaugeFamily(
                PREFIX + "engine_lock_timestamp_seconds",
                "Unix time the oldest mutex row was written (the engine lock was taken).",
                samples=(((), stamp),),
            )
        )
    return families
