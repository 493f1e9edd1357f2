"""Push the outcome of one bots-engine run to a Prometheus Pushgateway.

An engine run is a service-level batch job, the one case the Prometheus documentation ("When
to use the Pushgateway") recommends pushing for. The grouping key is `job="bots_engine"` only,
without an `instance` label: a run's result must not disappear with the pod that ran it, and
each pod would otherwise leave a group behind forever. `pushadd` (HTTP POST) replaces only the
metrics pushed, so a failed run keeps the last success time of the run before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

if TYPE_CHECKING:
    from bots_runtime.core.spec import EventLog, RunRecord

JOB = "bots_engine"
PUSH_TIMEOUT = 5.0


class PushError(Exception):
    """The gateway did not take the metrics; the runtime logs it and the run's code stands."""


def engine_run_registry(*, started_at: float, duration: float, exit_code: int) -> CollectorRegistry:
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
    return registry


def push_engine_run(
    url: str, *, started_at: float, duration: float, exit_code: int, timeout: float = 5.0
) -> None:
    """POST one run's metrics to the gateway at `url`; raise `PushError` if that fails."""
    registry = engine_run_registry(started_at=started_at, duration=duration, exit_code=exit_code)
    try:
        pushadd_to_gateway(url, job=JOB, registry=registry, timeout=timeout)
    except Exception as exc:  # urllib raises many kinds; all mean "not pushed"
        text = " ".join(str(exc).split()) or type(exc).__name__
        msg = f"push to {url} failed: {text}"
        raise PushError(msg) from exc


@dataclass(frozen=True, slots=True)
class EngineRunPush:
    """The engine's after-run hook: push the run's outcome; a failure is one warning line."""

    url: str
    timeout: float = PUSH_TIMEOUT + 1.0

    async def __call__(self, run: RunRecord, log: EventLog) -> None:
        """Push in a worker thread (urllib blocks); the run's exit code stands either way."""
        import anyio.to_thread  # noqa: PLC0415 - the event loop is running by now

        started = run.started_at if run.started_at is not None else run.ended_at
        try:
            await anyio.to_thread.run_sync(
                lambda: push_engine_run(
                    self.url,
                    started_at=started,
                    duration=max(0.0, run.ended_at - started),
                    exit_code=run.exit_code,
                    timeout=PUSH_TIMEOUT,
                ),
                abandon_on_cancel=True,
            )
        except PushError as err:
            log.warning("pushgateway push failed", url=self.url, error=str(err))
        else:
            log.info("pushed engine run metrics", url=self.url, code=run.exit_code)
