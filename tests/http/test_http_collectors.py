"""Background collectors: read on their own schedule, served from memory, never stale."""

from __future__ import annotations

import anyio
import pytest
from prometheus_client import generate_latest

from bots_runtime.core.hooks import CollectorSpec, GaugeFamily
from bots_runtime.core.state import Board, Snapshot
from bots_runtime.web.checks import CheckRunner
from bots_runtime.web.collectors import CollectorRunner
from bots_runtime.web.metrics import build_registry

pytestmark = pytest.mark.anyio

FILES = GaugeFamily(
    "demo_files",
    "Files by route.",
    labels=("route", "status"),
    samples=((("in", "error"), 2.0), (("out", "done"), 5.0)),
)
PLAIN = GaugeFamily("demo_up", "A gauge without labels.", samples=(((), 1.0),))


class Source:
    """A reader that returns, raises or hangs as the test says, and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail: str | None = None
        self.hang = False

    async def __call__(self) -> tuple[GaugeFamily, ...]:
        self.calls += 1
        if self.hang:
            await anyio.sleep(30)
        if self.fail is not None:
            raise RuntimeError(self.fail)
        return (FILES, PLAIN)


def registry_for(runner: CollectorRunner) -> str:
    board = Board(Snapshot(service="demo"))
    registry = build_registry(
        board, CheckRunner(()), version="t", service="demo", collectors=runner
    )
    return generate_latest(registry).decode()


class TestCollectorRunner:
    async def test_reading_is_served(self) -> None:
        """After one reading, /metrics has its gauges and collector_up 1."""
        runner = CollectorRunner([CollectorSpec("demo", Source())])
        await runner.run_once(runner.specs[0])
        text = registry_for(runner)
        assert 'demo_files{route="in",status="error"} 2.0' in text
        assert "demo_up 1.0" in text
        assert 'bots_runtime_collector_up{collector="demo"} 1.0' in text
        assert 'bots_runtime_collector_failures_total{collector="demo"} 0.0' in text
        assert 'bots_runtime_collector_last_success_timestamp_seconds{collector="demo"}' in text

    async def test_nothing_before_the_first_reading(self) -> None:
        """Before any reading: up 0, no gauges, no duration yet."""
        runner = CollectorRunner([CollectorSpec("demo", Source())])
        text = registry_for(runner)
        assert 'bots_runtime_collector_up{collector="demo"} 0.0' in text
        assert "demo_files" not in text
        assert 'bots_runtime_collector_duration_seconds{collector="demo"}' not in text

    async def test_failure_drops_the_gauges(self) -> None:
        """A failing reading: its gauges go away (never stale), up 0, one failure counted,
        and the change is reported once with the reason; the recovery is reported too."""
        source = Source()
        changes: list[tuple[str, bool, str]] = []
        runner = CollectorRunner(
            [CollectorSpec("demo", source)], lambda *change: changes.append(change)
        )
        spec = runner.specs[0]
        await runner.run_once(spec)
        assert changes == []
        source.fail = "database is locked"
        await runner.run_once(spec)
        await runner.run_once(spec)
        text = registry_for(runner)
        assert "demo_files" not in text
        assert 'bots_runtime_collector_up{collector="demo"} 0.0' in text
        assert 'bots_runtime_collector_failures_total{collector="demo"} 2.0' in text
        assert changes == [("demo", False, "database is locked")]
        source.fail = None
        await runner.run_once(spec)
        assert changes[-1] == ("demo", True, "")
        assert "demo_files" in registry_for(runner)

    async def test_hung_reader_times_out(self) -> None:
        """A reader that does not answer fails at its timeout, not later."""
        source = Source()
        source.hang = True
        runner = CollectorRunner([CollectorSpec("demo", source, timeout=0.2)])
        with anyio.fail_after(5):
            reading = await runner.run_once(runner.specs[0])
        assert not reading.ok
        assert reading.detail == "timed out after 0.2s"
        assert 0.15 < reading.duration < 2

    async def test_runs_on_its_interval(self) -> None:
        """The loop reads again every interval until cancelled."""
        source = Source()
        runner = CollectorRunner([CollectorSpec("demo", source, interval=0.05)])
        with anyio.move_on_after(0.5):
            await runner.run()
        assert 4 <= source.calls <= 12

    def test_names_are_unique(self) -> None:
        """Two collectors with one name are refused."""
        with pytest.raises(ValueError, match="unique"):
            CollectorRunner([CollectorSpec("a", Source()), CollectorSpec("a", Source())])

    async def test_no_collectors_no_metrics(self) -> None:
        """A service without collectors exports no collector metrics at all."""
        assert "collector_up" not in registry_for(CollectorRunner([]))
