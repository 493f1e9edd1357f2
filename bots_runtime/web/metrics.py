"""Prometheus metrics read from the supervisor's board at scrape time.

The registry belongs to one runtime instance (never the library's global one), and nothing
is updated on the hot path: a custom collector reads `board.snapshot`, `board.counters` and
the check runner when Prometheus asks. Counters come without `_created` series because this
collector never emits them, so no environment switch is needed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from bots_runtime.core import health
from bots_runtime.core.state import Phase
from bots_runtime.process.procfs import read_stat

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from prometheus_client.metrics_core import Metric

    from bots_runtime.core.hooks import GaugeFamily
    from bots_runtime.core.state import Board
    from bots_runtime.web.checks import CheckRunner
    from bots_runtime.web.collectors import CollectorRunner

PREFIX = "bots_runtime_"
CHILD_NAMESPACE = "bots_child"


def _counter(name: str, doc: str, label: str, values: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(PREFIX + name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


class RuntimeCollector(Collector):
    """The supervisor's picture as metrics, computed when scraped."""

    def __init__(
        self,
        board: Board,
        runner: CheckRunner,
        *,
        version: str,
        service: str,
        info: Mapping[str, str] | None = None,
        connections: Callable[[], int] | None = None,
    ) -> None:
        self._board = board
        self._runner = runner
        self._version = version
        self._service = service
        self._info = dict(sorted((info or {}).items()))
        self._connections = connections

    def collect(self) -> Iterable[Metric]:
        """Yield every runtime metric family."""
        snap = self._board.snapshot
        counters = self._board.counters
        info = GaugeMetricFamily(
            PREFIX + "build_info",
            "bots-runtime version, the service it runs and what that is (e.g. bots_version);"
            " always 1.",
            labels=["version", "service", *self._info],
        )
        info.add_metric([self._version, self._service, *self._info.values()], 1)
        yield info
        state = GaugeMetricFamily(
            PREFIX + "child_state",
            "Phase of the child (state set: 1 for the current phase, 0 for the others).",
            labels=["state"],
        )
        for phase in Phase:
            state.add_metric([phase.value], 1 if snap.phase is phase else 0)
        yield state
        yield _gauge("child_up", "1 while a child process exists.", 1 if snap.alive else 0)
        yield CounterMetricFamily(
            PREFIX + "child_starts", "Child processes spawned.", value=snap.starts
        )
        yield CounterMetricFamily(
            PREFIX + "child_restarts", "Restarts after the child exited.", value=snap.restarts
        )
        yield _gauge(
            "child_quick_failures",
            "Consecutive exits before min-uptime; at the restart budget the runtime gives up.",
            snap.quick_failures,
        )
        yield from self._last_exit()
        if snap.started_at is not None:
            yield _gauge(
                "child_start_time_seconds",
                "Unix time the current or last child was spawned.",
                snap.started_at,
            )
        yield from self._checks()
        ready = health.evaluate(
            "readyz",
            snap,
            self._runner.results(),
            self._runner.specs,
            now=time.monotonic(),
            liveness_threshold=0.0,
        ).ok
        yield _gauge("ready", "1 when /readyz answers 200.", 1 if ready else 0)
        yield _gauge("draining", "1 once a stop began and readiness fails.", int(snap.draining))
        if self._connections is not None:
            yield _gauge(
                "http_connections",
                "Open client connections to the health and metrics server.",
                self._connections(),
            )
        yield _counter(
            "signals_forwarded",
            "Signals forwarded to the child, by signal name.",
            "signal",
            counters.signals_forwarded,
        )
        yield _counter("log_lines", "Lines relayed from the child.", "stream", counters.lines)
        yield _counter("log_bytes", "Bytes relayed from the child.", "stream", counters.bytes)
        yield _counter(
            "log_lines_split",
            "Over-long lines relayed in several pieces.",
            "stream",
            counters.lines_split,
        )
        yield CounterMetricFamily(
            PREFIX + "orphans_reaped",
            "Orphaned processes reaped by the runtime as PID 1.",
            value=counters.orphans_reaped,
        )
        yield from self._outputs()

    def _outputs(self) -> Iterable[Metric]:
        """The runtime's own stdout and stderr: a reader that stopped shows here."""
        flows = self._board.counters.outputs
        now = time.monotonic()
        waiting = GaugeMetricFamily(
            PREFIX + "output_waiting_bytes",
            "Bytes queued for our stdout or stderr and not yet written.",
            labels=["output"],
        )
        events = GaugeMetricFamily(
            PREFIX + "output_waiting_events",
            "Runtime events queued for our stdout or stderr and not yet written.",
            labels=["output"],
        )
        blocked = GaugeMetricFamily(
            PREFIX + "output_blocked_seconds",
            "How long the write in progress to our stdout or stderr has waited for its reader"
            " (0 when nothing is being written).",
            labels=["output"],
        )
        dropped = CounterMetricFamily(
            PREFIX + "log_events_dropped",
            "Runtime events dropped because our output was not read and its queue was full.",
            labels=["output"],
        )
        for name, flow in sorted(flows.items()):
            waiting.add_metric([name], flow.waiting_bytes)
            events.add_metric([name], flow.waiting_events)
            blocked.add_metric([name], round(flow.blocked_for(now), 6))
            dropped.add_metric([name], flow.events_dropped)
        lines: dict[str, int] = {"stdout": 0, "stderr": 0}
        for flow in flows.values():
            for stream, count in flow.lines_dropped.items():
                lines[stream] = lines.get(stream, 0) + count
        yield waiting
        yield events
        yield blocked
        yield dropped
        yield _counter(
            "log_lines_dropped",
            "Child lines dropped because our output was not read (--child-logs-full drop,"
            " or a stop waiting for a stalled output).",
            "stream",
            lines,
        )

    def _last_exit(self) -> Iterable[Metric]:
        last = self._board.snapshot.last_exit
        if last is None:
            return
        yield _gauge(
            "child_last_exit_code",
            "Shell exit code of the last child exit (128+N when killed by signal N).",
            last.shell_code,
        )
        reason = GaugeMetricFamily(
            PREFIX + "child_last_exit_info",
            "How the last child ended: exited on its own or killed by a signal; always 1.",
            labels=["reason"],
        )
        reason.add_metric([last.reason], 1)
        yield reason

    def _checks(self) -> Iterable[Metric]:
        results = self._runner.results()
        status = GaugeMetricFamily(
            PREFIX + "check_status",
            "1 when the check passes (after its failure threshold), 0 when failing, not run"
            " or not checked (the probe could not tell, e.g. no database driver).",
            labels=["check"],
        )
        failures = CounterMetricFamily(
            PREFIX + "check_failures", "Failed runs of the check.", labels=["check"]
        )
        durations = HistogramMetricFamily(
            PREFIX + "check_duration_seconds", "Time one run of the check took.", labels=["check"]
        )
        for spec in self._runner.specs:
            result = results.get(spec.name)
            passes = result is not None and result.ok and result.checked
            status.add_metric([spec.name], 1 if passes else 0)
            failures.add_metric([spec.name], self._runner.failures_total[spec.name])
            histogram = self._runner.durations[spec.name]
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(histogram.bounds, histogram.counts, strict=False):
                cumulative += count
                buckets.append((repr(float(bound)), cumulative))
            buckets.append(("+Inf", histogram.count))
            durations.add_metric([spec.name], buckets, histogram.total)
        yield status
        yield failures
        yield durations


