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
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from bots_runtime.core.hooks import AfterRun, BeforeSpawn, CollectorSpec, StartGate

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


class CheckSkippedError(Exception):
    """A probe's way of saying "I cannot tell, because ..." (a driver is missing, say).

    It is its own state, shown as `not checked`: never a pass, and not a failure that would
    take a healthy service out of traffic.
    """


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """A named check, how often it runs and which endpoint it feeds.

    `failure_threshold` consecutive failures are needed before the check counts as failed,
    so one slow answer does not flap readiness (the kubelet's own default is 3). `warning` is
    a caveat found when the spec was built (a watched folder on NFS): shown next to the
    passing line and by `bots-runtime check`, it never fails the check.
    """

    name: str
    probe: Probe
    level: Level = Level.READINESS
    interval: float = 5.0
    timeout: float = 2.0
    failure_threshold: int = 1
    description: str = ""
    warning: str = ""


class StopTarget(enum.Enum):
    """Who a stop step signals: the main child, its whole process group, or the group's rest.

    `REST` is every process in the child's group except the child itself: what a server
    started and still waits for (an engine run from the Bots GUI) while the server finishes.
    """

    CHILD = "child"
    GROUP = "group"
    REST = "rest"


@dataclass(frozen=True, slots=True)
class StopStep:
    """Send `signal` `at` seconds into the stop (after the drain); resend every `repeat` s.

    With `before_deadline`, `at` counts back from the SIGKILL deadline instead, so the step
    keeps its distance when the stop timeout changes: "let the engine run, SIGINT 5 s before
    the end" stays true for any `--stop-timeout`. `target` None follows the plan's `to_group`.
    """

    at: float
    signal: signal.Signals
    repeat: float | None = None
    before_deadline: bool = False
    target: StopTarget | None = None

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
        return [(at, signum) for at, signum, _target in self.timeline()]

    def timeline(self) -> list[tuple[float, int, StopTarget]]:
        """Every (offset after the drain, signal, target) sent before the deadline, in order."""
        default = StopTarget.GROUP if self.to_group else StopTarget.CHILD
        out: list[tuple[float, int, StopTarget]] = []
        for step in self.steps:
            target = step.target or default
            at = step.offset(self.timeout)
            out.append((at, int(step.signal), target))
            if step.repeat:
                at += step.repeat
                while at < self.timeout:
                    out.append((at, int(step.signal), target))
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


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """Everything needed to run one service under the supervisor.

    `argv[0]` is resolved on the child's PATH. `env` is the child's complete environment.
    `lock_path`, when set, is a file the runtime locks exclusively (fcntl, NFS-safe) before
    the child starts; when another run holds it, nothing starts and the exit code is 75.
    `start_gates` are waited for before that; one that gives up means exit 78. `before_spawn`
    hooks run once, just before the first child is spawned; the after-run hooks they return
    run before `after_run`. `collectors` feed `/metrics` in the background. `cwd`, when
    set, becomes the runtime's working directory just before the first spawn (posix_spawn has
    no chdir of its own), so the child and every restart start there. `ports` are
    the service's own ports, which the health server must not share. `info` describes what
    runs (e.g. the Bots version) for `check` and the build_info metric; `warnings` are
    logged once when the runtime starts.
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
    start_gates: tuple[StartGate, ...] = ()
    cwd: str | None = None
    ports: Mapping[str, int] = field(default_factory=dict)
    after_run: tuple[AfterRun, ...] = ()
    before_spawn: tuple[BeforeSpawn, ...] = ()
    collectors: tuple[CollectorSpec, ...] = ()
    info: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def command(argv: Sequence[str], env: Mapping[str, str]) -> ServiceSpec:
    """Any command under tini/dumb-init semantics: SIGTERM to the group, 20 s, no restart."""
    return ServiceSpec(
        name="run",
        argv=tuple(argv),
        env=env,
        stop=StopPlan(steps=(StopStep(at=0.0, signal=signal.SIGTERM),)),
    )
