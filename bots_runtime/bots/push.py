"""Push the outcome of one bots-engine run to a Prometheus Pushgateway.

An engine run is a service-level batch job, the one case the Prometheus documentation ("When
to use the Pushgateway") recommends pushing for. Groups have no `instance` label: a run's
result must not disappear with the pod that ran it, and each pod would otherwise leave a
group behind forever.

Two groups, pushed with different methods on purpose:

- `job="bots_engine"`, POST (`pushadd`): the run's exit code, start and duration. POST
  replaces only the metrics pushed, so a failed run keeps the last success time (and the time
  of the last crash recovery) of the runs before it.
- `job="bots_engine_report"`, PUT: what Bots reported for the run, per command type and per
  route. PUT replaces the whole group, which is what "the last run" needs: the Pushgateway
  drops a metric family without samples from a POST, so a route (or a command type) absent
  from this run would otherwise keep the previous run's numbers for ever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway
from prometheus_client.exposition import push_to_gateway

from bots_runtime.bots.outcomes import STATES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from bots_runtime.bots.outcomes import Command, RunOutcome

JOB = "bots_engine"
REPORT_JOB = "bots_engine_report"
PUSH_TIMEOUT = 5.0
_RUN = "bots_engine_last_run_"


class PushError(Exception):
    """The gateway did not take the metrics; the runtime logs it and the run's code stands."""


def engine_run_registry(
    *, started_at: float, duration: float, exit_code: int, crash_recovery: bool = False
) -> CollectorRegistry:
    """A fresh registry holding one run's gauges (the success time only after exit code 0)."""
    registry = CollectorRegistry(auto_describe=True)
    gauges = (
        (
            "bots_engine_last_run_timestamp_seconds",
            "Unix time the last engine run started.",
            started_at,
        ),
        ("bots_engine_last_run_duration_seconds", "Seconds the last engine run took.", duration),
        (
            "bots_engine_last_exit_code",
            "Exit code of the last engine run (shell convention).",
            exit_code,
        ),
    )
    for name, documentation, value in gauges:
        Gauge(name, documentation, registry=registry).set(value)
    if exit_code == 0:
        Gauge(
            "bots_engine_last_success_timestamp_seconds",
            "Unix time the last successful engine run ended.",
            registry=registry,
        ).set(started_at + duration)
    if crash_recovery:
        Gauge(
            "bots_engine_last_crash_recovery_timestamp_seconds",
            "Unix time the last engine run with a crash recovery started.",
            registry=registry,
        ).set(started_at)
    return registry


def _gauge(
    registry: CollectorRegistry,
    name: str,
    documentation: str,
    labels: tuple[str, ...],
    samples: Iterable[tuple[tuple[str, ...], float]],
) -> None:
    gauge = Gauge(name, documentation, labelnames=labels, registry=registry)
    for values, value in samples:
        (gauge.labels(*values) if labels else gauge).set(value)


def outcome_registry(outcome: RunOutcome | None) -> CollectorRegistry:
    """The gauges of Bots' report of one run; only `..._outcome_known 0` when it is unknown."""
    registry = CollectorRegistry(auto_describe=True)
    _gauge(
        registry,
        _RUN + "outcome_known",
        "1 when Bots' report of the last engine run was read; 0: the database could not be read.",
        (),
        [((), 1.0 if outcome is not None else 0.0)],
    )
    if outcome is None:
        return registry
    _gauge(
        registry,
        _RUN + "crash_recovery",
        "1 when the last engine run recovered an earlier run that died (a crashrecovery command).",
        (),
        [((), 1.0 if outcome.crash_recovery else 0.0)],
    )
    by_type = sorted(outcome.by_type().items())
    per_type: tuple[tuple[str, str, Callable[[Command], float]], ...] = (
        ("commands", "Commands the last engine run wrote a report row for.", lambda c: c.count),
        ("commands_failed", "Commands that had errors (report.status).", lambda c: c.failures),
        ("files_received", "Files received (report.lastreceived).", lambda c: c.received),
        ("files_sent", "Files sent (report.send).", lambda c: c.sent),
        ("process_errors", "Process errors (report.processerrors).", lambda c: c.process_errors),
        (
            "received_bytes",
            "Bytes of the incoming files (report.filesize).",
            lambda c: c.received_bytes,
        ),
    )
    for name, documentation, value in per_type:
        _gauge(
            registry,
            _RUN + name,
            documentation + " By engine command type.",
            ("type",),
            [((kind,), value(command)) for kind, command in by_type],
        )
    _gauge(
        registry,
        _RUN + "files",
        "Files by how they ended: done, error, stuck (report.lastok), open. By command type.",
        ("type", "status"),
        [
            ((kind, state), command.files.get(state, 0))
            for kind, command in by_type
            for state in STATES
        ],
    )
    _route_gauges(registry, outcome)
    return registry


def _route_gauges(registry: CollectorRegistry, outcome: RunOutcome) -> None:
    routes = outcome.routes
    _gauge(
        registry,
        _RUN + "route_files",
        "Files of the last engine run per route and how they ended (filereport.statust).",
        ("route", "status"),
        [
            ((route.route, state), route.files.get(state, 0))
            for route in routes
            for state in sorted(route.files.keys() | set(STATES))
        ],
    )
    _gauge(
        registry,
        _RUN + "route_received_bytes",
        "Bytes of the incoming files per route (filereport.filesize).",
        ("route",),
        [((route.route,), route.received_bytes) for route in routes],
    )
    _gauge(
        registry,
        _RUN + "route_process_errors",
        "Process errors per route (ta rows with status PROCESS and statust ERROR).",
        ("route",),
        [((route.route,), route.process_errors) for route in routes],
    )


def _push(url: str, what: Callable[[], None]) -> None:
    try:
        what()
    except Exception as exc:  # urllib raises many kinds; all mean "not pushed"
        text = " ".join(str(exc).split()) or type(exc).__name__
        msg = f"push to {url} failed: {text}"
        raise PushError(msg) from exc


def push_engine_run(
    url: str,
    *,
    started_at: float,
    duration: float,
    exit_code: int,
    timeout: float = PUSH_TIMEOUT,
    crash_recovery: bool = False,
) -> None:
    """POST one run's metrics to the gateway at `url`; raise `PushError` if that fails."""
    registry = engine_run_registry(
        started_at=started_at,
        duration=duration,
        exit_code=exit_code,
        crash_recovery=crash_recovery,
    )
    _push(url, lambda: pushadd_to_gateway(url, job=JOB, registry=registry, timeout=timeout))


def push_outcome(url: str, outcome: RunOutcome | None, *, timeout: float = PUSH_TIMEOUT) -> None:
    """PUT Bots' report of one run as the whole `bots_engine_report` group; `PushError`."""
    registry = outcome_registry(outcome)
    _push(url, lambda: push_to_gateway(url, job=REPORT_JOB, registry=registry, timeout=timeout))
