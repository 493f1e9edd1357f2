"""What to run and how to stop, restart and check it, as plain frozen data.

A `ServiceSpec` is the only thing the supervisor knows about a service. The Bots catalogue
(`services.py`) and the generic `run` command both produce one; the supervisor never asks which
service it runs. Nothing here imports the event loop or the HTTP stack, so a spec can be built
before the child is spawned.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping


class RestartPolicy(enum.Enum):
    """When a child that exited on its own is started again."""

    NEVER = "never"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


class Level(enum.Flag):
    """Which endpoint a check feeds: liveness (`/healthz`), readiness (`/readyz`) or both."""

    LIVENESS = enum.auto()
    READINESS = enum.auto()
    BOTH = LIVENESS | READINESS


class Probe(Protocol):
    """One health check's action: return a short detail when healthy, raise when not.

    Probes are awaited by the check runner under its own timeout; a probe only needs to do
    the work and raise `CheckFailedError` (or any exception) with a reason.
    """

    async def __call__(self) -> str:
        """Run the check once."""
        ...


class CheckFailedError(Exception):
    """A probe's way of saying "unhealthy, because ..."."""


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """A named check, how often it runs and which endpoint it feeds.

    `failure_threshold` consecutive failures are needed before the check counts as failed,
    so one slow answer does not flap readiness (the kubelet's own default is 3).
    """

    name: str
    probe: Probe
    level: Level = Level.READINESS
    interval: float = 5.0
    timeout: float = 2.0
    failure_threshold: int = 1
    description: str = ""


@dataclass(frozen=True, slots=True)
class StopStep:
    """Send `signal` at `at` seconds after the stop began; resend every `repeat` seconds."""

    at: float
    signal: signal.Signals
    repeat: float | None = None


@dataclass(frozen=True, slots=True)
class StopPlan:
    """The graceful stop as data: drain, signal steps, then SIGKILL at `timeout`.

    `to_group` sends the steps to the child's whole process group (dumb-init's default);
    without it only the main child is signalled and the rest of its tree is handled as
    leftovers: waited for, sent `leftover_signal` `leftover_margin` seconds before the
    deadline, then killed. Bots' webserver needs that so an engine it started can finish.
    """

    steps: tuple[StopStep, ...]
    timeout: float = 20.0
    drain_delay: float = 0.0
    to_group: bool = True
    leftover_signal: signal.Signals = signal.SIGTERM
    leftover_margin: float = 5.0

    @property
    def budget(self) -> float:
        """Seconds from SIGTERM to everything gone: what a pod's grace period must cover."""
        return self.drain_delay + self.timeout


@dataclass(frozen=True, slots=True)
class RestartSpec:
    """Restart policy, back-off and when to give up (supervisord's model, monotonic clock)."""

    policy: RestartPolicy = RestartPolicy.NEVER
    max_restarts: int = 5
    backoff_initial: float = 0.5
    backoff_factor: float = 2.0
    backoff_max: float = 30.0
    jitter: float = 0.2
    start_period: float = 1.0
    min_uptime: float = 10.0


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """Everything needed to run one service under the supervisor.

    `argv[0]` is resolved on the child's PATH. `env` is the child's complete environment.
    `lock_path`, when set, is a file the runtime locks exclusively (fcntl, NFS-safe) before
    the child starts; `lock_busy_exit` is the code used when another holder has it.
    """

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    stop: StopPlan
    restart: RestartSpec = RestartSpec()
    checks: tuple[CheckSpec, ...] = ()
    success_codes: frozenset[int] = frozenset()
    signal_rewrite: Mapping[int, int] = field(default_factory=dict)
    exit_meanings: Mapping[int, str] = field(default_factory=dict)
    lock_path: str | None = None
    batch: bool = False
    ports: Mapping[str, int] = field(default_factory=dict)
