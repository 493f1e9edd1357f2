"""What one engine run did, read from the rows Bots itself wrote: `report`, `filereport`, `ta`.

Bots writes one `report` row per engine command (`new`, `resend`, `rereceive`,
`automaticretrycommunication`, `crashrecovery`) when the command ends, keyed by the command's
root `ta` row, and one `filereport` row per incoming file. `idta` only grows, so the run's rows
are those above the newest `report.idta` seen before the engine started (the watermark).

One exception (docs/edi-metrics.md): an engine killed after it wrote its report is recovered
by the next run, which rewrites that very row, at the watermark, as type `crashrecovery`. The
row at the watermark is therefore read too and counted only when its type changed that way.

Queries stay on primary keys: `filereport` has no index on `reportidta`, so the file counts
are bounded by `idta > watermark` (a file's `idta` is above its command's root), and process
errors are read from `ta` from the run's first root on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bots_runtime.bots.connection import query

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from bots_runtime.bots.connection import Connection, Dialect

#: `statust` of a file's trace -> the state Bots' report counts it in ("ok" at the end = stuck).
FILE_STATES: Mapping[int, str] = {3: "done", 1: "error", 2: "stuck", 0: "open"}
STATES = ("done", "error", "stuck", "open")
#: Any other `statust` on a filereport row (Bots writes none of these for finished files).
OTHER = "other"
CRASH_RECOVERY = "crashrecovery"
#: ta.status PROCESS with ta.statust ERROR: a process error (a route part that failed).
PROCESS, ERROR = 1, 1

_REPORT = (
    "SELECT idta, type, status, lastreceived, lastdone, lasterror, lastok, lastopen, send,"
    " processerrors, filesize FROM report WHERE idta >= ? ORDER BY idta"
)
_FILES = (
    "SELECT idroute, statust, COUNT(*), SUM(filesize) FROM filereport"
    " WHERE idta > ? AND reportidta IN ({roots}) GROUP BY idroute, statust"
)
_PROCESS_ERRORS = (
    "SELECT idroute, COUNT(*) FROM ta WHERE idta >= ? AND status = ? AND statust = ?"
    " GROUP BY idroute"
)


@dataclass(frozen=True, slots=True)
class Watermark:
    """The newest `report` row before the run: its `idta` (0: none yet) and its type."""

    idta: int
    type: str = ""


@dataclass(frozen=True, slots=True)
class Command:
    """One `report` row: what one engine command did (or the sum of `count` such rows)."""

    idta: int
    type: str
    #: Rows with `status` true (the command had errors): 0 or 1 for one row.
    failures: int
    received: int
    files: Mapping[str, int]
    sent: int
    process_errors: int
    received_bytes: int
    count: int = 1

    @property
    def failed(self) -> bool:
        """Bots' own verdict: the command had errors (its engine exits 2)."""
        return self.failures > 0

    def plus(self, other: Command) -> Command:
        """The sum of two commands of the same type."""
        return Command(
            idta=min(self.idta, other.idta),
            type=self.type,
            received=self.received + other.received,
            files={s: self.files.get(s, 0) + other.files.get(s, 0) for s in STATES},
            sent=self.sent + other.sent,
            process_errors=self.process_errors + other.process_errors,
            received_bytes=self.received_bytes + other.received_bytes,
            count=self.count + other.count,
            failures=self.failures + other.failures,
        )


