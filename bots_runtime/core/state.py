"""The child's life as a state machine, with one writer and many readers.

Phase names follow supervisord (STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL) so that
operators recognise them. Each event of a child's life (`spawned`, `start_period_passed`,
`stop_began`, `exited`) is a pure function from a snapshot and the time to the next snapshot,
plus, for an exit, what the supervisor should do. The supervisor is the only caller and the
only publisher; the HTTP side and the metrics only read `Board.snapshot`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bots_runtime.core import backoff
from bots_runtime.core.spec import RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    from bots_runtime.core.exit_codes import ExitStatus
    from bots_runtime.core.spec import RestartSpec


class Phase(enum.Enum):
    """Where the child is in its life."""

    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    EXITED = "exited"
    FATAL = "fatal"


FINAL_PHASES = frozenset({Phase.EXITED, Phase.FATAL})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A read-only picture of the child, published after every change.

    `since` is monotonic (for durations); `started_at` is wall-clock Unix time (for the
    `_start_time_seconds` metric, which Prometheus expects as a timestamp). `draining` turns
    on when a stop begins and never off again: readiness fails from that moment.
    """

    service: str
    phase: Phase = Phase.STARTING
    pid: int | None = None
    starts: int = 0
    restarts: int = 0
    quick_failures: int = 0
    last_exit: ExitStatus | None = None
    started_at: float | None = None
    spawned_mono: float | None = None
    since: float = 0.0
    draining: bool = False

    @property
    def alive(self) -> bool:
        """True while a child process exists."""
        return self.pid is not None

    @property
    def running(self) -> bool:
        """Past its start-up period and not being stopped: the base of readiness."""
        return self.phase is Phase.RUNNING and not self.draining


@dataclass(frozen=True, slots=True)
class Decision:
    """What the supervisor does after a child exit."""

    restart: bool
    delay: float = 0.0
    give_up: bool = False


def spawned(snap: Snapshot, pid: int, now: float, wall: float) -> Snapshot:
    """A child process now exists."""
    return replace(
        snap,
        phase=Phase.STOPPING if snap.draining else Phase.STARTING,
        pid=pid,
        starts=snap.starts + 1,
        started_at=wall,
        spawned_mono=now,
        since=now,
    )


def start_period_passed(snap: Snapshot, now: float) -> Snapshot:
    """The child stayed up for its start period: STARTING becomes RUNNING."""
    if snap.phase is not Phase.STARTING:
        return snap
    return replace(snap, phase=Phase.RUNNING, since=now)


def stop_began(snap: Snapshot, now: float) -> Snapshot:
    """A stop began: readiness fails at once, the phase says STOPPING while a child lives."""
    if snap.draining:
        return snap
    if snap.phase in FINAL_PHASES:
        return replace(snap, draining=True)
    phase = Phase.STOPPING if snap.alive else Phase.EXITED
    return replace(snap, draining=True, phase=phase, since=now)


def exited(
    snap: Snapshot,
    status: ExitStatus,
    now: float,
    spec: RestartSpec,
    success_codes: frozenset[int],
    uniform: Callable[[float, float], float],
) -> tuple[Snapshot, Decision]:
    """The child ended with `status`: decide between restart, done and give up.

    A child that lived shorter than `min_uptime` is a quick failure; `max_restarts`
    consecutive quick failures mean FATAL, so the container exits and Kubernetes' own
    back-off takes over. A long-lived child resets the count.
    """
    uptime = now - (snap.spawned_mono if snap.spawned_mono is not None else now)
    base = replace(snap, pid=None, last_exit=status, since=now)
    if snap.draining:
        return replace(base, phase=Phase.EXITED), Decision(restart=False)
    failed = status.shell_code not in success_codes and status.shell_code != 0
    wants_restart = spec.policy is RestartPolicy.ALWAYS or (
        spec.policy is RestartPolicy.ON_FAILURE and failed
    )
    if not wants_restart:
        return replace(base, phase=Phase.EXITED), Decision(restart=False)
    quick = 0 if uptime >= spec.min_uptime else snap.quick_failures + 1
    if quick > spec.max_restarts:
        return (
            replace(base, phase=Phase.FATAL, quick_failures=quick),
            Decision(restart=False, give_up=True),
        )
    wait = backoff.delay(max(quick, 1), spec, uniform)
    return (
        replace(
            base,
            phase=Phase.BACKOFF,
            quick_failures=quick,
            restarts=snap.restarts + 1,
        ),
        Decision(restart=True, delay=wait),
    )


@dataclass(slots=True)
class OutputFlow:
    """One of the runtime's own outputs (stdout or stderr): what waits and what was dropped.

    Written only by that output, under its lock (from whichever thread hands it data, and
    from its writer thread); read without a lock at scrape time, where a value one write old
    is fine. `writing_since` is the monotonic time the write in progress began: a reader
    that stopped reading shows up as a write that never ends.
    """

    waiting_bytes: int = 0
    waiting_events: int = 0
    writing_since: float | None = None
    events_dropped: int = 0
    lines_dropped: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})

    def blocked_for(self, now: float) -> float:
        """Seconds the write in progress has been waiting for the reader (0 when idle)."""
        since = self.writing_since
        return 0.0 if since is None else max(0.0, now - since)


@dataclass(slots=True)
class Counters:
    """Monotonic counts kept by the one task that causes them, read at scrape time.

    `outputs` are the runtime's own stdout and stderr, each written by its `Output` alone.
    """

    signals_forwarded: dict[str, int] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    bytes: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    lines_split: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    orphans_reaped: int = 0
    outputs: dict[str, OutputFlow] = field(
        default_factory=lambda: {"stdout": OutputFlow(), "stderr": OutputFlow()}
    )

    def count_signal(self, name: str) -> None:
        """One more `name` signal forwarded to the child."""
        self.signals_forwarded[name] = self.signals_forwarded.get(name, 0) + 1


class Board:
    """The current snapshot and the counters: what the HTTP side and the metrics read.

    Only the supervisor publishes snapshots; each counter is bumped by the one task that
    causes it (the relay, the reaper, the signal forwarding), all on the event loop thread.
    """

    __slots__ = ("_snapshot", "counters")

    def __init__(self, first: Snapshot) -> None:
        self._snapshot = first
        self.counters = Counters()

    @property
    def snapshot(self) -> Snapshot:
        """The latest published picture."""
        return self._snapshot

    def publish(self, snap: Snapshot) -> None:
        """Replace the picture (the supervisor's job)."""
        self._snapshot = snap
