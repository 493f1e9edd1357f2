"""The child's life as a state machine, with one writer and many readers.

Phase names follow supervisord (STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL) so that
operators recognise them. `transition` is pure: it takes a snapshot, an event and the time and
returns the next snapshot plus what the supervisor should do. The supervisor is the only caller;
the HTTP side and the metrics only read `Board.snapshot`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bots_runtime import backoff
from bots_runtime.spec import RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    from bots_runtime.exit_codes import ExitStatus
    from bots_runtime.spec import RestartSpec


class Phase(enum.Enum):
    """Where the child is in its life."""

    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    EXITED = "exited"
    FATAL = "fatal"


ALIVE_PHASES = frozenset({Phase.STARTING, Phase.RUNNING, Phase.STOPPING})
FINAL_PHASES = frozenset({Phase.EXITED, Phase.FATAL})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A read-only picture of the child, published after every change.

    `since` is monotonic (for durations); `started_at` is wall-clock Unix time (for the
    `_start_time_seconds` metric, which Prometheus expects as a timestamp).
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
    stop_requested: bool = False
    backoff_until: float | None = None

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
        phase=Phase.STOPPING if snap.stop_requested else Phase.STARTING,
        pid=pid,
        starts=snap.starts + 1,
        started_at=wall,
        spawned_mono=now,
        since=now,
        backoff_until=None,
    )


def start_period_passed(snap: Snapshot, now: float) -> Snapshot:
    """The child stayed up for its start period: STARTING becomes RUNNING."""
    if snap.phase is not Phase.STARTING:
        return snap
    return replace(snap, phase=Phase.RUNNING, since=now)


def stop_requested(snap: Snapshot, now: float) -> Snapshot:
    """A stop began: readiness fails at once, the phase says STOPPING while a child lives."""
    if snap.stop_requested:
        return snap
    if snap.phase in FINAL_PHASES:
        return replace(snap, stop_requested=True, draining=True)
    phase = Phase.STOPPING if snap.alive else Phase.EXITED
    return replace(snap, stop_requested=True, draining=True, phase=phase, since=now)


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
    if snap.stop_requested:
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
            backoff_until=now + wait,
        ),
        Decision(restart=True, delay=wait),
    )


@dataclass(slots=True)
class Counters:
    """Monotonic counts kept by the one task that causes them, read at scrape time."""

    signals_forwarded: dict[str, int] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    bytes: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    lines_split: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    orphans_reaped: int = 0

    def count_signal(self, name: str) -> None:
        """One more `name` signal forwarded to the child."""
        self.signals_forwarded[name] = self.signals_forwarded.get(name, 0) + 1


class Board:
    """Holds the current snapshot: written by the supervisor only, read by everyone else."""

    __slots__ = ("_snapshot", "counters")

    def __init__(self, first: Snapshot) -> None:
        self._snapshot = first
        self.counters = Counters()

    @property
    def snapshot(self) -> Snapshot:
        """The latest published picture."""
        return self._snapshot

    def publish(self, snap: Snapshot) -> None:
        """Replace the picture (supervisor only)."""
        self._snapshot = snap