@dataclass(frozen=True, slots=True)
class RouteOutcome:
    """One route's files (from `filereport`) and process errors (from `ta`) in the run."""

    route: str
    files: Mapping[str, int] = field(default_factory=dict)
    received_bytes: int = 0
    process_errors: int = 0


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """Every command of one engine run and the same counts per route."""

    commands: tuple[Command, ...] = ()
    routes: tuple[RouteOutcome, ...] = ()
    #: The crash recovery rewrote the report row at the watermark (an earlier run's).
    rewritten: bool = False

    def by_type(self) -> dict[str, Command]:
        """The commands summed per type (a run has each type at most once, in practice)."""
        out: dict[str, Command] = {}
        for command in self.commands:
            out[command.type] = out[command.type].plus(command) if command.type in out else command
        return out

    @property
    def crash_recovery(self) -> bool:
        """A `crashrecovery` command ran: an earlier run died and was finished by this one."""
        return any(command.type == CRASH_RECOVERY for command in self.commands)

    def files(self, state: str) -> int:
        """Files of the run that ended in `state` (done, error, stuck, open)."""
        return sum(command.files.get(state, 0) for command in self.commands)

    @property
    def received(self) -> int:
        """Files received by every command of the run."""
        return sum(command.received for command in self.commands)

    @property
    def sent(self) -> int:
        """Files sent."""
        return sum(command.sent for command in self.commands)

    @property
    def process_errors(self) -> int:
        """Process errors: route parts that failed outside any file."""
        return sum(command.process_errors for command in self.commands)

    @property
    def received_bytes(self) -> int:
        """Bytes of the incoming files."""
        return sum(command.received_bytes for command in self.commands)

    @property
    def has_errors(self) -> bool:
        """Bots' own verdict (its exit code 2): a command had errors."""
        return any(command.failed for command in self.commands)

    def summary(self) -> str:
        """One line for the log, the way an operator searches for it."""
        if not self.commands:
            # Even an empty run writes a row: none means the engine did not get that far.
            return "engine run wrote no report: Bots did not finish a command"
        problems = [
            _count(route.files.get(state, 0), f"file {word}", f"files {word}")
            + f" on route {route.route}"
            for state, word in (("error", "in error"), ("stuck", "stuck"), ("open", "open"))
            for route in self.routes
            if route.files.get(state, 0)
        ]
        on_routes = 0
        for route in self.routes:
            if route.process_errors:
                on_routes += route.process_errors
                problems.append(
                    _count(route.process_errors, "process error", "process errors")
                    + f" on route {route.route}"
                )
        if self.process_errors > on_routes:
            problems.append(
                _count(self.process_errors - on_routes, "process error", "process errors")
            )
        flows = (
            f"{_count(self.received, 'file', 'files')} received, {self.sent} sent"
            if self.received or self.sent
            else "no files received"
        )
        tail = "; with a crash recovery" if self.crash_recovery else ""
        if self.has_errors or problems:
            what = ", ".join(problems) if problems else "see the Bots report"
            return f"engine run with errors: {what} ({flows}){tail}"
        return f"engine run ok: {flows}{tail}"

    def fields(self) -> dict[str, Any]:
        """The same numbers as structured log fields."""
        verdict = "errors" if self.has_errors else "ok"
        out: dict[str, Any] = {
            "edi_outcome": verdict if self.commands else "none",
            "commands": [command.type for command in self.commands],
            "files_received": self.received,
        }
        out.update({f"files_{state}": self.files(state) for state in STATES})
        out.update(
            files_sent=self.sent,
            process_errors=self.process_errors,
            received_bytes=self.received_bytes,
            crash_recovery=self.crash_recovery,
            previous_report_rewritten=self.rewritten,
            routes={
                route.route: {**route.files, "process_errors": route.process_errors}
                for route in self.routes
            },
        )
        return out


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def read_watermark(connection: Connection) -> Watermark:
    """The newest `report` row now, before the engine starts."""
    rows = query(connection, "SELECT idta, type FROM report ORDER BY idta DESC LIMIT 1")
    if not rows:
        return Watermark(0)
    idta, kind = rows[0]
    return Watermark(int(idta), str(kind or ""))


def read_outcome(connection: Connection, dialect: Dialect, mark: Watermark) -> RunOutcome:
    """Every command the run wrote a `report` row for, and its files and errors per route."""
    commands: list[Command] = []
    rewritten = False
    for row in query(connection, dialect.sql(_REPORT), (mark.idta,)):
        command = _command(row)
        if command.idta == mark.idta:
            if not (command.type == CRASH_RECOVERY and mark.type != CRASH_RECOVERY):
                continue  # the previous run's row, unchanged
            rewritten = True
        commands.append(command)
    if not commands:
        return RunOutcome()
    roots = [command.idta for command in commands]
    placeholders = ", ".join("?" * len(roots))
    files = query(connection, dialect.sql(_FILES.format(roots=placeholders)), (mark.idta, *roots))
    errors = query(connection, dialect.sql(_PROCESS_ERRORS), (min(roots), PROCESS, ERROR))
    return RunOutcome(tuple(commands), _routes(files, errors), rewritten)


def _command(row: tuple[Any, ...]) -> Command:
    idta, kind, status, received, done, error, ok, still_open, sent, process_errors, size = row
    return Command(
        idta=int(idta),
        type=str(kind),
        failures=1 if status else 0,
        received=int(received),
        files={"done": int(done), "error": int(error), "stuck": int(ok), "open": int(still_open)},
        sent=int(sent),
        process_errors=int(process_errors),
        received_bytes=int(size or 0),
    )


def _routes(
    files: Iterable[tuple[Any, ...]], errors: Iterable[tuple[Any, ...]]
) -> tuple[RouteOutcome, ...]:
    counts: dict[str, dict[str, int]] = {}
    sizes: dict[str, int] = {}
    process: dict[str, int] = {}
    for route, statust, number, size in files:
        state = FILE_STATES.get(int(statust), OTHER)
        per_route = counts.setdefault(str(route), dict.fromkeys(STATES, 0))
        per_route[state] = per_route.get(state, 0) + int(number)
        sizes[str(route)] = sizes.get(str(route), 0) + int(size or 0)
    for route, number in errors:
        if route:  # a process error outside any route counts in the totals only
            process[str(route)] = int(number)
    return tuple(
        RouteOutcome(
            route=name,
            files=counts.get(name, dict.fromkeys(STATES, 0)),
            received_bytes=sizes.get(name, 0),
            process_errors=process.get(name, 0),
        )
        for name in sorted(counts.keys() | process.keys())
    )
