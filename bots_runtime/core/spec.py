"""What to run and how to stop, restart and check it, as plain frozen data.

A `ServiceSpec` is the only thing the supervisor knows about a service. The Bots catalogue and
the generic `run` command both produce one; the supervisor never asks which service it runs.
Nothing here imports the event loop or the HTTP stack, so a spec is built before the child is
spawned.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from bots_runtime.core.exit_codes import ExitStatus

DEFAULT_STOP_TIMEOUT = 20.0


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
    """Send `signal` `at` seconds into the stop (after the drain); resend every `repeat` s.

    With `before_deadline`, `at` counts back from the SIGKILL deadline instead, so the step
    keeps its distance when the stop timeout changes: "let the engine run, SIGINT 5 s before
    the end" stays true for any `--stop-timeout`.
    """

    at: float
    signal: signal.Signals
    repeat: float | None = None
    before_deadline: bool = False

    def offset(self, timeout: float) -> float:
        """Seconds after the drain at which the step is first sent."""
        return max(0.0, timeout - self.at) if self.before_deadline else self.at


@dataclass(frozen=True, slots=True)
class StopPlan:
    """The graceful stop as data: drain, signal steps, then SIGKILL at `timeout`.

    `to_group` sends the steps to the child's whole process group (dumb-init's default);
    without it only the main child is signalled and the rest of its tree is handled as
    leftovers: waited for, sent `leftover_signal` `leftover_margin` seconds before the
    deadline, then killed. Bots' webserver needs that so an engine it started can finish.

    A second stop signal means "stop waiting". With an `abort_signal` it skips the waiting,
    not the clean-up: the abort signal goes out at once (resent every `abort_repeat` s), the
    deadline moves to `abort_timeout` s from then at the latest, leftovers get their signal
    at once, and only a third stop signal kills everything at once. Without one (tini's and
    gunicorn's way, and the generic `run`'s) the second signal kills everything at once.
    """

    steps: tuple[StopStep, ...]
    timeout: float = DEFAULT_STOP_TIMEOUT
    drain_delay: float = 0.0
    to_group: bool = True
    leftover_signal: signal.Signals = signal.SIGTERM
    leftover_margin: float = 5.0
    abort_signal: signal.Signals | None = None
    abort_timeout: float = 5.0
    abort_repeat: float | None = 2.0

    @property
    def budget(self) -> float:
        """Seconds from SIGTERM to everything gone: what a pod's grace period must cover."""
        return self.drain_delay + self.timeout

    def schedule(self) -> list[tuple[float, int]]:
        """Every (offset after the drain, signal) sent before the deadline, in time order."""
        out: list[tuple[float, int]] = []
        for step in self.steps:
            at = step.offset(self.timeout)
            out.append((at, int(step.signal)))
            if step.repeat:
                at += step.repeat
                while at < self.timeout:
                    out.append((at, int(step.signal)))
                    at += step.repeat
        out.sort(key=lambda item: item[0])
        return [item for item in out if item[0] < self.timeout]


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


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """Everything needed to run one service under the supervisor.

    `argv[0]` is resolved on the child's PATH. `env` is the child's complete environment.
    `lock_path`, when set, is a file the runtime locks exclusively (fcntl, NFS-safe) before
    the child starts; when another run holds it, nothing starts and the exit code is 75.
    `ports` are the service's own ports, which the health server must not share.
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
    ports: Mapping[str, int] = field(default_factory=dict)
    after_run: tuple[AfterRun, ...] = ()


def command(argv: Sequence[str], env: Mapping[str, str]) -> ServiceSpec:
    """Any command under tini/dumb-init semantics: SIGTERM to the group, 20 s, no restart."""
    return ServiceSpec(
        name="run",
        argv=tuple(argv),
        env=env,
        stop=StopPlan(steps=(StopStep(at=0.0, signal=signal.SIGTERM),)),
    )
