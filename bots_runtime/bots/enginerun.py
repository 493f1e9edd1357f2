"""The engine's run hooks: note Bots' report watermark before the spawn, report the run after.

Before the spawn (`EngineRunWatch`, a before-spawn hook) the newest `report` row is read
directly from Bots' database, read-only, with a short timeout: about a millisecond on SQLite,
a connection plus one primary-key lookup on PostgreSQL. After the run (`EngineRunReport`, the
after-run hook it returns) the rows Bots wrote since are read, logged as one event with the
numbers, and, with a Pushgateway, pushed next to the run's exit code.

Nothing here changes the run's exit code. A database that cannot be read costs one warning
line, and the pushed `bots_engine_last_run_outcome_known` is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bots_runtime.bots import push
from bots_runtime.bots.connection import ReadError, connect, dialect
from bots_runtime.bots.outcomes import read_outcome, read_watermark

if TYPE_CHECKING:
    from collections.abc import Callable

    from bots_runtime.bots.environment import Database
    from bots_runtime.bots.outcomes import RunOutcome, Watermark
    from bots_runtime.core.hooks import EventLog, RunRecord

#: Seconds to connect or wait for a lock before the spawn: a database that slow is down.
WATERMARK_TIMEOUT = 2.0
READ_TIMEOUT = 3.0
#: The whole end-of-run read: a connection and three statements, each under READ_TIMEOUT.
READ_DEADLINE = 4.0


@dataclass(frozen=True, slots=True)
class EngineRunWatch:
    """Before-spawn hook: the watermark, carried by the `EngineRunReport` it returns."""

    database: Database
    pushgateway: str | None = None

    def __call__(self) -> EngineRunReport:
        """Read the watermark now; a failure is kept for the report, never raised."""
        try:
            mark = _watermark(self.database)
        except ReadError as err:
            return EngineRunReport(self.database, self.pushgateway, None, f"before the run: {err}")
        return EngineRunReport(self.database, self.pushgateway, mark)


def _watermark(database: Database) -> Watermark:
    connection = connect(database, WATERMARK_TIMEOUT)
    try:
        return read_watermark(connection)
    finally:
        connection.close()


def read_run(database: Database, mark: Watermark, timeout: float = READ_TIMEOUT) -> RunOutcome:
    """What Bots reported for the run since `mark`; `ReadError` when it cannot be read."""
    connection = connect(database, timeout)
    try:
        return read_outcome(connection, dialect(database), mark)
    finally:
        connection.close()


@dataclass(frozen=True, slots=True)
class EngineRunReport:
    """After-run hook: read the run's report rows, log them, push them (with a gateway)."""

    database: Database
    pushgateway: str | None
    mark: Watermark | None
    problem: str = ""
    #: The reading, then both pushes side by side (5 s each at most).
    timeout: float = READ_DEADLINE + push.PUSH_TIMEOUT + 1.0

    async def __call__(self, run: RunRecord, log: EventLog) -> None:
        """Read in a worker thread (the drivers block); the exit code stands either way."""
        import anyio  # noqa: PLC0415 - the event loop is running by now
        import anyio.to_thread  # noqa: PLC0415

        outcome: RunOutcome | None = None
        problem = self.problem
        if self.mark is not None:
            mark = self.mark
            problem = f"after the run: no answer within {READ_DEADLINE:g}s"
            # Its own deadline, so a hung database still leaves time to push "unknown".
            with anyio.move_on_after(READ_DEADLINE):
                try:
                    outcome = await anyio.to_thread.run_sync(
                        lambda: read_run(self.database, mark), abandon_on_cancel=True
                    )
                except ReadError as err:
                    problem = f"after the run: {err}"
        if outcome is None:
            text = f"engine run outcome unknown: Bots' report cannot be read {problem}"
            log.warning(
                text,
                edi_outcome="unknown",
                database=self.database.describe(),
                code=run.exit_code,
            )
        else:
            trouble = outcome.has_errors or not outcome.commands
            say = log.warning if trouble else log.info
            say(outcome.summary(), code=run.exit_code, **outcome.fields())
        if self.pushgateway:
            await _push_all(self.pushgateway, run, outcome, log)


async def _push_all(url: str, run: RunRecord, outcome: RunOutcome | None, log: EventLog) -> None:
    """Both groups at once, so the hook takes one push timeout, not two."""
    import anyio  # noqa: PLC0415 - the event loop is running by now
    import anyio.to_thread  # noqa: PLC0415

    started = run.started_at if run.started_at is not None else run.ended_at
    failures: list[str] = []

    def engine() -> None:
        push.push_engine_run(
            url,
            started_at=started,
            duration=max(0.0, run.ended_at - started),
            exit_code=run.exit_code,
            crash_recovery=outcome is not None and outcome.crash_recovery,
        )

    def report() -> None:
        push.push_outcome(url, outcome)

    async def attempt(work: Callable[[], None]) -> None:
        try:
            await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except push.PushError as err:
            failures.append(str(err))

    async with anyio.create_task_group() as group:
        group.start_soon(attempt, engine)
        group.start_soon(attempt, report)
    if failures:
        log.warning("pushgateway push failed", url=url, error="; ".join(sorted(set(failures))))
    else:
        log.info("pushed engine run metrics", url=url, code=run.exit_code)
