"""The hooks a service spec may carry: work before the spawn, after the run, in the background.

Their data classes live apart from `spec` on purpose: building a frozen dataclass costs about
1.5 ms here, and the generic `run` command, which carries no hooks, must start its child
without paying for them (exec to child is a benchmark target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bots_runtime.core.exit_codes import ExitStatus


class EventLog(Protocol):
    """The part of the runtime's logger a hook may use (structlog's bound logger fits)."""

    def info(self, event: str, *args: Any, **fields: Any) -> Any:
        """Log a normal event."""
        ...

    def warning(self, event: str, *args: Any, **fields: Any) -> Any:
        """Log a problem that does not change the outcome."""
        ...


@dataclass(frozen=True, slots=True)
class RunRecord:
    """How the service's run ended, handed to the after-run hooks."""

    service: str
    exit_code: int
    last_exit: ExitStatus | None
    started_at: float | None
    ended_at: float


class AfterRun(Protocol):
    """Work for when the service is done for good, such as a batch run's Pushgateway push.

    Hooks run after the child and its leftovers are gone, while the runtime still catches
    signals, each under `timeout` seconds; a hook reports its own problems in the log and
    never changes the exit code.
    """

    @property
    def timeout(self) -> float:
        """Seconds the hook may take before it is abandoned."""
        ...

    async def __call__(self, run: RunRecord, log: EventLog) -> None:
        """Do the work."""
        ...


class BeforeSpawn(Protocol):
    """Work just before the first spawn whose result only matters after the run.

    An engine run's outcome is "the rows Bots wrote after this point", so the point must be
    taken before the child exists. The hook runs before the event loop (stdlib-fast: a few
    milliseconds), must not raise, and returns the after-run hook that carries what it
    learned, including a failure to learn it, to report when the run is over.
    """

    def __call__(self) -> AfterRun:
        """Take the note and hand back the hook that will use it."""
        ...


@dataclass(frozen=True, slots=True)
class GaugeFamily:
    """One gauge metric family as plain data, so a reader needs no metrics library.

    `samples` pairs label values (in the order of `labels`) with a value.
    """

    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    samples: tuple[tuple[tuple[str, ...], float], ...] = ()


class GaugeReader(Protocol):
    """One background collector's action: read its source, return every gauge it exports."""

    async def __call__(self) -> tuple[GaugeFamily, ...]:
        """Read once; raise when the source cannot be read."""
        ...


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    """Gauges read from an outside source in the background, never on the scrape path.

    Like a check, a collector runs every `interval` seconds under `timeout`; a scrape only
    serves the latest successful reading, and nothing from it while the last one failed.
    """

    name: str
    reader: GaugeReader
    interval: float = 30.0
    timeout: float = 5.0
    description: str = ""


class StartGate(Protocol):
    """Something a service needs at the moment it starts, waited for before the spawn.

    Bots 4.0's dirmonitor asks the job queue `isup` first thing and exits 1 when nothing
    answers; starting it anyway would only be a crash loop. A gate blocks (briefly, bounded)
    until its need is met, or gives up with a one-line reason, and nothing is started.
    """

    @property
    def description(self) -> str:
        """What is waited for, for `check`."""
        ...

    def wait(self) -> str | None:
        """Block until met (None) or until the gate gives up (the reason)."""
        ...