class ChildProcessCollector(Collector):
    """CPU, memory, fds and threads of the current child, following it across restarts.

    Yields nothing while there is no child. Only the main child is measured, not processes
    it started itself (the Bots webserver's engine runs, for example).
    """

    def __init__(self, pid: Callable[[], int | None], proc: str = "/proc") -> None:
        self._pid = pid
        self._proc = proc
        self._current: int | None = None
        self._inner = ProcessCollector(
            namespace=CHILD_NAMESPACE, pid=self._current_pid, proc=proc, registry=None
        )

    def _current_pid(self) -> int:
        return self._current if self._current is not None else -1

    def collect(self) -> Iterable[Metric]:
        """Yield the child's process metrics, or nothing."""
        pid = self._pid()
        if pid is None:
            return []
        self._current = pid
        families = list(self._inner.collect())
        threads = self._threads(pid)
        if threads is not None:
            families.append(
                GaugeMetricFamily(
                    CHILD_NAMESPACE + "_process_threads",
                    "Number of OS threads in the child process.",
                    value=threads,
                )
            )
        return families

    def _threads(self, pid: int) -> int | None:
        stat = read_stat(pid, self._proc)
        return None if stat is None else stat.threads


class GatheredCollector(Collector):
    """The background collectors' latest readings, and whether each reading worked."""

    def __init__(self, runner: CollectorRunner) -> None:
        self._runner = runner

    def collect(self) -> Iterable[Metric]:
        """Yield each collector's gauges (none while it fails) and its own health."""
        label = ["collector"]
        up = GaugeMetricFamily(
            PREFIX + "collector_up", "1 when the collector's last reading worked.", labels=label
        )
        failures = CounterMetricFamily(
            PREFIX + "collector_failures", "Readings that failed or timed out.", labels=label
        )
        duration = GaugeMetricFamily(
            PREFIX + "collector_duration_seconds", "How long the last reading took.", labels=label
        )
        success = GaugeMetricFamily(
            PREFIX + "collector_last_success_timestamp_seconds",
            "Unix time of the collector's last reading that worked.",
            labels=label,
        )
        for spec in self._runner.specs:
            reading = self._runner.readings.get(spec.name)
            ok = reading is not None and reading.ok
            up.add_metric([spec.name], 1 if ok else 0)
            failures.add_metric([spec.name], self._runner.failures_total[spec.name])
            if reading is not None:
                duration.add_metric([spec.name], reading.duration)
                if reading.ok:
                    yield from (_gauge_family(data) for data in reading.families)
            if spec.name in self._runner.last_success:
                success.add_metric([spec.name], self._runner.last_success[spec.name])
        yield from (up, failures, duration, success)


def _gauge_family(data: GaugeFamily) -> GaugeMetricFamily:
    family = GaugeMetricFamily(data.name, data.documentation, labels=list(data.labels))
    for labels, value in data.samples:
        family.add_metric(list(labels), value)
    return family


def build_registry(
    board: Board,
    runner: CheckRunner,
    *,
    version: str,
    service: str,
    info: Mapping[str, str] | None = None,
    child_pid: Callable[[], int | None] | None = None,
    connections: Callable[[], int] | None = None,
    collectors: CollectorRunner | None = None,
) -> CollectorRegistry:
    """A fresh registry for one runtime: its own metrics, its process and its child's.

    The runtime's own process metrics use the standard `process_` names that dashboards
    expect; the child's use `bots_child_process_`. `collectors` adds the service's background
    collectors (the Bots webserver's EDI gauges, for example).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        RuntimeCollector(
            board, runner, version=version, service=service, info=info, connections=connections
        )
    )
    ProcessCollector(registry=registry)
    registry.register(ChildProcessCollector(child_pid or (lambda: board.snapshot.pid)))
    if collectors is not None and collectors.specs:
        registry.register(GatheredCollector(collectors))
    return registry
