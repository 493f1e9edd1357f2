"""Engine runs pushed to a real Prometheus Pushgateway, grouped as a service-level batch job."""

from __future__ import annotations

import time
import urllib.request
from typing import TYPE_CHECKING

import pytest

from bots_runtime.bots import push
from tests.bots.kit import PUSHGATEWAY, BotsDir, StartRuntime
from tests.support import free_port

if TYPE_CHECKING:
    pass

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.skipif(PUSHGATEWAY is None, reason="prometheus-pushgateway is not installed"),
]


def scrape(url: str) -> dict[str, float]:
    """The gateway's bots_engine_* samples, keyed by the sample line without its value."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as reply:
        body = reply.read().decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("bots_engine_")
    }


def key(name: str) -> str:
    return f'{name}{{instance="",job="bots_engine"}}'


class TestPush:
    def test_success_run(self, gateway: str) -> None:
        """A run with exit 0 pushes all four gauges under job="bots_engine", no instance."""
        push.push_engine_run(gateway, started_at=1000.0, duration=2.5, exit_code=0)
        samples = scrape(gateway)
        assert samples[key("bots_engine_last_run_timestamp_seconds")] == 1000.0
        assert samples[key("bots_engine_last_run_duration_seconds")] == 2.5
        assert samples[key("bots_engine_last_exit_code")] == 0.0
        assert samples[key("bots_engine_last_success_timestamp_seconds")] == 1002.5

    def test_failed_run_keeps_last_success(self, gateway: str) -> None:
        """A failed run updates the run gauges but not the last success time."""
        push.push_engine_run(gateway, started_at=1000.0, duration=1.0, exit_code=0)
        push.push_engine_run(gateway, started_at=2000.0, duration=3.0, exit_code=2)
        samples = scrape(gateway)
        assert samples[key("bots_engine_last_exit_code")] == 2.0
        assert samples[key("bots_engine_last_run_timestamp_seconds")] == 2000.0
        assert samples[key("bots_engine_last_success_timestamp_seconds")] == 1001.0

    def test_unreachable_gateway_raises_quickly(self) -> None:
        """No gateway listening: PushError naming the URL, within the timeout."""
        url = f"http://127.0.0.1:{free_port()}"
        begun = time.monotonic()
        with pytest.raises(push.PushError, match=f"push to {url} failed"):
            push.push_engine_run(url, started_at=1.0, duration=1.0, exit_code=0, timeout=2.0)
        assert time.monotonic() - begun < 3.0


@pytest.mark.bots
class TestEngineRunPushed:
    def test_cli_engine_run_pushed(
        self, gateway: str, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """`bots-runtime --pushgateway URL engine` pushes the real run's outcome at the end."""
        before = time.time()
        runtime = run_runtime(["--pushgateway", gateway, "engine"], bots_dir.env())
        assert runtime.wait(30) == 0, runtime.output()
        samples = scrape(gateway)
        assert samples[key("bots_engine_last_exit_code")] == 0.0
        started = samples[key("bots_engine_last_run_timestamp_seconds")]
        assert before - 1 <= started <= time.time()
        assert 0 < samples[key("bots_engine_last_run_duration_seconds")] < 30

    def test_gateway_down_does_not_fail_the_run(
        self, run_runtime: StartRuntime, bots_dir: BotsDir
    ) -> None:
        """An unreachable gateway is one warning; the runtime still exits with Bots' code."""
        url = f"http://127.0.0.1:{free_port()}"
        runtime = run_runtime(["--pushgateway", url, "engine"], bots_dir.env())
        assert runtime.wait(30) == 0
        assert runtime.find("pushgateway push failed", level="warning")
